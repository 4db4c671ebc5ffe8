"""Passwords written as ``password: hunter2`` in text; the finding is the password alone.

A password inside a connection string is left to `connection_string`, which reports the whole
string (it scores higher, so it wins the overlap).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .._base import Finding, Recognizer
from .._context import Context


class LabelledPassword(Recognizer):
    entity = "password"
    trigger = r"(?i:pass|pwd|kennwort|contrase|mot de passe)"
    candidate = (
        r"(?<![\w-])(?i:password|passwd|passwort|passphrase|pwd|pass|kennwort|contraseña"
        r"|mot de passe|parola d'ordine)(?:\s+is)?\s*[:=]\s*\S{3,128}"
    )
    pattern = re.compile(
        r"(?i)(?:password|passwd|passwort|passphrase|pwd|pass|kennwort|contraseña|mot de passe"
        r"|parola d'ordine)(?:\s+is)?\s*[:=]\s*['\"]?(?P<value>[^\s'\"]{3,128})"
    )
    score = 0.9

    def valid(self, value: str) -> bool:
        # "password: ********" or "password=<redacted>" is already masked
        return not (set(value) <= set("*•x#-") or value.startswith(("<", "${", "{{", "%(")))


class PasswordColumnValue(Recognizer):
    """The whole value of a column named ``password``/``passwd``/``pwd``: hashes included.

    It is not a candidate shape (it would match every value); it runs on its own, and only
    looks at the column name before anything else.
    """

    entity = "password"
    combined = False
    candidate = r"\A\s*(?P<value>\S(?:[\s\S]{0,1022}\S)?)\s*\Z"
    columns = ("password*", "passwd", "pwd", "passphrase", "passwort", "kennwort")
    score = 0.95

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        if ctx.named(self.columns):
            yield from super().search(ctx, start, end)

"""Connection strings that carry a password: URLs (``postgres://u:p@h``), JDBC, ODBC/ADO, libpq.

A connection string without a password (``postgres://app@db/shop``) is configuration, not a
secret, and is not reported; one with a password is reported whole, since the host and user
around the password are what make it usable.
"""

from __future__ import annotations

from .._base import Recognizer

_CREDENTIAL_KEYS = r"(?:password|passwd|pwd|pass)"


class UrlWithPassword(Recognizer):
    """``scheme://user:password@host...``: postgres, mysql, mongodb+srv, redis, amqp, any."""

    entity = "connection_string"
    trigger = "://"
    candidate = (
        r"(?<![\w+.-])[A-Za-z][A-Za-z0-9+.\-]{1,30}://[^\s:/@'\"<>]{0,128}:[^\s@'\"<>/]{1,256}@"
        r"[^\s'\"<>]{1,512}"
    )
    score = 0.97

    def valid(self, value: str) -> bool:
        userinfo = value.split("://", 1)[1].split("@", 1)[0]
        password = userinfo.split(":", 1)[1]
        # "http://host:8080@..." is not a password, nor is a ${PLACEHOLDER}
        return not password.isdigit() and not password.startswith(("${", "{{", "%("))


class KeyValueConnection(Recognizer):
    """``jdbc:...?user=a&password=b``, ``Server=h;Uid=u;Pwd=p;``, ``host=h user=u password=p``."""

    entity = "connection_string"
    trigger = rf"(?i:{_CREDENTIAL_KEYS})\s*="
    candidate = (
        r"(?i:jdbc:[a-z0-9]+:[^\s'\"]{0,512}?[?;&]\s*"
        + _CREDENTIAL_KEYS
        + r"\s*=\s*[^\s&;'\"]{1,256}[^\s'\"]{0,512}"
        + r"|(?<![\w-])(?:[a-z][a-z ]{0,30}\s*=\s*[^;\n]{0,256};\s*){0,12}"
        + _CREDENTIAL_KEYS
        + r"\s*=\s*(?:\{[^}\n]{1,256}\}|[^;\n]{1,256});?"
        + r"(?:\s*[a-z][a-z ]{0,30}\s*=\s*[^;\n]{0,256};?){0,12}"
        + r"|(?<![\w-])(?:(?:host|hostaddr|port|dbname|user|sslmode)\s*=\s*\S{1,256}\s+){1,8}"
        + _CREDENTIAL_KEYS
        + r"\s*=\s*(?:'[^'\n]{1,256}'|\S{1,256})(?:\s+[a-z_]{2,30}\s*=\s*\S{1,256}){0,8})"
    )
    score = 0.96

    def valid(self, value: str) -> bool:
        lowered = value.lower()
        return lowered.startswith("jdbc:") or any(
            k in lowered for k in ("server", "host", "data source", "uid", "user", "dbname")
        )

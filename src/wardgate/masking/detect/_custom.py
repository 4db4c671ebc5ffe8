"""Custom entity types from policy: a regex, an optional validator, optional context words.

A custom entity's regex is the policy author's, so it may hold numbered groups or
backreferences that would break inside the combined alternation: it scans each value on its own
(``combined = False``). Custom entities are few, so that costs one extra regex search per value.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ._base import Recognizer
from ._context import name_words
from ._validators import resolve

__all__ = ["CustomEntity", "custom_recognizer"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, slots=True)
class CustomEntity:
    """A policy-defined entity type, reported as ``custom:<name>``.

    ``validator`` is ``"luhn"``, ``"mod97"`` or a python-stdnum module (``"stdnum.es.nif"``);
    ``context``, when given, is required: a match counts only with one of these words in the
    column or table name or just before it in the text. A custom finding outranks a built-in
    one on the same span, except vendor secrets.
    """

    name: str
    pattern: str
    validator: str | None = None
    context: tuple[str, ...] = ()


class _Custom(Recognizer, register=False):
    """Base of the classes `custom_recognizer` makes, one per custom entity."""

    combined = False
    #: above the built-in recognizers of identifiers (a policy that names a format means it),
    #: below the vendor-secret ones, which no custom regex should shadow
    score = 0.96
    check: ClassVar[Callable[[str], bool] | None] = None

    def valid(self, value: str) -> bool:
        check = type(self).check
        return check is None or check(value)


def custom_recognizer(entity: CustomEntity) -> Recognizer:
    """A recognizer for ``entity``; raises ValueError on a bad name, regex or validator."""
    if not _NAME.fullmatch(entity.name):
        raise ValueError(f"custom entity name {entity.name!r}: use lowercase letters, digits, _")
    try:
        compiled = re.compile(entity.pattern)
    except re.error as exc:
        raise ValueError(f"custom entity {entity.name!r}: bad pattern: {exc}") from exc
    if compiled.fullmatch(""):
        raise ValueError(f"custom entity {entity.name!r}: pattern matches the empty string")
    check = resolve(entity.validator) if entity.validator else None
    attrs: dict[str, Any] = {
        "entity": f"custom:{entity.name}",
        "candidate": entity.pattern,
        "pattern": compiled,
        "context": tuple(name_words(w).strip() for w in entity.context),
        "requires_context": bool(entity.context),
        "check": staticmethod(check) if check else None,
    }
    cls = types.new_class(
        f"Custom_{entity.name}", (_Custom,), {"register": False}, lambda ns: ns.update(attrs)
    )
    return cls()  # type: ignore[no-any-return]

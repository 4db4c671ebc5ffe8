"""The shared base of every value detector, and the registry that finds them.

Theory of operation. A detector ("recognizer") is mostly class attributes, like detect-secrets'
plugins: the entity it reports, a *candidate* regex, the precise ``pattern`` run on each candidate,
the context words that make a weak match count, and a ``valid`` hook for its checksum or parser.
`Detector` puts the distinct candidate regexes of all recognizers into one alternation, so a
value is scanned once in C; only the recognizers whose candidate matched run their Python
validators, and only on that span. Recognizers that share a candidate shape (``_shapes.NUMBER``
feeds cards, phones, SSNs and dates) share one alternative.

Subclasses register themselves when their module is imported (``__init_subclass__``);
`registered()` imports every module of ``_recognizers`` so adding a detector is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from ._context import Context

__all__ = ["Finding", "Recognizer", "registered"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected value: ``text[start:end]`` is an ``entity`` with confidence ``score`` (0..1)."""

    entity: str
    start: int
    end: int
    score: float


_REGISTRY: dict[str, type[Recognizer]] = {}


class Recognizer:
    """One entity type's detector. Subclasses set the class attributes; few override methods.

    ``candidate`` is regex source for the combined pass: it must have no capturing groups (use
    ``(?:...)``) and must be bounded in length, so a hostile value cannot make the scan quadratic.
    ``pattern`` is searched inside each candidate span (default: the candidate itself); its
    ``value`` group, if present, is what ``valid`` checks and what the finding covers.
    ``trigger`` is a cheap regex searched over the whole value first: when it does not match, the
    recognizer's candidate is left out of the combined pass for that value (the pre-filter).
    The default, a digit, puts the recognizer in the pre-filter's "digits" bucket; anything
    that can occur without a digit (``@``, a vendor prefix) names its own trigger.
    """

    entity: ClassVar[str]
    candidate: ClassVar[str]
    pattern: ClassVar[re.Pattern[str] | None] = None
    trigger: ClassVar[str] = r"\d"
    #: words or phrases (lowercase) that, next to a value or in the column/table name, vouch for it
    context: ClassVar[tuple[str, ...]] = ()
    #: words that, right before a value, say it is something else ("version 10.2.3.4")
    anti_context: ClassVar[tuple[str, ...]] = ()
    requires_context: ClassVar[bool] = False
    #: candidates shorter than this are skipped unread (a lone "12" is no card, phone or id)
    min_length: ClassVar[int] = 0
    score: ClassVar[float] = 0.9
    #: False for recognizers whose candidate cannot join the alternation (custom entities' regexes
    #: may hold numbered groups and backreferences): they scan the whole value on their own.
    combined: ClassVar[bool] = True
    _compiled: ClassVar[re.Pattern[str]]

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        """Register concrete recognizers; ``class X(Base, register=False)`` for shared bases."""
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "candidate"):
            cls._compiled = cls.pattern or re.compile(cls.candidate)
        if register:
            _REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls

    def scan(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        """Findings inside the candidate span ``ctx.text[start:end]``."""
        if end - start < self.min_length:
            return
        if self.requires_context and not ctx.anywhere(self.context):
            return
        yield from self.search(ctx, start, end)

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        """The recognizer's own work on a candidate; overridden by the few that need more."""
        pattern = self._compiled
        for m in pattern.finditer(ctx.text, start, end):
            s, e = m.span("value") if "value" in pattern.groupindex else m.span()
            if s < 0 or e <= s:
                continue
            vouched = bool(self.context) and ctx.near(s, e, self.context)
            if self.requires_context and not vouched:
                continue  # checked before `valid`: context is cheaper than most checksums
            if not vouched and self.anti_context and ctx.before(s, self.anti_context):
                continue
            value = ctx.text[s:e]
            if self.valid(value):
                yield Finding(self.entity, s, e, self.rate(value, vouched))

    def valid(self, value: str) -> bool:
        """Checksum, parser or range check on a candidate value; the regex alone is the default."""
        return True

    def rate(self, value: str, vouched: bool) -> float:
        """Confidence of a finding that passed `valid`: context adds to a self-standing match."""
        return round(min(1.0, self.score + 0.05), 2) if vouched else self.score


def registered() -> tuple[type[Recognizer], ...]:
    """Every recognizer class, importing each module of ``_recognizers`` once, in a stable order."""
    from . import _recognizers

    for info in pkgutil.iter_modules(_recognizers.__path__):
        importlib.import_module(f"{_recognizers.__name__}.{info.name}")
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))

"""`Detector`: the combined pass over a value, then validators on candidates only.

Per value: (1) the pre-filter searches each distinct ``trigger`` of the wanted recognizers (a
digit, an ``@``, ``://``, a vendor prefix...) and keeps only the candidate shapes that can occur;
a value with no digit and no capital letter skips almost everything. (2) One compiled alternation
of those shapes (cached per set of shapes) scans the value. At each candidate the recognizers of
that shape validate it, and so do those of any later shape that matches at the same position
(the alternation reports only the first). The scan then goes on one character later, where the
shapes' left word boundaries let it restart only at the next word (see `Detector._scan` for
what is skipped). (3) Overlapping findings are resolved by score, then length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._entities import matches
from ._base import Finding, Recognizer, registered
from ._columns import ColumnClass, classify
from ._context import Context
from ._custom import CustomEntity, custom_recognizer

__all__ = ["Detector"]


@dataclass(frozen=True, slots=True)
class _Shape:
    """One alternative of the combined pass and the recognizers that read its candidates."""

    source: str
    pattern: re.Pattern[str]
    recognizers: tuple[Recognizer, ...]


#: pre-filter buckets: shapes that need a digit, shapes that need a capital (names), and the
#: rest, which share one alternation of their own triggers (``@``, ``://``, vendor prefixes...)
_DIGIT = r"\d"
_BUCKETS = ("digits", "names", "marked")


def _bucket(recognizers: Sequence[Recognizer]) -> str:
    triggers = {r.trigger for r in recognizers}
    if triggers == {_DIGIT}:
        return "digits"
    if all(r.entity == "person" for r in recognizers):
        return "names"
    return "marked"


class _Plan:
    """The shapes for one set of wanted recognizers, and the combined regex per bucket set.

    Shapes fall into three buckets, each with one trigger regex; the combined alternation is
    compiled once per set of active buckets (at most seven), so no value, however odd, makes
    the detector compile a new regex.
    """

    def __init__(self, recognizers: Sequence[Recognizer]) -> None:
        by_source: dict[str, list[Recognizer]] = {}
        self.solo = tuple(r for r in recognizers if not r.combined)
        for r in recognizers:
            if r.combined:
                by_source.setdefault(r.candidate, []).append(r)
        shapes = [_Shape(src, re.compile(src), tuple(rs)) for src, rs in by_source.items()]
        self.buckets: dict[str, tuple[_Shape, ...]] = {
            b: tuple(s for s in shapes if _bucket(s.recognizers) == b) for b in _BUCKETS
        }
        self.triggers: dict[str, re.Pattern[str]] = {}
        for b, members in self.buckets.items():
            sources = sorted({r.trigger for s in members for r in s.recognizers})
            if sources:
                self.triggers[b] = re.compile("|".join(f"(?:{t})" for t in sources))
        self._combined: dict[tuple[str, ...], tuple[re.Pattern[str], tuple[_Shape, ...]]] = {}

    def active(self, text: str) -> tuple[str, ...]:
        """The buckets whose trigger occurs in ``text`` (the pre-filter)."""
        return tuple(b for b, t in self.triggers.items() if t.search(text) is not None)

    def precompile(self) -> None:
        """Compile the alternation for every set of buckets now."""
        names = tuple(self.triggers)
        for mask in range(1, 1 << len(names)):
            self.combined(tuple(n for i, n in enumerate(names) if mask >> i & 1))

    def combined(self, active: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[_Shape, ...]]:
        """The alternation of the active buckets' shapes, group ``s<i>`` for shape ``i``."""
        got = self._combined.get(active)
        if got is None:
            shapes = tuple(s for b in active for s in self.buckets[b])
            alternation = "|".join(f"(?P<s{i}>{s.source})" for i, s in enumerate(shapes))
            got = self._combined[active] = (re.compile(alternation), shapes)
        return got


class Detector:
    """Finds sensitive values in text and classifies catalog columns.

    Safe to share between threads and connections: its only state is caches of compiled plans,
    bounded, that only grow (a plan per distinct ``entities`` filter).

    ``custom`` adds policy-defined entity types, reported as ``custom:<name>``.
    """

    def __init__(self, custom: Sequence[CustomEntity] = ()) -> None:
        builtin: list[Recognizer] = [cls() for cls in registered()]
        self._recognizers: tuple[Recognizer, ...] = (
            *builtin,
            *(custom_recognizer(c) for c in custom),
        )
        full = _Plan(self._recognizers)
        full.precompile()  # ~30 ms once, rather than a compile stall on some first value
        self._plans: dict[frozenset[str] | None, _Plan] = {None: full}

    @property
    def entities(self) -> frozenset[str]:
        """Every entity this detector can report."""
        return frozenset(r.entity for r in self._recognizers)

    def _plan(self, entities: frozenset[str] | None) -> _Plan:
        plan = self._plans.get(entities)
        if plan is None:
            assert entities is not None  # the None plan is built in __init__
            wanted = [r for r in self._recognizers if matches(r.entity, entities)]
            plan = _Plan(wanted)
            if len(self._plans) < 256:
                self._plans[entities] = plan
        return plan

    def find(
        self,
        text: str,
        *,
        column: str | None = None,
        table: str | None = None,
        entities: frozenset[str] | None = None,
    ) -> list[Finding]:
        """Non-overlapping findings in ``text``, sorted by start.

        ``column`` and ``table`` are context (a bare nine-digit value is an SSN only in a column
        named like one); ``entities`` restricts the search to those entities or families.
        """
        if len(text) < 2:
            return []
        plan = self._plan(entities)
        ctx = Context(text, column, table)
        found: list[Finding] = []
        active = plan.active(text)
        if active:
            self._scan(plan, active, ctx, found)
        for r in plan.solo:
            found.extend(r.scan(ctx, 0, len(text)))
        return _resolve(found)

    @staticmethod
    def _scan(plan: _Plan, active: tuple[str, ...], ctx: Context, found: list[Finding]) -> None:
        """The combined pass: each shape sees its candidates as its own ``finditer`` would.

        A shape whose candidate yielded findings is not re-read inside that candidate (so the
        tail of a card number is not tried as a phone); one whose candidate yielded nothing may
        match again at the next word. Other shapes are tried at every word start, so a name
        candidate ("See Alameda Amanda Fuentes") cannot hide an address starting inside it. A
        finding of score >= 0.95 (a key, a token, a connection string) is skipped over whole:
        nothing inside it could outrank it.
        """
        text = ctx.text
        combined, shapes = plan.combined(active)
        consumed = [0] * len(shapes)
        pos = 0
        while (m := combined.search(text, pos)) is not None:
            start = m.start()
            first = int(str(m.lastgroup)[1:])
            pos = start + 1
            for i in range(first, len(shapes)):
                if consumed[i] > start:
                    continue
                span = m if i == first else shapes[i].pattern.match(text, start)
                if span is None:
                    continue
                before = len(found)
                for r in shapes[i].recognizers:
                    found.extend(r.scan(ctx, start, span.end()))
                if len(found) > before:
                    consumed[i] = span.end()
                    for f in found[before:]:
                        if f.score >= 0.95 and f.end > pos:
                            pos = f.end

    def classify_column(
        self,
        *,
        table: str,
        column: str,
        type_name: str,
        comment: str | None,
        samples: Sequence[str],
    ) -> ColumnClass | None:
        """Whether a catalog column holds an entity, from its name, type, comment and samples."""
        return classify(self, table, column, type_name, comment, samples)


def _resolve(found: list[Finding]) -> list[Finding]:
    """Keep the best of overlapping findings (higher score, then longer), sorted by start."""
    if len(found) < 2:
        return found
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (-f.score, f.start - f.end, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept

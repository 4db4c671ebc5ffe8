"""Applying a plan to rows as they stream, and scrubbing error and notice texts.

One `RowMasker` serves one result (one RowDescription). It holds no rows: each DataRow is rewritten
and handed on, so memory does not grow with the result. A value it cannot take apart raises
`Unmaskable` to the caller, which ends the statement with an error instead of sending the value.

Counts of masked values per column and per entity are kept for the audit log; raw values never
leave this module except as their masked form.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ._plan import ColumnAction, MaskSpec
from ._values import TypeInfo, rewrite

__all__ = ["DetectorLike", "MaskFn", "MaskStats", "RowMasker", "scan_text", "scrub_message"]

#: (operator, value, entity, type name, max length) -> masked text, or None for SQL NULL.
MaskFn = Callable[[str, str, str | None, str, int | None], str | None]

_TEXTUAL = frozenset({"text", "varchar", "bpchar", "name", "unknown", "citext", "json", "jsonb"})


class FindingLike(Protocol):
    @property
    def entity(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class DetectorLike(Protocol):
    def find(
        self,
        text: str,
        *,
        column: str | None = None,
        table: str | None = None,
        entities: frozenset[str] | None = None,
    ) -> Sequence[FindingLike]: ...


@dataclass(slots=True)
class MaskStats:
    """What was masked: values per output column, findings per entity. Never the values."""

    columns: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)

    def merge(self, other: MaskStats) -> None:
        self.columns.update(other.columns)
        self.entities.update(other.entities)


@dataclass(slots=True)
class RowMasker:
    actions: tuple[ColumnAction, ...]
    types: Mapping[int, TypeInfo]
    spec: MaskSpec
    mask: MaskFn
    detector: DetectorLike
    stats: MaskStats = field(default_factory=MaskStats)
    _work: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self._work = tuple(i for i, a in enumerate(self.actions) if a.mode != "pass")

    @property
    def active(self) -> bool:
        return bool(self._work)

    def row(self, values: tuple[bytes | None, ...]) -> tuple[bytes | None, ...]:
        if len(values) != len(self.actions):
            from ._values import Unmaskable

            raise Unmaskable("row does not match its description")
        out = list(values)
        for i in self._work:
            value = values[i]
            if value is None:
                continue
            action = self.actions[i]
            leaf = self._whole(action) if action.mode == "whole" else self._scan(action)
            new = rewrite(value, action.type_oid, action.binary, self.types, leaf)
            if new != value:
                self.stats.columns[action.name] += 1
                if action.mode == "whole" and action.entity:
                    self.stats.entities[action.entity] += 1
            out[i] = new
        return tuple(out)

    def _whole(self, action: ColumnAction) -> Callable[[str, str], str | None]:
        op, entity, limit, mask = (
            action.operator or "redact",
            action.entity,
            action.max_length,
            self.mask,
        )

        def leaf(text: str, type_name: str) -> str | None:
            return mask(op, text, entity, type_name, limit)

        return leaf

    def _scan(self, action: ColumnAction) -> Callable[[str, str], str | None]:
        def leaf(text: str, type_name: str) -> str | None:
            return scan_text(
                text,
                type_name,
                self.spec,
                self.mask,
                self.detector,
                self.stats.entities,
                column=action.name,
                table=action.table,
            )

        return leaf


def scan_text(
    text: str,
    type_name: str,
    spec: MaskSpec,
    mask: MaskFn,
    detector: DetectorLike,
    counts: Counter[str],
    *,
    column: str | None = None,
    table: str | None = None,
    targets: frozenset[str] | None = None,
) -> str | None:
    """Replace every detected entity; a non-text value found whole is masked in its own type."""
    findings = detector.find(
        text, column=column, table=table, entities=targets or spec.scan_targets
    )
    if not findings:
        return text
    if type_name not in _TEXTUAL:
        f = findings[0]
        counts[f.entity] += 1
        return mask(spec.entity_operator(f.entity) or "redact", text, f.entity, type_name, None)
    parts, last = [], 0
    for f in findings:
        op = spec.entity_operator(f.entity) or "redact"
        new = mask(op, text[f.start : f.end], f.entity, "text", None)
        parts.append(text[last : f.start])
        parts.append("[REDACTED]" if new is None else new)
        counts[f.entity] += 1
        last = f.end
    parts.append(text[last:])
    return "".join(parts)


# What PostgreSQL prints of values in messages: quoted input ("x", 'x'), key values and failing
# rows in parentheses, and bare numbers (chr(), set_bit(), make_date() print their arguments).
_QUOTED = re.compile(r'"(?:[^"]|"")*"' + r"|'(?:[^']|'')*'")
_KEY_VALUES = re.compile(r"=\((?:.|\n)*?\)(?= already exists| is not present| conflicts|\.|$)")
_FAILING_ROW = re.compile(r"(Failing row contains )\((?:.|\n)*\)")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:[.,]\d+)*")


def scrub_message(
    code: str,
    field_code: str,
    text: str,
    spec: MaskSpec,
    mask: MaskFn,
    detector: DetectorLike,
    counts: Counter[str],
) -> str:
    """An error or notice field of a masked session with values taken out.

    Any statement of a masked session may have computed the text from a sensitive value, and a
    message can carry it quoted (``invalid input syntax for type integer: "..."``, ``relation
    "..." does not exist`` after a cast to regclass), as key values or a failing row, or as a bare
    number an error prints (``chr()``, ``make_date()``). All of those are cut out whatever the
    detectors say -- a name or an order total is not something a pattern can be trusted to see --
    and the rest goes through the detectors for every entity type. The messages get less precise;
    that is the price of not being a side channel.
    """
    del code  # every class: the value-echoing ones are not a closed list
    text = _FAILING_ROW.sub(r"\1([REDACTED])", text)
    text = _KEY_VALUES.sub("=([REDACTED])", text)
    text = _QUOTED.sub(lambda m: m.group(0)[0] + "[REDACTED]" + m.group(0)[0], text)
    text = _NUMBER.sub("#", text)
    out = scan_text(text, "text", spec, mask, detector, counts, targets=_ALL)
    return text if out is None else out


_ALL: frozenset[str] = frozenset(
    {"person", "email", "phone", "card_number", "iban", "national_id", "network"}
    | {"date_of_birth", "address", "medical_record", "secret", "custom"}
)

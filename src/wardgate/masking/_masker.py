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
from typing import Any, Protocol

from ._plan import ColumnAction, MaskSpec
from ._values import TypeInfo, Unmaskable, rewrite, scalar_rewriter

__all__ = [
    "DetectorLike",
    "MaskFn",
    "MaskStats",
    "PrepareEncodedFn",
    "PrepareFn",
    "RowMasker",
    "scan_text",
    "scrub_message",
]

#: (operator, value, entity, type name, max length) -> masked text, or None for SQL NULL.
MaskFn = Callable[[str, str, str | None, str, int | None], str | None]
#: (operator, entity, type name, max length) -> a function of one value's text that masks it as
#: a MaskFn with those arguments would.
PrepareFn = Callable[[str, str | None, str, int | None], Callable[[str], str | None]]
#: The same for text-format values as they arrive: UTF-8 bytes in, bytes (or None) out.
PrepareEncodedFn = Callable[[str, str | None, str, int | None], Callable[[bytes], bytes | None]]

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


class MaskStats:
    """What was masked: values per output column, findings per entity. Never the values.

    Row maskers count into their own per-column counters while rows stream and are folded in
    when the counts are read (`columns`, `entities`), so a masked value costs the row loop one
    list increment rather than two Counter updates.
    """

    __slots__ = ("_columns", "_entities", "_pending")

    def __init__(
        self, columns: Counter[str] | None = None, entities: Counter[str] | None = None
    ) -> None:
        self._columns: Counter[str] = Counter() if columns is None else columns
        self._entities: Counter[str] = Counter() if entities is None else entities
        self._pending: list[RowMasker] = []  # maskers that counted since the last fold

    def __repr__(self) -> str:
        return f"MaskStats(columns={self.columns!r}, entities={self.entities!r})"

    @property
    def columns(self) -> Counter[str]:
        self._fold()
        return self._columns

    @property
    def entities(self) -> Counter[str]:
        self._fold()
        return self._entities

    def merge(self, other: MaskStats) -> None:
        self.columns.update(other.columns)
        self.entities.update(other.entities)

    def _fold(self) -> None:
        pending = self._pending
        if pending:
            for masker in pending:
                masker._fold_into(self._columns, self._entities)
            pending.clear()


#: A column step: one non-NULL value as it came (text or binary format) -> its masked bytes.
_Step = Callable[[bytes], bytes | None]


@dataclass(slots=True)
class RowMasker:
    """Masks the rows of one result.

    Everything that depends only on the plan is done when the masker is made: each column to
    change gets one step function (for a scalar column masked whole: decode, the operator
    prepared for its entity, type and length, encode), so a row costs one call per masked value.
    ``prepare`` (see `wardgate.masking.operators.prepare`) supplies the prepared operators; without
    it each value goes through ``mask``.
    """

    actions: tuple[ColumnAction, ...]
    types: Mapping[int, TypeInfo]
    spec: MaskSpec
    mask: MaskFn
    detector: DetectorLike
    stats: MaskStats = field(default_factory=MaskStats)
    prepare: PrepareFn | None = None
    prepare_encoded: PrepareEncodedFn | None = None
    _steps: tuple[tuple[int, _Step, int], ...] = ()  # (column, step, counter)
    _labels: tuple[tuple[str, str | None], ...] = ()  # per counter: column name, entity
    _counts: list[int] = field(default_factory=list)  # changed values not yet in `stats`
    _counting: bool = False  # in stats' pending list

    def __post_init__(self) -> None:
        work = [(i, a) for i, a in enumerate(self.actions) if a.mode != "pass"]
        self._steps = tuple((i, self._step(a), j) for j, (i, a) in enumerate(work))
        self._labels = tuple((a.name, a.entity if a.mode == "whole" else None) for _, a in work)
        self._counts = [0] * len(work)

    @property
    def active(self) -> bool:
        return bool(self._steps)

    def row(self, values: tuple[bytes | None, ...]) -> tuple[bytes | None, ...]:
        if len(values) != len(self.actions):
            raise Unmaskable("row does not match its description")
        if not self._counting:
            pending = self.stats._pending
            if len(pending) >= 64:  # counts nobody reads (no audit): keep the list short
                self.stats._fold()
            pending.append(self)
            self._counting = True
        out = list(values)
        counts = self._counts
        for i, step, j in self._steps:
            value = values[i]
            if value is not None:
                new = out[i] = step(value)
                if new != value:
                    counts[j] += 1
        return tuple(out)

    def _fold_into(self, columns: Counter[str], entities: Counter[str]) -> None:
        """Add the counts since the last fold to ``columns`` and ``entities`` (see MaskStats)."""
        counts = self._counts
        for j, (name, entity) in enumerate(self._labels):
            if counts[j]:
                columns[name] += counts[j]
                if entity:
                    entities[entity] += counts[j]
                counts[j] = 0
        self._counting = False

    def _step(self, action: ColumnAction) -> _Step:
        oid, binary, types = action.type_oid, action.binary, self.types
        if action.mode == "whole":
            op, entity, limit = action.operator or "redact", action.entity, action.max_length
            scalar = scalar_rewriter(
                oid,
                binary,
                types,
                lambda type_name: self._prepared(op, entity, type_name, limit),
                self._encoded_for(op, entity, limit),
            )
            if scalar is not None:
                return scalar
            prepared: dict[str, Callable[[str], str | None]] = {}

            def whole(text: str, type_name: str) -> str | None:
                leaf = prepared.get(type_name)
                if leaf is None:
                    leaf = prepared[type_name] = self._prepared(op, entity, type_name, limit)
                return leaf(text)

            return lambda value: rewrite(value, oid, binary, types, whole)
        spec, mask, detector, name, table = (
            self.spec,
            self.mask,
            self.detector,
            action.name,
            action.table,
        )

        def scan(text: str, type_name: str) -> str | None:
            counts = self.stats._entities  # findings are counted as they are made
            return scan_text(
                text, type_name, spec, mask, detector, counts, column=name, table=table
            )

        return lambda value: rewrite(value, oid, binary, types, scan)

    def _prepared(
        self, op: str, entity: str | None, type_name: str, limit: int | None
    ) -> Callable[[str], str | None]:
        if self.prepare is None:
            mask = self.mask
            return lambda text: mask(op, text, entity, type_name, limit)
        try:
            return self.prepare(op, entity, type_name, limit)
        except ValueError as exc:  # an operator or context that cannot mask: fail per value
            return _refusal(exc)

    def _encoded_for(
        self, op: str, entity: str | None, limit: int | None
    ) -> Callable[[str], _Step] | None:
        prepare = self.prepare_encoded
        if prepare is None:
            return None

        def encoded(type_name: str) -> _Step:
            try:
                return prepare(op, entity, type_name, limit)
            except ValueError as exc:
                return _refusal(exc)

        return encoded


def _refusal(exc: ValueError) -> Callable[[Any], Any]:
    """A mask for a column whose operator or context cannot mask: it fails each value (a column
    of NULLs still passes), as masking value by value would have."""
    kind, args = type(exc), exc.args

    def refuse(value: Any) -> Any:
        raise kind(*args)

    return refuse


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
# rows in parentheses, bare numbers (chr(), set_bit(), make_date() print their arguments), bytes
# (an invalid byte sequence: "0xc3 0x4d", where the second byte can be any character of a value),
# and input echoed unquoted after a colon: the line of a JSON document that fails to parse (in
# CONTEXT: "JSON data, line 1: {"a": Mario_Hernandez..."), a name with too many dots, a
# cross-database reference.
_QUOTED = re.compile(r'"(?:[^"]|"")*"' + r"|'(?:[^']|'')*'")
_ECHOED = re.compile(
    r"(JSON data, line \d+: |\(too many dotted names\): |cross-database references are not "
    r"implemented: ).*"
)
_BYTES = re.compile(r"\b0x[0-9A-Fa-f]+")
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
    number an error prints (``chr()``, ``make_date()``), or echo it unquoted (the failing line of
    a JSON document, a dotted name, invalid bytes). All of those are cut out whatever the
    detectors say -- a name or an order total is not something a pattern can be trusted to see --
    and the rest goes through the detectors for every entity type. The messages get less precise;
    that is the price of not being a side channel.
    """
    del code  # every class: the value-echoing ones are not a closed list
    text = _ECHOED.sub(r"\1[REDACTED]", text)
    text = _BYTES.sub("0x#", text)
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

"""Which statement a result belongs to, so the masker knows what it is looking at.

Upstream answers in order, so the session can tell which statement each RowDescription describes:
in a simple-query message, the statement after the ones already completed; in the extended
protocol, the portal of the Execute it precedes. For the extended protocol the gateway does not
rely on the client having asked for a description: in a masked session it sends its own Describe
of the portal ahead of every Execute and keeps the answer to itself, so no DataRow ever arrives
without the gateway knowing its columns' sources, types and formats.

Cursors and SQL-level prepared statements are remembered by name with the facts of the DECLARE or
PREPARE that made them, so a later FETCH or EXECUTE is masked by what it actually reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wardgate import pgwire as pw
from wardgate.masking import (
    Catalog,
    DetectorLike,
    MaskFn,
    MaskSpec,
    MaskStats,
    RowMasker,
    plan_columns,
    scrub_message,
)
from wardgate.sql import StatementFacts

__all__ = ["MaskingTools", "ResultPlanner"]


@dataclass(slots=True)
class MaskingTools:
    """What a masked session needs from the gateway; the catalog is fetched when asked for."""

    catalog: Callable[[], Catalog]
    mask: MaskFn
    detector: DetectorLike
    stale: Callable[[], None] = lambda: None  # DDL went through: reload the catalog


@dataclass(slots=True)
class ResultPlanner:
    tools: MaskingTools
    cursors: dict[str, StatementFacts] = field(default_factory=dict)
    prepared: dict[str, StatementFacts] = field(default_factory=dict)
    stats: MaskStats = field(default_factory=MaskStats)

    def remember(self, statements: Sequence[StatementFacts]) -> None:
        """Keep DECLARE and PREPARE facts; notice DDL that makes the catalog stale."""
        for st in statements:
            if st.command == "DECLARE CURSOR" and st.cursor_name:
                self.cursors[st.cursor_name] = st
            elif st.command == "PREPARE" and st.prepared_name:
                self.prepared[st.prepared_name] = st
            if "ddl" in st.kinds:
                self.tools.stale()

    def origin(self, st: StatementFacts | None) -> StatementFacts | None:
        """The statement whose query a FETCH or EXECUTE runs (None: unknown)."""
        if st is None:
            return None
        if st.command in ("FETCH", "MOVE") and st.cursor_name:
            return self.cursors.get(st.cursor_name)
        if st.command == "EXECUTE" and st.prepared_name:
            return self.prepared.get(st.prepared_name)
        return st

    def masker(
        self, desc: pw.RowDescription, st: StatementFacts | None, spec: MaskSpec
    ) -> RowMasker | None:
        """A masker for the rows ``desc`` describes, or None if every column passes."""
        catalog = self.tools.catalog()
        origin = self.origin(st)
        lineage = origin.columns if origin is not None and origin.columns else None
        actions = plan_columns(
            desc.fields,
            lineage,
            spec,
            catalog,
            reads_sensitive=origin is None or _reads_sensitive(origin, spec, catalog),
        )
        masker = RowMasker(
            actions, catalog.types, spec, self.tools.mask, self.tools.detector, self.stats
        )
        return masker if masker.active else None

    def scrub(self, msg: pw.ErrorResponse | pw.NoticeResponse, spec: MaskSpec) -> pw.Message:
        """Error and notice texts with values taken out (see `scrub_message`)."""
        code = msg.sqlstate or ""
        fields = []
        changed = False
        for key, text in msg.fields:
            if key in ("M", "D", "H", "W", "q", "p"):
                new = scrub_message(
                    code, key, text, spec, self.tools.mask, self.tools.detector, self.stats.entities
                )
                changed = changed or new != text
                fields.append((key, new))
            else:
                fields.append((key, text))
        return type(msg)(fields=tuple(fields)) if changed else msg


def _reads_sensitive(st: StatementFacts, spec: MaskSpec, catalog: Catalog) -> bool:
    if st.calls_unknown_functions:
        return True
    for obj in st.objects:
        if obj.kind != "relation" or obj.access != "read":
            continue
        cols = catalog.relation(obj.schema, obj.name)
        if not cols:
            return True  # not in the catalog (new, temporary, a CTE name): cannot tell
        if any(spec.column_operator(c) is not None for c in cols):
            return True
        if any(c.relkind not in ("r", "p", "m") for c in cols):
            return True  # a view or foreign table: its sources are not visible here
    return False

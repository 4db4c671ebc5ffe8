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

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wardgate import pgwire as pw
from wardgate.config import ConfigError, GatewayConfig
from wardgate.masking import (
    Catalog,
    ColumnAction,
    CopyFormat,
    CopyMasker,
    DetectorLike,
    MaskFn,
    MaskSpec,
    MaskStats,
    OutputLike,
    PrepareEncodedFn,
    PrepareFn,
    RowMasker,
    Unmaskable,
    expand_lineage,
    plan_columns,
    scrub_message,
    view_reads_sensitive,
)
from wardgate.masking.detect import CustomEntity, Detector
from wardgate.masking.operators import EncodedMask, Keyring, MaskContext, ValueMask
from wardgate.masking.operators import prepare as prepare_value
from wardgate.masking.operators import prepare_encoded as prepare_encoded_value
from wardgate.sql import StatementFacts

from ._sqltext import ValueTokens
from .catalog import CatalogCache

__all__ = ["GatewayMasking", "MaskingTools", "Names", "ResultPlanner", "may_open_cursors"]


@dataclass(slots=True)
class MaskingTools:
    """What a masked session needs from the gateway; the catalog is fetched when asked for."""

    catalog: Callable[[], Catalog]
    mask: MaskFn
    detector: Callable[[MaskSpec], DetectorLike]  # with the spec's custom entity types
    stale: Callable[[], None] = lambda: None  # DDL went through: reload the catalog
    prepare: PrepareFn | None = None  # `mask` set up once per column (None: `mask` per value)
    prepare_encoded: PrepareEncodedFn | None = None  # the same on text-format bytes


#: PostgreSQL's FirstNormalObjectId: objects below it come with the server (the system catalogs)
_FIRST_NORMAL_OID = 16384

#: names a session may give its statements and portals before `Names` stops telling them apart
_MAX_NAMES = 4096


@dataclass(slots=True)
class Names:
    """Statement ("S", name) and portal ("P", name) names a session has used one way.

    PostgreSQL keeps one namespace for SQL-level prepared statements and the protocol's named
    statements, and one for cursors and the protocol's portals (a function can open a cursor in
    it too): ``DEALLOCATE x`` drops a statement Parse made, ``EXECUTE x`` runs it, ``FETCH x``
    reads a portal Bind made. A record made one way says nothing about what the name runs once
    the other way has used it, so the gateway remembers which names each way has used. The set
    only grows; past `_MAX_NAMES` names it answers yes for every name (fail closed).
    """

    names: set[tuple[str, str]] = field(default_factory=set)
    full: bool = False

    def add(self, kind: str, name: str) -> None:
        if not name or self.full:
            return  # the unnamed statement and portal are out of SQL's reach
        if len(self.names) >= _MAX_NAMES:
            self.full = True
            self.names.clear()
            return
        self.names.add((kind, name))

    def __contains__(self, key: tuple[str, str]) -> bool:
        return self.full or key in self.names


def may_open_cursors(st: StatementFacts) -> bool:
    """Whether running ``st`` can open a cursor under a name of its choosing, unseen.

    A function can (PL/pgSQL opens a cursor under the name its refcursor argument holds), so
    can DO and CALL, and so can a statement whose query is elsewhere: EXECUTE, and FETCH or MOVE
    (the cursor's query runs as rows are fetched).
    """
    return st.calls_unknown_functions or st.command in ("EXECUTE", "FETCH", "MOVE")


@dataclass(slots=True)
class ResultPlanner:
    tools: MaskingTools
    cursors: dict[str, StatementFacts] = field(default_factory=dict)
    prepared: dict[str, StatementFacts] = field(default_factory=dict)
    stats: MaskStats = field(default_factory=MaskStats)
    #: names the protocol (Parse, Bind, Close) has used: a SQL-level record of one is not trusted
    wire: Names = field(default_factory=Names)
    #: whether the names in the system catalog may be trusted (`Catalog.without_system`): when
    #: the operator says no masked identity can create objects (masking.trust_catalog_names)
    #: and this session's identity cannot either (`policy.session_cannot_name`)
    trust_system_names: bool = False
    #: asked before each use while trusted: still so under the policy in force now? Once not,
    #: never again in this session (it may have defined objects meanwhile)
    still_trusted: Callable[[], bool] = lambda: True

    def _catalog(self) -> Catalog:
        return self._trusted(self.tools.catalog())

    def _trusted(self, catalog: Catalog) -> Catalog:
        if self.trust_system_names and not self.still_trusted():
            self.trust_system_names = False  # a reload let this identity define objects
        return catalog if self.trust_system_names else catalog.without_system()

    def remember(self, statements: Sequence[StatementFacts]) -> None:
        """Keep DECLARE and PREPARE facts; notice DDL that makes the catalog stale."""
        for st in statements:
            if st.command == "DECLARE CURSOR" and st.cursor_name:
                self.cursors[st.cursor_name] = st
            elif st.command == "CLOSE CURSOR" and st.cursor_name:
                self.cursors.pop(st.cursor_name, None)
            elif st.command == "CLOSE CURSOR ALL":
                self.cursors.clear()
            elif st.command == "PREPARE" and st.prepared_name:
                self.prepared[st.prepared_name] = st
            elif st.command == "DEALLOCATE" and st.prepared_name:
                self.prepared.pop(st.prepared_name, None)
            elif st.command in ("DEALLOCATE ALL", "DISCARD ALL"):
                self.prepared.clear()
                self.cursors.clear()
            if "ddl" in st.kinds:
                self.tools.stale()

    def ran(self, st: StatementFacts | None) -> None:
        """A statement finished (or suspended): forget cursors it may have replaced.

        A cursor's record is its DECLARE; a statement that can open cursors itself (see
        `may_open_cursors`, a FETCH only when its own cursor's query could), or a ROLLBACK (TO
        SAVEPOINT) that drops cursors declared since, leaves no record trustworthy: later
        FETCHes are of unknown provenance. Recorded in upstream's order, like `remember`.
        """
        if st is None or st.command == "ROLLBACK":
            self.cursors.clear()
        elif st.command in ("FETCH", "MOVE"):
            origin = self.origin(st)
            if origin is None or may_open_cursors(origin):
                self.cursors.clear()
        elif may_open_cursors(st):
            self.cursors.clear()

    def origin(self, st: StatementFacts | None) -> StatementFacts | None:
        """The statement whose query a FETCH or EXECUTE runs (None: unknown)."""
        if st is None:
            return None
        if st.command in ("FETCH", "MOVE") and st.cursor_name:
            if ("P", st.cursor_name) in self.wire:
                return None  # a Bind or Close used the name: what it reads now is not known
            return self.cursors.get(st.cursor_name)
        if st.command == "EXECUTE" and st.prepared_name:
            if st.objects or st.functions:
                return None  # arguments computed from data: the body's $n are not constants
            if ("S", st.prepared_name) in self.wire:
                return None  # a Parse or Close used the name: what it runs now is not known
            return self.prepared.get(st.prepared_name)
        return st

    def masker(
        self, desc: pw.RowDescription, st: StatementFacts | None, spec: MaskSpec
    ) -> RowMasker | None:
        """A masker for the rows ``desc`` describes, or None if every column passes."""
        full = self.tools.catalog()
        catalog = self._trusted(full)
        if any(
            f.table_oid >= _FIRST_NORMAL_OID  # system catalogs are not all read, and never new
            and f.column_attr > 0
            and (f.table_oid, f.column_attr) not in full.columns
            for f in desc.fields
        ):
            self.tools.stale()  # a table newer than the catalog: the next session rereads it
        origin = self.origin(st)
        lineage = origin.columns if origin is not None and origin.columns else None
        actions = plan_columns(
            desc.fields,
            lineage,
            spec,
            catalog,
            reads_sensitive=origin is None or _reads_sensitive(origin, spec, catalog),
        )
        masker = self._row_masker(actions, catalog, spec)
        return masker if masker.active else None

    def copy_masker(
        self, msg: pw.CopyOutResponse, st: StatementFacts | None, spec: MaskSpec
    ) -> CopyMasker | None:
        """A masker for COPY TO rows; raises `Unmaskable` for what cannot be masked."""
        if msg.format != 0:
            raise Unmaskable("binary COPY cannot be masked")
        if st is None:
            raise Unmaskable("the COPY statement is not known")
        fmt = CopyFormat.of(st.text)
        catalog = self._catalog()
        lineage = expand_lineage(st.columns, catalog) if st.columns else None
        count = len(msg.column_formats)
        if lineage is None or len(lineage) != count:
            lineage = None
            fields = [_CopyField(f"column {i + 1}", _TEXT_OID) for i in range(count)]
        else:
            fields = [_copy_field(col, catalog) for col in lineage]
        actions = plan_columns(
            fields, lineage, spec, catalog, reads_sensitive=_reads_sensitive(st, spec, catalog)
        )
        masker = self._row_masker(actions, catalog, spec)
        return CopyMasker(fmt, masker) if masker.active else None

    def _row_masker(
        self, actions: tuple[ColumnAction, ...], catalog: Catalog, spec: MaskSpec
    ) -> RowMasker:
        tools = self.tools
        return RowMasker(
            actions,
            catalog.types,
            spec,
            tools.mask,
            tools.detector(spec),
            self.stats,
            prepare=tools.prepare,
            prepare_encoded=tools.prepare_encoded,
        )

    def scrub(self, msg: pw.ErrorResponse | pw.NoticeResponse, spec: MaskSpec) -> pw.Message:
        """Error and notice texts with values taken out (see `scrub_message`)."""
        code = msg.sqlstate or ""
        fields = []
        changed = False
        for key, text in msg.fields:
            if key in ("M", "D", "H", "W", "q", "p"):
                new = scrub_message(
                    code,
                    key,
                    text,
                    spec,
                    self.tools.mask,
                    self.tools.detector(spec),
                    self.stats.entities,
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
        if cols[0].schema == "pg_catalog":
            return True  # only its name-like columns are known; the others can hold values
        if any(spec.column_operator(c) is not None for c in cols):
            return True
        if cols[0].relkind not in ("r", "p", "f") and view_reads_sensitive(
            cols[0].relid, spec, catalog
        ):
            return True  # a view over something sensitive, or one the analyzer cannot see into
    return False


_TEXT_OID = 25


@dataclass(frozen=True, slots=True)
class _CopyField:
    """A COPY column described the way a RowDescription would describe it (text format)."""

    name: str
    type_oid: int
    table_oid: int = 0
    column_attr: int = 0
    format: int = 0


def _copy_field(col: OutputLike, catalog: Catalog) -> _CopyField:
    """COPY sends every value as text; a plain column keeps its table and type for the plan."""
    if col.exact and col.passthrough and len(col.sources) == 1:
        ((schema, table, column),) = col.sources
        found = catalog.find(schema, table, column)
        if len(found) == 1:
            c = found[0]
            return _CopyField(col.name, c.type_oid, c.relid, c.attnum)
    return _CopyField(col.name, _TEXT_OID)


@dataclass(slots=True)
class GatewayMasking:
    """The gateway's masking machinery: keys, detectors, and one catalog per connection."""

    keyring: Keyring
    detector: Detector
    catalogs: CatalogCache
    ephemeral_key: bool = False
    trust_catalog_names: bool = False  # masking.trust_catalog_names
    value_tokens: ValueTokens = field(init=False)

    def __post_init__(self) -> None:
        # The audit log's tokens for literal values and parameters: a key of their own, derived
        # from the current masking key (a label apart from the masking operators' sub-keys).
        master = self.keyring.keys[self.keyring.current]
        key = hmac.new(master, b"wardgate/audit/v1/values", hashlib.sha256).digest()
        self.value_tokens = ValueTokens(key)

    _custom: dict[tuple[object, ...], Detector] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: GatewayConfig) -> GatewayMasking:
        cfg = config.masking
        if cfg.keys:
            keys = {}
            for key_id, ref in cfg.keys.items():
                secret = ref.resolve(config.base_dir).encode()
                if len(secret) < 32:
                    raise ConfigError(f"masking key {key_id!r} must be at least 32 bytes")
                keys[key_id] = secret
            assert cfg.current is not None  # the config validator insists
            keyring = Keyring(keys=keys, current=cfg.current, memo_size=cfg.memo_size)
            ephemeral = False
        else:
            keyring, ephemeral = Keyring.generate("ephemeral", memo_size=cfg.memo_size), True
        detector = Detector()

        def classify(
            table: str, column: str, type_name: str, comment: str | None, samples: Sequence[str]
        ) -> tuple[str, str] | None:
            found = detector.classify_column(
                table=table, column=column, type_name=type_name, comment=comment, samples=samples
            )
            return None if found is None else (found.entity, found.reason)

        catalogs = CatalogCache(classify, ttl=cfg.catalog_ttl, sample_tables=cfg.sample_tables)
        return cls(keyring, detector, catalogs, ephemeral, cfg.trust_catalog_names)

    def mask(
        self, operator: str, value: str, entity: str | None, type_name: str, limit: int | None
    ) -> str | None:
        return self.prepare(operator, entity, type_name, limit)(value)

    def prepare(
        self, operator: str, entity: str | None, type_name: str, limit: int | None
    ) -> ValueMask:
        """`mask` with everything but the value fixed: set up once per result column, and
        sharing the keyring's memo of repeated values (see `wardgate.masking.operators`)."""
        ctx = MaskContext(entity=entity, type_name=type_name, max_length=limit)
        return prepare_value(operator, ctx, self.keyring)

    def prepare_encoded(
        self, operator: str, entity: str | None, type_name: str, limit: int | None
    ) -> EncodedMask:
        """`prepare` for text-format values as they arrive (UTF-8 bytes)."""
        ctx = MaskContext(entity=entity, type_name=type_name, max_length=limit)
        return prepare_encoded_value(operator, ctx, self.keyring)

    def detector_for(self, spec: MaskSpec) -> DetectorLike:
        """The detector with the policy's custom entity types (one per distinct set)."""
        if not spec.custom:
            return self.detector
        found = self._custom.get(spec.custom)
        if found is None:
            if len(self._custom) >= 64:  # policies reloaded many times: keep the newest few
                self._custom.clear()
            custom = [CustomEntity(n, p, v, c) for n, p, v, c in spec.custom]
            found = self._custom[spec.custom] = Detector(custom=custom)
        return found

    def tools(self, connection: str) -> MaskingTools:
        return MaskingTools(
            catalog=lambda: self.catalogs.get(connection),
            mask=self.mask,
            detector=self.detector_for,
            stale=lambda: self.catalogs.mark_stale(connection),
            prepare=self.prepare,
            prepare_encoded=self.prepare_encoded,
        )

"""Reading a connection's catalog for the masker, on an upstream session the gateway holds.

The catalog is read on the first masked session of a connection, before its relay starts, and
again when it is older than ``masking.catalog_ttl`` or DDL went through the gateway. One read at a
time per connection; sessions opening meanwhile wait for it. A failed read leaves an empty catalog,
which makes the planner treat every column as of unknown provenance: more masking, never less.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wardgate.masking import (
    COLUMNS_SQL,
    COMPOSITES_SQL,
    TYPES_SQL,
    VIEWS_SQL,
    Catalog,
    ViewColumn,
    ViewInfo,
    sample_sql,
)
from wardgate.sql import analyze

from .upstream import Upstream, UpstreamError, simple_query

__all__ = ["CatalogCache"]

log = logging.getLogger("wardgate.proxy")

#: (table, column, type name, comment, sample values) -> (entity, reason) or None
Classifier = Callable[[str, str, str, str | None, Sequence[str]], tuple[str, str] | None]


@dataclass(slots=True)
class CatalogCache:
    classifier: Classifier
    ttl: float = 300.0
    sample_tables: int = 200
    _catalogs: dict[str, Catalog] = field(default_factory=dict)
    _stale: set[str] = field(default_factory=set)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def get(self, name: str) -> Catalog:
        return self._catalogs.get(name) or Catalog()

    def mark_stale(self, name: str) -> None:
        self._stale.add(name)

    async def ensure(self, name: str, up: Upstream) -> Catalog:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            current = self._catalogs.get(name)
            fresh = current is not None and time.monotonic() - current.loaded_at < self.ttl
            if fresh and name not in self._stale:
                assert current is not None
                return current
            self._stale.discard(name)
            try:
                catalog = await self._load(up)
            except UpstreamError as exc:
                log.warning("catalog of %r could not be read (%s): masking blind", name, exc)
                catalog = Catalog(loaded_at=time.monotonic())
            self._catalogs[name] = catalog
            return catalog

    async def _load(self, up: Upstream) -> Catalog:
        started = time.monotonic()
        catalog = Catalog.build(
            await simple_query(up, COLUMNS_SQL),
            await simple_query(up, TYPES_SQL),
            await simple_query(up, COMPOSITES_SQL),
            loaded_at=started,
        )
        for relid, definition in await simple_query(up, VIEWS_SQL):
            catalog.views[int(relid or 0)] = _view_info(int(relid or 0), definition or "", catalog)
        samples: dict[str, dict[str, list[str]]] = {}
        for schema, table, columns in catalog.sample_targets(self.sample_tables):
            sql = sample_sql(schema, table, columns)
            try:
                rows = await simple_query(
                    up, f"BEGIN READ ONLY; SET LOCAL statement_timeout = 2000; {sql}; COMMIT"
                )
            except UpstreamError:
                await simple_query(up, "ROLLBACK")  # permission denied, timeout: no sample
                continue
            by_col = samples.setdefault(f"{schema}.{table}", {})
            for i, col in enumerate(columns):
                by_col[col] = [v for r in rows if (v := r[i]) is not None]
        catalog.classify(self.classifier, samples)
        log.info(
            "catalog: %d columns, %d classified, read in %.0f ms",
            len(catalog.columns),
            sum(1 for c in catalog.columns.values() if c.entity),
            (time.monotonic() - started) * 1000,
        )
        return catalog


def _view_info(relid: int, definition: str, catalog: Catalog) -> ViewInfo:
    """A view's query analysed with the gateway's own lineage, column by column.

    pg_get_viewdef qualifies names the catalog session's search_path would not find, so the
    analysed sources name the view's real tables. Anything that does not line up exactly makes
    the view opaque: its columns are then of unknown provenance.
    """
    attnums = sorted(c.attnum for c in catalog.columns.values() if c.relid == relid)
    analysis = analyze(definition)
    if analysis.unparsable or len(analysis.statements) != 1:
        return ViewInfo(columns={}, reads=(), opaque=True)
    (st,) = analysis.statements
    cols = st.columns
    if any(c.name == "*" for c in cols) or len(cols) != len(attnums):
        return ViewInfo(columns={}, reads=(), opaque=True)
    reads = tuple(
        (o.schema, o.name) for o in st.objects if o.kind == "relation" and o.access == "read"
    )
    columns = {
        attnum: ViewColumn(c.name, c.sources, c.exact, c.passthrough)
        for attnum, c in zip(attnums, cols, strict=True)
    }
    return ViewInfo(columns=columns, reads=reads, opaque=st.calls_unknown_functions)

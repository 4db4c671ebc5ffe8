"""Masking: detectors, operators, the column planner and the streaming row masker.

`masking` takes values and a plan and returns values; it knows nothing of sockets. The proxy
composes it: the catalog is read upstream, plans are made per result, rows are rewritten as they
pass.
"""

from ._catalog import (
    COLUMNS_SQL,
    COMPOSITES_SQL,
    TYPES_SQL,
    VIEWS_SQL,
    Catalog,
    CatalogColumn,
    ViewColumn,
    ViewInfo,
    sample_sql,
)
from ._copy import CopyFormat, CopyMasker
from ._entities import ENTITIES, FAMILIES, family, matches
from ._masker import (
    DetectorLike,
    MaskFn,
    MaskStats,
    PrepareEncodedFn,
    PrepareFn,
    RowMasker,
    scan_text,
    scrub_message,
)
from ._plan import (
    ColumnAction,
    MaskSpec,
    OutputLike,
    expand_lineage,
    plan_columns,
    strictest,
    view_reads_sensitive,
)
from ._values import TypeInfo, Unmaskable, rewrite

__all__ = [
    "COLUMNS_SQL",
    "COMPOSITES_SQL",
    "ENTITIES",
    "FAMILIES",
    "TYPES_SQL",
    "VIEWS_SQL",
    "Catalog",
    "CatalogColumn",
    "ColumnAction",
    "CopyFormat",
    "CopyMasker",
    "DetectorLike",
    "MaskFn",
    "MaskSpec",
    "MaskStats",
    "OutputLike",
    "PrepareEncodedFn",
    "PrepareFn",
    "RowMasker",
    "TypeInfo",
    "Unmaskable",
    "ViewColumn",
    "ViewInfo",
    "expand_lineage",
    "family",
    "matches",
    "plan_columns",
    "rewrite",
    "sample_sql",
    "scan_text",
    "scrub_message",
    "strictest",
    "view_reads_sensitive",
]

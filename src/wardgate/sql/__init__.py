"""Statement analysis on PostgreSQL's own grammar (pglast / libpg_query): pure functions, no I/O.

`analyze` turns a query string into `Analysis` facts for policy, masking and audit: statement
kinds, the objects each statement touches and how, functions called, hidden and unbounded writes,
settings and anything that could lift the database-side read-only guard, and the lineage of each
result column back to source columns. See `_analyze` for how repeated statements are served from
a cache.
"""

from __future__ import annotations

from ._analyze import analyze, analyze_shaped
from ._facts import (
    KINDS,
    Access,
    Analysis,
    Kind,
    ObjectKind,
    ObjectRef,
    OutputColumn,
    Source,
    StatementFacts,
)
from ._prepare import prepared_body

__all__ = [
    "KINDS",
    "Access",
    "Analysis",
    "Kind",
    "ObjectKind",
    "ObjectRef",
    "OutputColumn",
    "Source",
    "StatementFacts",
    "analyze",
    "analyze_shaped",
    "prepared_body",
]

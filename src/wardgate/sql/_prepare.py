"""The statement a SQL-level PREPARE holds, for deciding the EXECUTE that runs it later.

``PREPARE p AS DELETE FROM t`` is decided when it is prepared, but a policy may change before
``EXECUTE p``, and a rule keyed on the command (``DELETE``) never sees a PREPARE. The session keeps
the analysis of the prepared body and decides every EXECUTE (also inside EXPLAIN or CREATE TABLE
AS) on it as well.
"""

from __future__ import annotations

import pglast
from pglast import ast
from pglast.stream import RawStream

from ._analyze import analyze
from ._facts import Analysis

__all__ = ["prepared_body"]


def prepared_body(statement_text: str) -> Analysis | None:
    """The analysis of what ``PREPARE name AS <body>`` prepares (None if it is not a PREPARE)."""
    try:
        (raw,) = pglast.parse_sql(statement_text)
    except (pglast.parser.ParseError, ValueError):
        return None
    stmt = raw.stmt
    if not isinstance(stmt, ast.PrepareStmt) or stmt.query is None:
        return None
    return analyze(RawStream()(stmt.query))

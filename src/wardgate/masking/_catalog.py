"""What the masker knows about a connection's database: its columns, their types, their classes.

The catalog is read once per connection (the queries are here; the proxy runs them on an upstream
session) and refreshed when it ages or when DDL passes through the gateway. Two ways in: by the
table OID and attribute number PostgreSQL puts in a RowDescription for a plain column reference,
and by name for the sources statement lineage reports. An unqualified name matches the table of
that name in every schema: that can only over-mask, never miss.

Sample values read for classification are used in memory and dropped; they are never logged or
stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ._values import TypeInfo

__all__ = [
    "COLUMNS_SQL",
    "COMPOSITES_SQL",
    "TYPES_SQL",
    "VIEWS_SQL",
    "Catalog",
    "CatalogColumn",
    "Classifier",
    "ViewColumn",
    "ViewInfo",
    "sample_sql",
]

#: Columns of the system catalog that name and shape things and hold no table's values, read
#: into the catalog so that listing tables and columns (psql's \\dt and \\d, an agent's describe
#: tool) through a masking gateway returns names, not tokens: these columns are then known, and
#: not sensitive. Listed column by column, because the same tables also hold values: a column
#: added with a default keeps that value for older rows in ``pg_attribute.attmissingval``, a
#: domain's default is ``pg_type.typdefault``, partial and expression indexes and partition
#: bounds hold constants (``pg_index.indpred``, ``indexprs``, ``pg_class.relpartbound``). Those,
#: the views (``pg_stats`` shows column values) and the tables of expressions, function bodies
#: and comments (pg_attrdef, pg_constraint, pg_proc, pg_description) stay of unknown provenance.
#: Only read-only sessions trust them (`Catalog.without_system`): an identity that may run DDL
#: could name a table after a value.
STRUCTURAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "pg_am": ("oid", "amname", "amtype"),
    "pg_attribute": (
        "attrelid", "attname", "atttypid", "attnum", "attlen", "atttypmod", "attndims",
        "attnotnull", "atthasdef", "atthasmissing", "attidentity", "attgenerated",
        "attisdropped", "attislocal", "attinhcount", "attcollation",
    ),
    "pg_class": (
        "oid", "relname", "relnamespace", "reltype", "reloftype", "relowner", "relam",
        "relpersistence", "relkind", "relnatts", "relchecks", "relhasindex", "relhasrules",
        "relhastriggers", "relhassubclass", "relrowsecurity", "relforcerowsecurity",
        "relispartition", "relreplident",
    ),
    "pg_collation": ("oid", "collname", "collnamespace", "collprovider", "collisdeterministic"),
    "pg_database": ("oid", "datname", "datdba", "encoding", "datistemplate", "datallowconn"),
    "pg_index": (
        "indexrelid", "indrelid", "indnatts", "indnkeyatts", "indisunique", "indisprimary",
        "indisexclusion", "indimmediate", "indisclustered", "indisvalid", "indisready",
        "indislive", "indisreplident", "indkey", "indcollation", "indclass", "indoption",
    ),
    "pg_inherits": ("inhrelid", "inhparent", "inhseqno"),
    "pg_namespace": ("oid", "nspname", "nspowner"),
    "pg_tablespace": ("oid", "spcname", "spcowner"),
    "pg_type": (
        "oid", "typname", "typnamespace", "typowner", "typlen", "typbyval", "typtype",
        "typcategory", "typispreferred", "typisdefined", "typdelim", "typrelid", "typelem",
        "typarray", "typbasetype", "typtypmod", "typndims", "typcollation", "typnotnull",
    ),
}  # fmt: skip
_STRUCTURAL = ", ".join(
    f"'{table}.{column}'" for table, columns in STRUCTURAL_COLUMNS.items() for column in columns
)

COLUMNS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind, a.attnum, a.attname, a.atttypid,
       t.typname, a.atttypmod, col_description(c.oid, a.attnum)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
WHERE (c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast')
   OR (n.nspname = 'pg_catalog' AND c.relkind = 'r'
       AND c.relname::text || '.' || a.attname::text IN ({structural}))
ORDER BY c.oid, a.attnum
""".strip().format(structural=_STRUCTURAL)


TYPES_SQL = """
SELECT oid, typname, typtype, typelem, typbasetype, typcategory FROM pg_catalog.pg_type
""".strip()

VIEWS_SQL = """
SELECT c.oid, pg_catalog.pg_get_viewdef(c.oid)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
""".strip()

COMPOSITES_SQL = """
SELECT t.oid, string_agg(a.atttypid::text, ',' ORDER BY a.attnum)
FROM pg_catalog.pg_type t
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
WHERE t.typtype = 'c'
GROUP BY t.oid
""".strip()

_SAMPLE_ROWS = 40
_TEXTUAL_TYPES = frozenset({"text", "varchar", "bpchar", "citext", "json", "jsonb", "name"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogColumn:
    relid: int
    schema: str
    table: str
    column: str
    attnum: int
    type_name: str
    type_oid: int
    max_length: int | None  # characters of varchar(n)/char(n)
    comment: str | None
    relkind: str  # r table, p partitioned, v view, m materialized view, f foreign table
    entity: str | None = None  # what the classifier found it holds
    reason: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True, slots=True)
class ViewColumn:
    """The lineage of one column of a view's query (see `wardgate.sql.OutputColumn`)."""

    name: str
    sources: frozenset[tuple[str | None, str, str]]
    exact: bool
    passthrough: bool


@dataclass(frozen=True, slots=True)
class ViewInfo:
    """What a view's (or materialized view's) defining query reads and how its columns flow.

    ``opaque`` says the analyzer could not see through it (it did not parse, its column count
    did not match, or it calls functions that may read anything): its columns are then of
    unknown provenance, as every view was before views were analysed.
    """

    columns: dict[int, ViewColumn]  # attnum -> lineage
    reads: tuple[tuple[str | None, str], ...]
    opaque: bool


#: (table, column, type name, comment, sample values) -> (entity, reason) or None.
Classifier = Callable[[str, str, str, str | None, Sequence[str]], tuple[str, str] | None]


@dataclass(slots=True)
class Catalog:
    columns: dict[tuple[int, int], CatalogColumn] = field(default_factory=dict)
    types: dict[int, TypeInfo] = field(default_factory=dict)
    by_table: dict[str, list[CatalogColumn]] = field(default_factory=dict)  # bare table name
    loaded_at: float = 0.0
    views: dict[int, ViewInfo] = field(default_factory=dict)  # relid -> its analysed query
    _plain: Catalog | None = field(default=None, repr=False, compare=False)

    def without_system(self) -> Catalog:
        """This catalog without the system columns (`STRUCTURAL_COLUMNS`): what a session that
        may run DDL plans with, since it could have put a value in a name. Built once."""
        if self._plain is None:
            plain = Catalog(types=self.types, loaded_at=self.loaded_at, views=self.views)
            for key, col in self.columns.items():
                if col.schema != "pg_catalog":
                    plain.columns[key] = col
                    plain.by_table.setdefault(col.table, []).append(col)
            self._plain = plain
        return self._plain

    @classmethod
    def build(
        cls,
        column_rows: Iterable[Sequence[str | None]],
        type_rows: Iterable[Sequence[str | None]],
        composite_rows: Iterable[Sequence[str | None]],
        *,
        loaded_at: float = 0.0,
    ) -> Catalog:
        """From the text rows of `COLUMNS_SQL`, `TYPES_SQL` and `COMPOSITES_SQL`."""
        fields: dict[int, tuple[int, ...]] = {}
        for oid, attrs in composite_rows:
            fields[int(oid or 0)] = tuple(int(a) for a in (attrs or "").split(",") if a)
        cat = cls(loaded_at=loaded_at)
        for oid, name, kind, elem, base, category in type_rows:
            o = int(oid or 0)
            cat.types[o] = TypeInfo(
                oid=o,
                name=name or "",
                kind=kind or "b",
                element=int(elem or 0),
                base=int(base or 0),
                fields=fields.get(o, ()),
                category=category or "U",
            )
        for row in column_rows:
            relid, schema, table, relkind, attnum, attname, typid, typname, typmod, comment = row
            typ = typname or ""
            col = CatalogColumn(
                relid=int(relid or 0),
                schema=schema or "",
                table=table or "",
                column=attname or "",
                attnum=int(attnum or 0),
                type_name=typ,
                type_oid=int(typid or 0),
                max_length=_max_length(typ, int(typmod or -1)),
                comment=comment,
                relkind=relkind or "r",
            )
            cat.columns[(int(relid or 0), col.attnum)] = col
            cat.by_table.setdefault(col.table, []).append(col)
        return cat

    def find(self, schema: str | None, table: str, column: str) -> list[CatalogColumn]:
        """Columns a lineage source can be; ``*`` is every column of the table."""
        found = []
        for col in self.by_table.get(table, ()):
            if schema is not None and col.schema != schema:
                continue
            if column in ("*", col.column):
                found.append(col)
        return found

    def relation(self, schema: str | None, table: str) -> list[CatalogColumn]:
        return self.find(schema, table, "*")

    def classify(self, classifier: Classifier, samples: dict[str, dict[str, list[str]]]) -> None:
        """Attach what ``classifier`` finds to each column; ``samples`` by table key, column."""
        for key, col in list(self.columns.items()):
            values = samples.get(f"{col.schema}.{col.table}", {}).get(col.column, [])
            found = classifier(col.table, col.column, col.type_name, col.comment, values)
            if found is not None:
                entity, reason = found
                new = CatalogColumn(
                    **{s: getattr(col, s) for s in _FIELDS}, entity=entity, reason=reason
                )
                self.columns[key] = new
                peers = self.by_table[col.table]
                peers[peers.index(col)] = new

    def sample_targets(self, limit: int) -> list[tuple[str, str, list[str]]]:
        """(schema, table, textual columns) of up to ``limit`` tables worth sampling."""
        tables: dict[tuple[str, str], list[str]] = {}
        for col in self.columns.values():
            if col.schema == "pg_catalog":
                continue  # names of things, not data: nothing to learn from a sample
            if col.relkind in ("r", "p", "m") and col.type_name in _TEXTUAL_TYPES:
                tables.setdefault((col.schema, col.table), []).append(col.column)
        return [(s, t, cols) for (s, t), cols in list(tables.items())[:limit]]


_FIELDS = (
    "relid",
    "schema",
    "table",
    "column",
    "attnum",
    "type_name",
    "type_oid",
    "max_length",
    "comment",
    "relkind",
)


def _max_length(type_name: str, typmod: int) -> int | None:
    if type_name in ("varchar", "bpchar") and typmod > 4:
        return typmod - 4
    return None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sample_sql(schema: str, table: str, columns: Sequence[str]) -> str:
    """A small sample of text columns, for the classifier. Casts keep every type readable."""
    cols = ", ".join(f"{_ident(c)}::text" for c in columns)
    # Identifiers are quoted by _ident; nothing else from outside goes in.
    return f"SELECT {cols} FROM {_ident(schema)}.{_ident(table)} LIMIT {_SAMPLE_ROWS}"  # noqa: S608

"""What the analyzer knows about PostgreSQL builtins without asking the database.

These tables are deliberately small and explicit. A function missing from `PURE_FUNCTIONS` is not
assumed harmful, only unproven: the statement gets ``calls_unknown_functions`` and policy decides.
Functions listed under an effect are matched on their bare name whatever schema the SQL names,
because extensions such as dblink install into any schema; that can only over-report.
"""

from __future__ import annotations

__all__ = [
    "ADMIN_FUNCTIONS",
    "ADMIN_FUNCTION_PREFIXES",
    "BUILTIN_OPERATORS",
    "COUNTING_AGGREGATES",
    "PURE_FUNCTIONS",
    "READ_ONLY_SETTINGS",
    "RESTRICTED_SETTINGS",
    "SETTING_FUNCTIONS",
    "VALUE_AGGREGATES",
    "VALUE_BLIND_FUNCTIONS",
    "WRITE_FUNCTIONS",
    "is_admin_function",
    "is_true",
]

#: Builtins without side effects that a read-only identity may call. Volatile ones such as
#: ``random`` are here too: volatility is not the question, side effects are.
PURE_FUNCTIONS: frozenset[str] = frozenset(
    {
        # aggregates and window functions
        "count", "sum", "avg", "min", "max", "bool_and", "bool_or", "every", "string_agg",
        "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "stddev",
        "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "percentile_cont",
        "percentile_disc", "mode", "row_number", "rank", "dense_rank", "percent_rank",
        "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
        # text
        "lower", "upper", "initcap", "length", "char_length", "character_length", "octet_length",
        "substring", "substr", "btrim", "ltrim", "rtrim", "trim", "lpad", "rpad", "replace",
        "split_part", "concat", "concat_ws", "left", "right", "reverse", "position", "strpos",
        "starts_with", "format", "md5", "regexp_replace", "regexp_match", "regexp_matches",
        "regexp_split_to_array", "to_hex", "quote_ident", "quote_literal", "translate", "overlay",
        # numbers
        "abs", "round", "trunc", "floor", "ceil", "ceiling", "mod", "power", "sqrt", "exp", "ln",
        "log", "sign", "greatest", "least", "random", "width_bucket",
        # dates and times
        "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "date_trunc",
        "date_part", "extract", "age", "make_date", "make_timestamp", "make_interval",
        "to_char", "to_date", "to_timestamp", "to_number", "timezone", "isfinite", "date_bin",
        # arrays, json, misc
        "array_length", "array_to_string", "string_to_array", "cardinality", "unnest",
        "array_position", "generate_series", "to_json", "to_jsonb", "row_to_json",
        "json_build_object", "jsonb_build_object", "json_build_array", "jsonb_build_array",
        "jsonb_set", "jsonb_extract_path_text", "json_extract_path_text", "jsonb_array_elements",
        "json_array_elements", "jsonb_each", "jsonb_pretty", "jsonb_typeof", "coalesce", "nullif",
        "num_nulls", "num_nonnulls", "pg_typeof", "gen_random_uuid", "version", "current_setting",
        "current_database", "current_schema", "pg_backend_pid",
    }
)  # fmt: skip

#: Operators of the core types (PostgreSQL's operator names, not their overloads). Any other
#: operator comes from an extension or a user and runs a function the analyzer cannot see.
BUILTIN_OPERATORS: frozenset[str] = frozenset(
    {
        "+", "-", "*", "/", "%", "^", "=", "<>", "!=", "<", ">", "<=", ">=", "||", "~~", "!~~",
        "~~*", "!~~*", "~", "~*", "!~", "!~*", "@>", "<@", "&&", "->", "->>", "#>", "#>>", "#-",
        "?", "?|", "?&", "@?", "@@", "@@@", "|/", "||/", "@", "&", "|", "#", "<<", ">>", "<<=",
        ">>=", "-|-", "&<", "&>", "<<|", "|>>", "&<|", "|&>", "<->", "##", "?#", "?-", "?-|",
        "?||", "^@", "!!",
    }
)  # fmt: skip

#: Aggregates whose result reveals how many rows there were, never a value.
COUNTING_AGGREGATES: frozenset[str] = frozenset({"count"})

#: Functions whose result says how big or whether, never what: lineage gives them no source, so
#: masking passes ``length(email)`` through while it masks ``upper(email)`` whole.
VALUE_BLIND_FUNCTIONS: frozenset[str] = frozenset(
    {
        "count", "length", "char_length", "character_length", "octet_length", "bit_length",
        "num_nulls", "num_nonnulls", "cardinality", "array_length", "pg_column_size",
    }
)  # fmt: skip

#: Aggregates that return one of their input values unchanged (so the value keeps its lineage).
VALUE_AGGREGATES: frozenset[str] = frozenset({"min", "max"})

#: Functions that write (sequences, large objects): a read calling them is a hidden write, and
#: PostgreSQL itself refuses them in a read-only transaction.
WRITE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "nextval", "setval", "lo_create", "lo_creat", "lo_unlink", "lo_put", "lo_from_bytea",
        "lowrite", "lo_truncate", "lo_truncate64", "lo_import",
    }
)  # fmt: skip

#: Server administration, server file access, and functions that run SQL text or read relations
#: named in strings the analyzer cannot see (query_to_xml, table_to_xml, ts_stat, dblink): all
#: of them bypass object-level policy, so they count as admin.
ADMIN_FUNCTIONS: frozenset[str] = frozenset(
    {
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_promote", "pg_read_file", "pg_read_binary_file", "pg_stat_file", "lo_import",
        "lo_export", "pg_switch_wal", "pg_create_restore_point", "pg_log_backend_memory_contexts",
        "pg_import_system_collations", "pg_logdir_ls", "query_to_xml", "query_to_xmlschema",
        "query_to_xml_and_xmlschema", "table_to_xml", "table_to_xmlschema",
        "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema", "schema_to_xml",
        "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml",
        "database_to_xmlschema", "database_to_xml_and_xmlschema", "ts_stat",
    }
)  # fmt: skip

ADMIN_FUNCTION_PREFIXES: tuple[str, ...] = (
    "dblink",
    "pg_file_",
    "pg_ls_",
    "pg_stat_reset",
    "pg_backup_",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_wal_replay_",
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_replication_origin_",
)

#: Functions that change settings; their arguments are read to fill ``settings``.
SETTING_FUNCTIONS: frozenset[str] = frozenset({"set_config"})

#: Settings whose change can lift the database-side read-only guard.
READ_ONLY_SETTINGS: frozenset[str] = frozenset(
    {"default_transaction_read_only", "transaction_read_only"}
)

#: Settings that set_config may not change without counting as admin: the read-only guard,
#: identity switches, and what decides name resolution and trigger/row-security behaviour.
RESTRICTED_SETTINGS: frozenset[str] = READ_ONLY_SETTINGS | {
    "role",
    "session_authorization",
    "session_replication_role",
    "row_security",
    "search_path",
}


def is_admin_function(bare_name: str) -> bool:
    """True for functions that act on the server rather than on data."""
    return bare_name in ADMIN_FUNCTIONS or bare_name.startswith(ADMIN_FUNCTION_PREFIXES)


def is_true(value: str | None) -> bool:
    """PostgreSQL's boolean parsing for a setting value (``t``, ``ye``, ``on``, ``1``...).

    Only a value PostgreSQL reads as true keeps a read-only setting on; anything else, including
    reset to default and values it would reject, counts as switching it off (fail closed).
    """
    if value is None:
        return False
    word = value.strip().lower()
    if word in ("on", "1"):
        return True
    return bool(word) and any(w.startswith(word) for w in ("true", "yes"))

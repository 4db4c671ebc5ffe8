"""Loading: every error with its file and line, all at once; the content hash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wardgate.policy import PolicyError, PolicyLoadError, load_policy

GOOD = """\
rules:
  - id: ok
    match: {groups: [a]}
    effect: allow
"""


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(textwrap.dedent(text))


def errors_of(directory: Path) -> list[PolicyError]:
    with pytest.raises(PolicyLoadError) as info:
        load_policy(directory)
    return list(info.value.errors)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("rules:\n  - id: x\n    effect: [allow\n", 4, "invalid YAML"),
        (GOOD + "  - id: y\n    effect: allow\n    mach: {}\n", 7, "mach"),
        (GOOD + "  - id: y\n    match: {grops: [a]}\n    effect: allow\n", 6, "grops"),
        (GOOD + "  - id: y\n    effect: permit\n", 6, "effect"),
        (
            GOOD + '  - id: y\n    match:\n      when: "identity.name =="\n    effect: allow\n',
            7,
            "CEL syntax error",
        ),
        (GOOD + "  - id: y\n    effect: review\n", 5, "review"),
        (
            GOOD + "  - id: y\n    effect: deny\n    mask: [{columns: [a], operator: redact}]\n",
            5,
            "deny",
        ),
        (
            GOOD + "  - id: y\n    match: {statement_kinds: [reads]}\n    effect: allow\n",
            6,
            "reads",
        ),
        (
            GOOD + "  - id: y\n    match: {objects: [customers]}\n    effect: allow\n",
            6,
            "schema.name",
        ),
        (GOOD + "  - id: y\n    effect: allow\n    effect: deny\n", 7, "duplicate key"),
    ],
    ids=[
        "bad-yaml",
        "unknown-rule-key",
        "unknown-match-key",
        "wrong-effect",
        "cel-syntax",
        "review-without-params",
        "deny-with-mask",
        "unknown-kind",
        "bad-object",
        "dup-key",
    ],
)
def test_error_has_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    write(tmp_path, "a.yaml", GOOD.replace("ok", "in-a"))
    write(tmp_path, "b.yaml", text)
    [error] = errors_of(tmp_path)
    assert (error.file, error.line) == ("b.yaml", line), error
    assert fragment in error.message


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "# comment\n" + GOOD)
    [error] = errors_of(tmp_path)
    assert (error.file, error.line) == ("b.yaml", 3)
    assert "duplicate rule id 'ok'" in error.message and "a.yaml:2" in error.message


def test_all_errors_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "rules:\n  - id: x\n    effect: nope\n")
    write(tmp_path, "b.yaml", "rules: [\n")
    write(tmp_path, "c.yaml", GOOD)
    errors = errors_of(tmp_path)
    assert [e.file for e in errors] == ["a.yaml", "b.yaml"]
    assert "a.yaml:3:" in str(PolicyLoadError(errors))


def test_missing_directory(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nope")[0].message == "not a directory"


def test_empty_directory_and_empty_file(tmp_path: Path) -> None:
    assert load_policy(tmp_path).rules == ()
    write(tmp_path, "empty.yaml", "")
    assert load_policy(tmp_path).rules == ()


def test_rules_keep_file_order_and_lines(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", GOOD.replace("ok", "second"))
    write(tmp_path, "a.yaml", "\n\n" + GOOD.replace("ok", "first"))
    policy = load_policy(tmp_path)
    assert [(r.id, r.file, r.line) for r in policy.rules] == [
        ("first", "a.yaml", 4),
        ("second", "b.yaml", 2),
    ]


def test_version_hash(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    sub = tmp_path / "team"
    sub.mkdir()
    write(sub, "b.yaml", GOOD.replace("ok", "other"))
    first = load_policy(tmp_path).version
    assert len(first) == 64
    assert load_policy(tmp_path).version == first  # stable
    (tmp_path / "notes.txt").write_text("not policy")
    assert load_policy(tmp_path).version == first  # only policy files count
    write(sub, "b.yaml", GOOD.replace("ok", "other") + "# a comment\n")
    changed = load_policy(tmp_path).version
    assert changed != first  # any byte of any file
    (sub / "b.yaml").rename(sub / "c.yaml")
    assert load_policy(tmp_path).version != changed  # the path is part of the content


def test_broken_policy_never_half_loads(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    good = load_policy(tmp_path)
    write(tmp_path, "b.yaml", "rules:\n  - {id: y, effect: allow, match: {when: '1 +'}}\n")
    with pytest.raises(PolicyLoadError):
        load_policy(tmp_path)
    assert [r.id for r in good.rules] == ["ok"]


def test_custom_entities_and_column_pins_load(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.yaml",
        """\
        entities:
          - {name: employee_id, pattern: "EMP-[0-9]{6}", context: [employee]}
          - {name: vat, pattern: "[A-Z]{2}[0-9]{9}", validator: stdnum.eu.vat}
        classify:
          - {columns: ["shop.products.*"], entity: null}
          - {columns: ["*.staff.badge"], entity: "custom:employee_id"}
        """,
    )
    policy = load_policy(tmp_path)
    assert [e.name for e in policy.entities] == ["employee_id", "vat"]
    assert [(c.columns, c.entity) for c in policy.classify] == [
        (("shop.products.*",), None),
        (("*.staff.badge",), "custom:employee_id"),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("entities: [{name: x, pattern: '([a-z'}]\n", "does not compile"),
        ("entities: [{name: x, pattern: a, validator: rot13}]\n", "validator must be"),
        ("entities: [{name: x, pattern: a, validator: stdnum.xx.nope}]\n", "does not exist"),
        ("entities: [{name: Bad-Name, pattern: a}]\n", "name"),
        ("classify: [{columns: [a]}]\n", "entity"),
        ("entities:\n  - {name: x, pattern: a}\n  - {name: x, pattern: b}\n", "defined twice"),
    ],
)
def test_broken_entities_and_pins_are_load_errors(tmp_path: Path, text: str, fragment: str) -> None:
    write(tmp_path, "p.yaml", text)
    (err,) = errors_of(tmp_path)
    assert fragment in err.message and err.file == "p.yaml" and err.line >= 1

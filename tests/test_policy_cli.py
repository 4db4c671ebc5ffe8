"""`wardgate policy lint|test|explain` as a CI job or an operator would run them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "policies"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wardgate.cli.main", "policy", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_examples_lint_and_test_pass() -> None:
    lint = _cli("lint", str(EXAMPLES))
    assert lint.returncode == 0 and lint.stdout.startswith("ok: ") and "version" in lint.stdout
    run = _cli("test", str(EXAMPLES))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith(" passed, 0 failed")
    assert "FAIL" not in run.stdout


def test_broken_policy_reports_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "rules:\n  - id: a\n    match: {groups: [x]}\n    effect: allow\n"
        "  - id: b\n    match: {when: 'identity.name ==='}\n    effect: allow\n"
    )
    result = _cli("lint", str(tmp_path))
    assert result.returncode == 1
    assert "bad.yaml:5" in result.stderr or "bad.yaml:6" in result.stderr
    assert "policy not loaded" in result.stderr


def test_failing_policy_test_exits_nonzero(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "p")
    (tmp_path / "p" / "wrong.yaml").write_text(
        "tests:\n  - name: analysts may drop tables (they may not)\n"
        "    identity: {name: alice, groups: [analysts]}\n    connection: {name: shop}\n"
        "    sql: DROP TABLE shop.customers\n    expect: {effect: allow}\n"
    )
    result = _cli("test", str(tmp_path / "p"))
    assert result.returncode == 1
    assert "FAIL wrong.yaml:2 analysts may drop tables" in result.stdout
    assert result.stdout.rstrip().endswith(" passed, 1 failed")


def test_explain_names_the_rule_and_what_the_sql_was_read_as() -> None:
    hidden = _cli(
        "explain",
        str(EXAMPLES),
        "--user",
        "agent-7",
        "--groups",
        "agents",
        "--kind",
        "agent",
        "--connection",
        "shop",
        "--sql",
        "WITH d AS (DELETE FROM shop.orders RETURNING id) SELECT * FROM d",
    )
    assert hidden.returncode == 1
    assert "effect:    deny" in hidden.stdout and "kinds=read,write" in hidden.stdout
    nobody = _cli(
        "explain", str(EXAMPLES), "--user", "eve", "--connection", "shop", "--sql", "SELECT 1"
    )
    assert nobody.returncode == 1 and "default deny" in nobody.stdout

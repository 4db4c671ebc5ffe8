"""`wardgate demo --check` starts everything and runs its tour through the gateway with psql."""

from __future__ import annotations

import os
import subprocess
import sys

from wardgate.devdb import free_port


def test_demo_check_runs_the_tour() -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "wardgate.cli.main", "demo", "--check", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"port={port} dbname=shop user=alice" in out
    assert "wardgate_svc | shop" in out  # the tour's first query, answered through the gateway
    assert "cancelled |" in out  # the agent's allowed read of orders
    assert "9 statement.intent, 9 statement.outcome), hash chain verified." in out  # audited
    err = result.stderr
    assert "Analysts cannot read API tokens" in err
    # The engineer's DELETE waited, the DBA approved it from the CLI, and then it ran.
    assert "waiting for approval: review rv-" in out  # psql's NOTICE, shown by the tour
    assert "approved" in out and "exact: deletes" in out  # the review, with its preview
    assert "DELETE " in out.split("bob's psql, which was waiting all along:")[1]
    assert err.count("ERROR:") == 3  # exactly the three refused steps

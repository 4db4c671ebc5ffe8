"""Shared plumbing for the benchmark scripts: start/stop PostgreSQL, pgbouncer and the gateway.

Every process started here is registered on an ExitStack by the caller, so it is stopped on normal
exit, on errors, on Ctrl-C and on SIGTERM (which `install_sigterm_handler` turns into SystemExit).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wardgate.devdb import SERVICE_USER, EmbeddedPostgres, PgInstance, free_port

GATEWAY_USER = "bench"
GATEWAY_PASSWORD = "bench-gateway-pw"
_LISTENING = re.compile(r"wardgate listening on (\S+):(\d+)")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client connects, with which credentials."""

    name: str
    host: str
    port: int
    dbname: str
    user: str
    password: str

    def libpq_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGDATABASE=self.dbname,
            PGUSER=self.user,
            PGPASSWORD=self.password,
            PGSSLMODE="disable",
            PGCONNECT_TIMEOUT="10",
        )
        return env

    def conninfo(self) -> str:
        return (
            f"host={self.host} port={self.port} dbname={self.dbname} user={self.user} "
            f"password={self.password} sslmode=disable connect_timeout=10"
        )


def install_sigterm_handler() -> None:
    """Make SIGTERM unwind like Ctrl-C does, so `finally`/ExitStack cleanup runs."""

    def _raise(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def start_postgres(
    stack: contextlib.ExitStack, settings: dict[str, str]
) -> tuple[EmbeddedPostgres, PgInstance]:
    pg = EmbeddedPostgres(settings=settings)
    stack.callback(pg.stop)
    inst = pg.start()
    log(f"PostgreSQL on {inst.host}:{inst.port}")
    return pg, inst


def direct_endpoint(inst: PgInstance, dbname: str) -> Endpoint:
    return Endpoint("direct", inst.host, inst.port, dbname, inst.superuser, inst.password)


def pg_version(pg: EmbeddedPostgres) -> str:
    return pg.run_sql("SELECT version()").strip()


def machine_facts(pg: EmbeddedPostgres) -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "postgres": pg_version(pg),
        "kernel": platform.release(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _stop_process(proc: subprocess.Popen[str], name: str) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) ignored SIGTERM; killing it")
        proc.kill()
        proc.wait(timeout=10)


def _drain(stream: IO[str], sink: list[str]) -> None:
    """Keep reading a child's output so it never blocks on a full pipe; keep a tail for errors."""
    for line in stream:
        sink.append(line)
        if len(sink) > 200:
            del sink[:100]


def _temp_dir(stack: contextlib.ExitStack, prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def start_gateway(
    stack: contextlib.ExitStack,
    inst: PgInstance,
    dbname: str,
    timeout: float = 30.0,
    *,
    policy_dir: Path | None = None,
    groups: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    extra_config: str = "",
    extra_env: Mapping[str, str] | None = None,
    wrapper: Sequence[str] = (),
    audit_off: bool = True,
) -> tuple[Endpoint, subprocess.Popen[str]]:
    """Run `wardgate serve` as a child process; returns its endpoint and the process (for RSS).

    ``policy_dir`` turns on policy enforcement; ``groups`` are the identity's groups and ``tags``
    the connection's tags, both as the policy sees them. ``extra_config`` is appended to the
    config as top-level YAML (e.g. a ``masking:`` section) and ``extra_env`` is added to the
    gateway's environment (for the ``env:`` secrets that YAML names). ``wrapper`` goes in front
    of the command (e.g. ``python -m cProfile -o out.prof``). ``audit_off=False`` leaves the
    ``audit:`` section out, for a gateway whose config has none (a commit older than the audit
    log).
    """
    wardgate = Path(sys.executable).with_name("wardgate")
    exe = str(wardgate) if wardgate.exists() else (shutil.which("wardgate") or "wardgate")
    verifier = subprocess.run(
        [exe, "identity", "scram-verifier", "--password-stdin"],
        input=GATEWAY_PASSWORD,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    workdir = _temp_dir(stack, "wardgate-bench-gw-")
    config = workdir / "gateway.yaml"
    config.write_text(
        f"listen: {{host: 127.0.0.1, port: {free_port()}}}\n"
        "connections:\n"
        f"  - name: {dbname}\n"
        f"    host: {inst.host}\n"
        f"    port: {inst.port}\n"
        f"    database: {dbname}\n"
        f"    user: {inst.superuser}\n"
        "    password: env:BENCH_PG_PASSWORD\n"
        "    sslmode: disable\n"
        f"    tags: {json.dumps(dict(tags or {}))}\n"
        "identities:\n"
        f"  - name: {GATEWAY_USER}\n"
        f'    scram_verifier: "{verifier}"\n'
        f"    groups: {json.dumps(list(groups))}\n"
        + (f"policy_dir: {json.dumps(str(policy_dir))}\n" if policy_dir is not None else "")
        + extra_config
        # Each script measures what it names: audit is on by default in the gateway, and its
        # cost is audit_cost.py's to measure, so the others run without it unless they ask.
        + ("audit: {enabled: false}\n" if audit_off and "audit:" not in extra_config else "")
    )
    env = dict(os.environ, BENCH_PG_PASSWORD=inst.password, **(extra_env or {}))
    proc = subprocess.Popen(
        [*wrapper, exe, "serve", "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    stack.callback(_stop_process, proc, "wardgate")
    assert proc.stdout is not None
    tail: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        tail.append(line)
        if match := _LISTENING.search(line):
            threading.Thread(target=_drain, args=(proc.stdout, tail), daemon=True).start()
            endpoint = Endpoint(
                "gateway",
                match.group(1),
                int(match.group(2)),
                dbname,
                GATEWAY_USER,
                GATEWAY_PASSWORD,
            )
            log(f"wardgate (pid {proc.pid}) on {endpoint.host}:{endpoint.port}")
            return endpoint, proc
    _stop_process(proc, "wardgate")
    raise RuntimeError(f"wardgate did not start (exit {proc.poll()}):\n{''.join(tail[-40:])}")


def ensure_pgbouncer() -> str | None:
    """Path of pgbouncer, installing the Debian package if we are root; None (with why) if not."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log("SKIP pgbouncer baseline: not on PATH and cannot apt-get install it (need root + apt)")
        return None
    log("installing pgbouncer with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "pgbouncer"]):
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            log(f"SKIP pgbouncer baseline: {' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
            return None
    return shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def start_pgbouncer(
    stack: contextlib.ExitStack, inst: PgInstance, dbname: str, timeout: float = 30.0
) -> Endpoint | None:
    """Session-pooling pgbouncer in front of `inst`; runs as the postgres service user if root."""
    exe = ensure_pgbouncer()
    if exe is None:
        return None
    workdir = _temp_dir(stack, "wardgate-bench-pgb-")
    port = free_port()
    (workdir / "userlist.txt").write_text(f'"{inst.superuser}" "{inst.password}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{dbname} = host={inst.host} port={inst.port} dbname={dbname}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = session\nmax_client_conn = 200\ndefault_pool_size = 20\n"
        f"logfile = {workdir / 'pgbouncer.log'}\nadmin_users =\n"
    )
    ids: dict[str, Any] = {}
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        account = pwd.getpwnam(SERVICE_USER)  # created by EmbeddedPostgres when running as root
        for path in (workdir, *workdir.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
        ids = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    proc = subprocess.Popen(
        [exe, str(workdir / "pgbouncer.ini")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=workdir,
        **ids,
    )
    stack.callback(_stop_process, proc, "pgbouncer")
    endpoint = Endpoint("pgbouncer", "127.0.0.1", port, dbname, inst.superuser, inst.password)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            logfile = workdir / "pgbouncer.log"
            output += logfile.read_text() if logfile.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}:\n{output[-3000:]}")
        with contextlib.suppress(OSError), _connect(endpoint.host, port):
            log(f"pgbouncer (pid {proc.pid}) on 127.0.0.1:{port}")
            return endpoint
        time.sleep(0.1)
    raise RuntimeError("pgbouncer did not start listening in time")


@contextlib.contextmanager
def _connect(host: str, port: int) -> Iterator[None]:
    import socket

    with socket.create_connection((host, port), timeout=1):
        yield


def peak_rss_kib(pid: int) -> int:
    """VmHWM (peak resident set size) of a live process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")

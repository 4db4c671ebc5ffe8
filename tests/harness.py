"""Test harness: a real gateway on its own event loop thread, in front of a real PostgreSQL.

Running the gateway on a separate thread (with uvloop, as in production) lets synchronous clients
(psycopg, psql subprocesses) and asyncio clients on pytest's loop use it alike.

Every gateway records to an audit store of its own in a temporary directory unless its config says
otherwise, and when it stops the harness checks what was recorded (`check_audit`): the chain
verifies, every statement intent has exactly one outcome and every session that started ended. So
every gateway test also tests the audit wiring under whatever that test does to the gateway.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wardgate.audit import AuditStore, iter_events, open_store, verify
from wardgate.config import GatewayConfig
from wardgate.pgwire._scram import make_verifier
from wardgate.proxy import Gateway

USERS = {"tester": "tester-pw", "other": "other-pw"}


def identities() -> list[dict[str, Any]]:
    return [
        {"name": name, "scram_verifier": make_verifier(pw, iterations=4096).to_text()}
        for name, pw in USERS.items()
    ]


class RunningGateway:
    def __init__(self, config: GatewayConfig, *, check: bool = True) -> None:
        self.config = config
        self.check = check and config.audit.enabled  # check_audit when stopping
        self.loop = uvloop.new_event_loop()
        self.gateway = Gateway(config)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.call(self.gateway.start())

    def call(self, coro: Any, timeout: float = 30) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    @property
    def port(self) -> int:
        return self.gateway.port

    def dsn(self, user: str = "tester", database: str = "shop", **extra: str) -> str:
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "dbname": database,
            "user": user,
            "password": USERS.get(user, "nope"),
            "sslmode": "disable",
            **extra,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def store(self) -> Any:
        """Run ``work(store)`` on the gateway's loop against its audit store: ``gw.store()(fn)``."""

        def run(work: Any) -> Any:
            async def main() -> Any:
                store = await open_store(self.config.audit, self.config.base_dir)
                try:
                    return await work(store)
                finally:
                    await store.close()

            return self.call(main(), timeout=120)

        return run

    def stop(self) -> None:
        try:
            self.call(self.gateway.close())
            if self.check:
                self.store()(check_audit)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


async def check_audit(store: AuditStore) -> dict[str, int]:
    """What every gateway's audit log must satisfy after a clean stop; counts per event type.

    The chain verifies; each intent has exactly one outcome and no outcome lacks its intent;
    statement numbers run 1..n per session; every session that started ended, saying how many
    statements it ran.
    """
    report = await verify(store)
    assert report.problem is None, f"audit chain: {report.problem}"
    types: Counter[str] = Counter()
    intents: dict[str, list[int]] = {}
    outcomes: Counter[tuple[str, int]] = Counter()
    started: set[str] = set()
    ended: dict[str, int] = {}
    async for event in iter_events(store):
        d = event.data
        types[event.type] += 1
        if event.type == "statement.intent":
            intents.setdefault(d["session_id"], []).append(d["statement_seq"])
        elif event.type == "statement.outcome":
            outcomes[(d["session_id"], d["statement_seq"])] += 1
        elif event.type == "session.started":
            started.add(d["session_id"])
        elif event.type == "session.ended":
            assert d["session_id"] not in ended, f"session {d['session_id']} ended twice"
            ended[d["session_id"]] = d["statements"]
    for session, seqs in intents.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"session {session}: statements {seqs}"
        assert ended.get(session) == len(seqs), f"session {session}: {len(seqs)} intents"
    expected = {(s, n) for s, seqs in intents.items() for n in seqs}
    twice = {k for k, v in outcomes.items() if v != 1}
    assert not twice, f"outcomes recorded more than once: {sorted(twice)[:5]}"
    assert set(outcomes) == expected, (
        f"intents without an outcome: {sorted(expected - set(outcomes))[:5]}, "
        f"outcomes without an intent: {sorted(set(outcomes) - expected)[:5]}"
    )
    assert started == set(ended), f"started but not ended: {sorted(started - set(ended))[:5]}"
    return dict(types)


@contextmanager
def running_gateway(raw: dict[str, Any], *, check: bool = True) -> Iterator[RunningGateway]:
    """A gateway for ``raw`` (a config as YAML would give it) on its own loop thread.

    Without an ``audit`` section the gateway records to a store in a temporary directory (with
    ``sqlite_synchronous: normal``: tests need no power-loss durability), removed afterwards.
    """
    workdir = None
    if "audit" not in raw:
        workdir = tempfile.mkdtemp(prefix="wardgate-test-audit-")
        raw = {**raw, "audit": {"store": f"{workdir}/audit.db", "sqlite_synchronous": "normal"}}
    try:
        gw = RunningGateway(GatewayConfig.model_validate(raw), check=check)
        gw.start()
        try:
            yield gw
        finally:
            gw.stop()
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def self_signed_cert(common_name: str) -> tuple[bytes, bytes]:
    """A self-signed CA certificate for localhost and 127.0.0.1, and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem

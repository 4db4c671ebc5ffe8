"""Where the gateway's time goes: the same gateway with full decoding vs as a raw byte pump.

Runs pgbench -S against PostgreSQL directly, through the gateway as shipped (every message decoded
into a typed event and re-encoded), and through the same gateway with its relay callbacks swapped
for a plain byte pump (no framing, no decoding) -- all in one run, in this process, so the
gateway's own CPU time per transaction can be read with time.process_time(). The pump is not a
product mode; it exists here only to show the floor of the asyncio/uvloop transport.

    .venv/bin/python bench/decode_cost.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import time
from typing import Any

import uvloop

from wardgate.config import GatewayConfig
from wardgate.devdb import EmbeddedPostgres
from wardgate.pgwire._scram import make_verifier
from wardgate.proxy import Gateway
from wardgate.proxy.session import Session

USER, PASSWORD = "bench", "bench-pw"


def _pgbench(pg: EmbeddedPostgres, port: int, user: str, pw: str, clients: int, secs: int) -> float:
    out = subprocess.run(
        [
            str(pg.bin_dir / "pgbench"),
            "-n",
            "-S",
            "-T",
            str(secs),
            "-c",
            str(clients),
            "-j",
            "2" if clients > 1 else "1",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            user,
            "postgres",
        ],
        env={**os.environ, "PGPASSWORD": pw},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial", out)
    assert match, out
    return float(match.group(1))


def _init_pgbench(pg: EmbeddedPostgres) -> None:
    inst = pg.instance
    subprocess.run(
        [
            str(pg.bin_dir / "pgbench"),
            "-i",
            "-q",
            "-s",
            "5",
            "-h",
            inst.host,
            "-p",
            str(inst.port),
            "-U",
            inst.superuser,
            "postgres",
        ],
        env={**os.environ, "PGPASSWORD": inst.password},
        check=True,
        capture_output=True,
    )


def _pump(session: Session, to_upstream: bool) -> Any:
    def relay(data: bytes) -> None:
        if to_upstream:
            assert session.upstream is not None
            session.upstream.link.write(data)
        else:
            session.link.write(data)

    return relay


async def _measure(
    cfg: GatewayConfig, pg: EmbeddedPostgres, clients: int, secs: int, pump: bool
) -> tuple[float, float]:
    originals = Session._from_client, Session._from_upstream
    if pump:
        Session._from_client = lambda self, data: _pump(self, True)(data)  # type: ignore[method-assign]
        Session._from_upstream = lambda self, data: _pump(self, False)(data)  # type: ignore[method-assign]
    gw = Gateway(cfg)
    await gw.start()
    try:
        cpu0 = time.process_time()
        tps = await asyncio.get_running_loop().run_in_executor(
            None, _pgbench, pg, gw.port, USER, PASSWORD, clients, secs
        )
        cpu = time.process_time() - cpu0
    finally:
        await gw.close()
        Session._from_client, Session._from_upstream = originals  # type: ignore[method-assign]
    return tps, cpu / (tps * secs) * 1e6


async def _main(args: argparse.Namespace) -> None:
    pg = EmbeddedPostgres(settings={"max_connections": "100", "shared_buffers": "256MB"})
    inst = pg.start()
    try:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, _init_pgbench, pg)
        os.environ["BENCH_PG_PASSWORD"] = inst.password
        cfg = GatewayConfig.model_validate(
            {
                "listen": {"port": 0},
                "connections": [
                    {
                        "name": "postgres",
                        "host": inst.host,
                        "port": inst.port,
                        "database": "postgres",
                        "user": inst.superuser,
                        "password": "env:BENCH_PG_PASSWORD",
                        "sslmode": "disable",
                    }
                ],
                "identities": [{"name": USER, "scram_verifier": make_verifier(PASSWORD).to_text()}],
            }
        )
        loop = asyncio.get_running_loop()
        print(
            f"pgbench -S, {args.seconds}s per run, nproc={os.cpu_count()}, "
            f"load {os.getloadavg()[0]:.2f}"
        )
        print(f"{'clients':>7} {'target':<16} {'TPS':>9} {'/direct':>8} {'gw cpu us/tx':>13}")
        for clients in (1, 8):
            direct = await loop.run_in_executor(
                None, _pgbench, pg, inst.port, inst.superuser, inst.password, clients, args.seconds
            )
            print(f"{clients:>7} {'direct':<16} {direct:>9.0f} {1:>8.2f} {'':>13}")
            for name, pump in (("gateway (decode)", False), ("byte pump", True)):
                tps, cpu = await _measure(cfg, pg, clients, args.seconds, pump)
                print(f"{clients:>7} {name:<16} {tps:>9.0f} {tps / direct:>8.2f} {cpu:>13.1f}")
    finally:
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    uvloop.run(_main(parser.parse_args()))

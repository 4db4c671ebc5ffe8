"""Brute-force protection on the password path: token buckets of failures, in the gateway."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from conftest import Upstream, gateway_config
from harness import running_gateway
from identity_support import SourceRelay
from wardgate.config import RateLimitConfig
from wardgate.identity.ratelimit import RateLimiter, source_host, source_network


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_and_are_separate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimitConfig(pair_burst=3, pair_per_minute=6), clock)
    for _ in range(3):
        assert limiter.allows("10.0.0.1", "alice")
        limiter.failed("10.0.0.1", "alice")
    assert not limiter.allows("10.0.0.1", "alice")
    assert limiter.retry_after("10.0.0.1", "alice") == pytest.approx(10.0)
    assert limiter.allows("10.0.0.2", "alice")  # another source
    assert limiter.allows("10.0.0.1", "bob")  # another user from the same source
    clock.now += 10.0  # one failure's worth refilled (6 per minute)
    assert limiter.allows("10.0.0.1", "alice")


def test_per_source_and_per_user_buckets() -> None:
    clock = Clock()
    cfg = RateLimitConfig(source_burst=4, user_burst=6, pair_burst=100)
    limiter = RateLimiter(cfg, clock)
    for i in range(4):  # spraying one password over many users from one source
        limiter.failed("10.0.0.9", f"user{i}")
    assert not limiter.allows("10.0.0.9", "fresh-user")
    for i in range(6):  # guessing one user's password from many sources
        limiter.failed(f"10.1.0.{i}", "carol")
    assert not limiter.allows("10.2.0.1", "carol")


def test_an_ipv6_host_cannot_walk_its_64_for_fresh_buckets() -> None:
    """One host usually holds a whole /64: each new address must not be a new source."""
    clock = Clock()
    limiter = RateLimiter(RateLimitConfig(source_burst=4, pair_burst=100, user_burst=100), clock)
    for i in range(4):
        assert limiter.allows(f"2001:db8:1:2::{i + 1:x}", f"user{i}")
        limiter.failed(f"2001:db8:1:2::{i + 1:x}", f"user{i}")
    assert not limiter.allows("2001:db8:1:2:ffff::99", "someone")  # same /64, new address
    assert limiter.allows("2001:db8:1:3::1", "someone")  # the next /64 is someone else
    # The (source, user) bucket keeps the full address: a neighbour in the /64 failing as
    # "victim" does not lock the victim's own host out of that user.
    pairs = RateLimiter(RateLimitConfig(pair_burst=2, source_burst=100, user_burst=100), clock)
    for _ in range(2):
        pairs.failed("2001:db8:9:9::bad", "victim")
    assert not pairs.allows("2001:db8:9:9::bad", "victim")
    assert pairs.allows("2001:db8:9:9::600d", "victim")
    for i in range(4):  # an IPv4-mapped address is the IPv4 address it maps
        limiter.failed("::ffff:192.0.2.7", f"v{i}")
    assert not limiter.allows("192.0.2.7", "v9")
    assert limiter.allows("fe80::1%eth0", "x") and limiter.allows("/tmp/.s.PGSQL.1", "x")


@pytest.mark.parametrize(
    "source, network",
    [
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8:0:0:ffff:1:2:3", "2001:db8::/64"),
        ("::ffff:10.1.2.3", "10.1.2.3"),
        ("10.1.2.3", "10.1.2.3"),
        ("fe80::1%eth0", "fe80::/64"),
        ("/tmp/.s.PGSQL.1", "/tmp/.s.PGSQL.1"),
        ("not an address", "not an address"),
    ],
)
def test_source_network(source: str, network: str) -> None:
    assert source_network(source) == network


def test_memory_is_bounded() -> None:
    limiter = RateLimiter(RateLimitConfig(max_tracked=100), Clock())
    for i in range(1000):
        limiter.failed(f"10.0.{i // 256}.{i % 256}", f"u{i}")
    assert all(len(b._buckets) <= 100 for b in (limiter._pair, limiter._source, limiter._user))


@pytest.mark.parametrize(
    "peer, host",
    [("127.0.0.1:5000", "127.0.0.1"), ("::1:5000", "::1"), ("/tmp/.s.PGSQL.1", "/tmp/.s.PGSQL.1")],
)
def test_source_host(peer: str, host: str) -> None:
    assert source_host(peer) == host


def test_hammering_is_refused_fast_and_another_source_still_signs_in(
    upstream: Upstream, tmp_path: Path
) -> None:
    raw = gateway_config(upstream)
    raw["auth"] = {"rate_limit": {"pair_burst": 5, "pair_per_minute": 1}}
    with running_gateway(raw) as gw:
        for _ in range(5):
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(gw.dsn(password="wrong"))
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(psycopg.OperationalError, match="too many failed sign-in"):
                psycopg.connect(gw.dsn(password="wrong"))
        # Even the right password waits its turn from this source...
        with pytest.raises(psycopg.OperationalError, match="too many failed sign-in"):
            psycopg.connect(gw.dsn())
        # ...and refusals cost no SCRAM work: 20 took well under the time of a few SCRAM rounds.
        assert time.monotonic() - started < 2.0
        relay = SourceRelay(gw.port)
        try:
            dsn = gw.dsn().replace(f"port={gw.port}", f"port={relay.port}")
            with psycopg.connect(dsn) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
                peers = {s.peer.rpartition(":")[0] for s in gw.gateway.sessions}
                assert peers == {"127.0.0.2"}  # the gateway really saw another source
        finally:
            relay.close()

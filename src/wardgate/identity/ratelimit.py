"""Brute-force protection for the gateway's password path: token buckets of failures.

Each failed sign-in takes one token from three buckets: (source address, user), source address,
and user. A sign-in is refused *before the password is asked for* while any of its buckets is
empty, so a client hammering wrong passwords gets a fast refusal and costs the gateway no SCRAM
or hash work. Buckets refill continuously, so a locked-out user waits seconds, not until an
administrator acts; successes take nothing. The per-user bucket over all sources stops guessing
spread over many addresses, at the price that anyone can slow a user's sign-in down: it is
set looser than the pair bucket, and a correct password from another source keeps working while
it holds tokens.

Every failure is also an ``auth.failed`` audit event, and an attacker must not be able to flood
the audit store cheaply. Counted failures are bounded by the buckets themselves (a source gets
``source_burst`` of them, then ``source_per_minute``). Refusals by an empty bucket cost the
attacker nothing, so they are *reported* once per blocking bucket per ``report_interval``, the
event carrying how many refusals it stands for (`refused`). On top of both, at most
``audit_per_minute`` events a minute go to the audit log (`audit_slot`); beyond that they are
counted, and the next recorded event says how many were held back. So the audit store grows by
a bounded number of events a minute whatever arrives, and a flood still shows in it.

The source bucket counts by network where one holder has many addresses: an IPv6 source by its
/64 (a single host is usually given a whole /64, and counting per address would let it walk
through 2**64 fresh buckets), an IPv4-mapped IPv6 address as the IPv4 address it is. The
(source, user) bucket keeps the full address, so hosts sharing a /64 cannot lock each other out
of a named user.

State lives in memory, per gateway process (a restart forgets it; several gateways each count
their own). It is bounded: the least recently touched keys are dropped past ``max_tracked``,
and a dropped key is a full bucket, which is the safe side for memory and the lenient side for
an attacker able to churn through that many keys.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wardgate.config import RateLimitConfig

__all__ = ["RateLimiter", "source_host", "source_network"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class _Buckets:
    """Token buckets keyed by string, least recently used first."""

    def __init__(self, burst: int, per_minute: float, max_tracked: int) -> None:
        self.burst = float(burst)
        self.rate = per_minute / 60.0
        self.max_tracked = max_tracked
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _level(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= self.burst:
            del self._buckets[key]  # full again: forget it, it is the same as never seen
            return None
        return bucket

    def allows(self, key: str, now: float) -> bool:
        bucket = self._level(key, now)
        return bucket is None or bucket.tokens >= 1.0

    def take(self, key: str, now: float) -> None:
        bucket = self._level(key, now)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_tracked:
            self._buckets.popitem(last=False)

    def retry_after(self, key: str, now: float) -> float:
        bucket = self._level(key, now)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


class RateLimiter:
    """Failure counting for sign-ins; `allows` before asking for a password, `failed` after."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic):
        self.enabled = config.enabled
        self._clock = clock
        n = config.max_tracked
        self._pair = _Buckets(config.pair_burst, config.pair_per_minute, n)
        self._source = _Buckets(config.source_burst, config.source_per_minute, n)
        self._user = _Buckets(config.user_burst, config.user_per_minute, n)
        self._report_interval = config.report_interval
        self._reports: OrderedDict[str, _Report] = OrderedDict()
        self._max_reports = n
        budget = max(1, int(config.audit_per_minute))
        self._audit = _Buckets(budget, config.audit_per_minute, 1)
        self._held_back = 0

    def _keys(self, source: str, user: str) -> tuple[tuple[_Buckets, str], ...]:
        # The pair bucket keeps the full address: hosts sharing a /64 (a cloud subnet) must not
        # lock each other out of a named user; the source bucket counts the whole /64.
        network = source_network(source)
        return ((self._pair, f"{source}\0{user}"), (self._source, network), (self._user, user))

    def allows(self, source: str, user: str) -> bool:
        if not self.enabled:
            return True
        now = self._clock()
        return all(buckets.allows(key, now) for buckets, key in self._keys(source, user))

    def retry_after(self, source: str, user: str) -> float:
        """Seconds until a sign-in from ``source`` as ``user`` would be let through again."""
        now = self._clock()
        return max(buckets.retry_after(key, now) for buckets, key in self._keys(source, user))

    def failed(self, source: str, user: str) -> None:
        if not self.enabled:
            return
        now = self._clock()
        for buckets, key in self._keys(source, user):
            buckets.take(key, now)

    def _blocking(self, source: str, user: str, now: float) -> str:
        """Which bucket refuses: the broadest first, so a spray over many users is one key."""
        network = source_network(source)
        if not self._source.allows(network, now):
            return f"s\0{network}"
        if not self._user.allows(user, now):
            return f"u\0{user}"
        return f"p\0{source}\0{user}"

    def refused(self, source: str, user: str) -> int:
        """Note a refusal by `allows`; how many refusals to report now (0: stay quiet)."""
        now = self._clock()
        key = self._blocking(source, user, now)
        report = self._reports.get(key)
        if report is None:
            report = self._reports[key] = _Report(count=0, last=-float("inf"))
        self._reports.move_to_end(key)
        while len(self._reports) > self._max_reports:
            self._reports.popitem(last=False)
        report.count += 1
        if now - report.last < self._report_interval:
            return 0
        count, report.count, report.last = report.count, 0, now
        return count

    def audit_slot(self) -> int | None:
        """Whether one more failure may be recorded now: None if over the budget (it is counted
        instead), else how many were held back before it (to be recorded with it)."""
        now = self._clock()
        if not self._audit.allows("", now):
            self._held_back += 1
            return None
        self._audit.take("", now)
        held, self._held_back = self._held_back, 0
        return held


@dataclass(slots=True)
class _Report:
    count: int  # refusals since the last report
    last: float  # when the last report was made


def source_host(peer: str) -> str:
    """The address part of a peer text (``host:port``, IPv6 included, or a socket path)."""
    host, sep, port = peer.rpartition(":")
    return host if sep and port.isdigit() else peer


def source_network(source: str) -> str:
    """What a source is counted as: an IPv6 address by its /64, an IPv4-mapped one as IPv4,
    anything else (IPv4, a socket path, an unparsable text) as it is."""
    try:
        address = ipaddress.ip_address(source.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return source
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return source

"""The operator base class, the registry, and the two entry points `mask` and `unmask`.

An operator is a subclass with a ``name`` class attribute; defining it registers it (the way
detect-secrets finds its plugins), and `mask` looks operators up by the name a policy directive
uses. Importing the package imports every operator module, so the registry is complete before the
first call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import ClassVar, TypeVar

from ._context import MaskContext, MaskError, UnknownOperator
from ._keyring import Keyring
from ._memo import MAX_MEMOS, memoize

__all__ = [
    "OPERATORS",
    "EncodedMask",
    "Operator",
    "ValueMask",
    "mask",
    "prepare",
    "prepare_encoded",
    "unmask",
]

#: One value's text -> its masked text, or None for SQL NULL (see `prepare`).
ValueMask = Callable[[str], str | None]
#: The same on the UTF-8 bytes of the text (see `prepare_encoded`).
EncodedMask = Callable[[bytes], bytes | None]
K = TypeVar("K", str, bytes)
V = TypeVar("V")

_REGISTRY: dict[str, Operator] = {}
#: name -> operator instance, read-only.
OPERATORS: Mapping[str, Operator] = MappingProxyType(_REGISTRY)


class Operator:
    """One masking operator. Subclasses set ``name`` and implement `mask`.

    ``reversible`` operators also implement `unmask`. Operators are stateless: keys and caches
    live on the `Keyring`, so one instance serves every session.
    """

    name: ClassVar[str]
    reversible: ClassVar[bool] = False
    #: Worth a memo of repeated values: deterministic and costly (keyed maps, not constants).
    memoizable: ClassVar[bool] = False

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if cls.__dict__.get("name"):
            if cls.name in _REGISTRY:
                raise TypeError(f"masking operator {cls.name!r} is defined twice")
            _REGISTRY[cls.name] = cls()

    def __repr__(self) -> str:
        return f"<masking operator {self.name}>"

    def mask(self, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
        """The masked text of ``value``, or None for SQL NULL."""
        raise NotImplementedError

    def unmask(self, value: str, ctx: MaskContext, keyring: Keyring, key_id: str | None) -> str:
        """The original of a value this operator masked under ``key_id`` (default: current)."""
        raise MaskError(f"masking operator {self.name!r} is not reversible")

    def prepare(self, ctx: MaskContext, keyring: Keyring) -> ValueMask:
        """`mask` for many values of one context: ``prepare(ctx, keyring)(value)`` is
        ``mask(value, ctx, keyring)``. Subclasses do what depends only on the context once."""
        mask = self.mask
        return lambda value: mask(value, ctx, keyring)


def mask(operator: str, value: str, ctx: MaskContext, keyring: Keyring) -> str | None:
    """Mask one value (PostgreSQL text format) with the named operator; None means SQL NULL.

    Raises `UnknownOperator` for an unregistered name and `MaskError` (never containing the
    value) when the operator cannot represent this value: `fpe` on a domain below FF1's floor, a
    date column not in ISO style, a JSON column that does not parse.
    """
    op = _REGISTRY.get(operator)
    if op is None:
        raise UnknownOperator(f"unknown masking operator {operator!r}")
    return op.mask(value, ctx, keyring)


def prepare(operator: str, ctx: MaskContext, keyring: Keyring) -> ValueMask:
    """`mask` with the operator, context and key fixed: ``prepare(op, ctx, kr)(value)`` is
    ``mask(op, value, ctx, kr)``, for a column of values.

    The operator's routing (type, entity, length limit) and key material are resolved once. For
    the keyed operators (`tokenize`, `fpe`) the function shares one bounded memo of repeated
    values per key, operator and context with every other caller on this keyring (see `_memo`);
    ``keyring.memo_size == 0`` turns memos off.
    """
    op = _operator(operator)
    if not op.memoizable or not keyring.memo_size:
        return op.prepare(ctx, keyring)
    return _memo_for("text", operator, ctx, keyring, lambda: op.prepare(ctx, keyring))


def prepare_encoded(operator: str, ctx: MaskContext, keyring: Keyring) -> EncodedMask:
    """`prepare` for values as PostgreSQL sends them in text format: the UTF-8 bytes of the
    text (undecodable bytes carried through as ``surrogateescape`` does) in, the masked text's
    bytes out, None for SQL NULL. Its memo is keyed by the bytes, so a repeated value costs
    neither decoding nor encoding."""
    op = _operator(operator)

    def build() -> EncodedMask:
        mask = op.prepare(ctx, keyring)

        def encoded(value: bytes) -> bytes | None:
            out = mask(value.decode("utf-8", "surrogateescape"))
            return None if out is None else out.encode("utf-8", "surrogateescape")

        return encoded

    if not op.memoizable or not keyring.memo_size:
        return build()
    return _memo_for("utf-8", operator, ctx, keyring, build)


def _operator(name: str) -> Operator:
    op = _REGISTRY.get(name)
    if op is None:
        raise UnknownOperator(f"unknown masking operator {name!r}")
    return op


def _memo_for(
    kind: str,
    operator: str,
    ctx: MaskContext,
    keyring: Keyring,
    build: Callable[[], Callable[[K], V]],
) -> Callable[[K], V]:
    """The keyring's memo for (kind of value, operator, context) under its current key."""
    memos: dict[tuple[str, str, MaskContext], Callable[[K], V]] = keyring.memo(
        ("memos", keyring.current), dict
    )
    key = (kind, operator, ctx)
    found = memos.get(key)
    if found is None:
        if len(memos) >= MAX_MEMOS:
            del memos[next(iter(memos))]  # the oldest; results using it keep their reference
        found = memos[key] = memoize(build(), keyring.memo_size)
    return found


def unmask(value: str, ctx: MaskContext, keyring: Keyring, key_id: str | None = None) -> str:
    """Invert `fpe`: ``ctx`` must be the context the value was masked with, ``key_id`` the key
    that was current then (None: the current one). FPE output carries no key id, so the caller
    records it (the audit log does) when it masks."""
    return _REGISTRY["fpe"].unmask(value, ctx, keyring, key_id)

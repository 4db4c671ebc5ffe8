"""The operator base class, the registry, and the two entry points `mask` and `unmask`.

An operator is a subclass with a ``name`` class attribute; defining it registers it (the way
detect-secrets finds its plugins), and `mask` looks operators up by the name a policy directive
uses. Importing the package imports every operator module, so the registry is complete before the
first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from ._context import MaskContext, MaskError, UnknownOperator
from ._keyring import Keyring

__all__ = ["OPERATORS", "Operator", "mask", "unmask"]

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


def unmask(value: str, ctx: MaskContext, keyring: Keyring, key_id: str | None = None) -> str:
    """Invert `fpe`: ``ctx`` must be the context the value was masked with, ``key_id`` the key
    that was current then (None: the current one). FPE output carries no key id, so the caller
    records it (the audit log does) when it masks."""
    return _REGISTRY["fpe"].unmask(value, ctx, keyring, key_id)

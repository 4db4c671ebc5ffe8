"""Masking operators: ``tokenize``, ``fpe``, ``partial``, ``redact`` and ``null``.

Each operator takes one value in PostgreSQL's text output format and a `MaskContext` (entity,
type, length limit, options) and returns the masked text, or None for SQL NULL::

    keyring = Keyring(keys={"2025-01": key_bytes}, current="2025-01")  # >= 32 bytes, from config
    ctx = MaskContext(entity="email", type_name="varchar", max_length=255)
    mask("tokenize", "ada@example.com", ctx, keyring)  # e.g. 'ofr@example.com', always the same
    cipher = mask("fpe", "ada.lovelace@example.com", ctx, keyring)
    unmask(cipher, ctx, keyring, key_id="2025-01")     # 'ada.lovelace@example.com'
    column = prepare("tokenize", ctx, keyring)         # the same, set up once for many values
    column("ada@example.com")                          # == mask("tokenize", "ada@example.com", ...)

Operators are found by name in `OPERATORS`; one module per operator registers itself on import.
What each operator keeps, per type and entity, is documented in its module and in `_formats`,
`_text`, `_ids`, `_numbers`, `_temporal` and `_net`; how keyed maps are built, in `_scramble`.
"""

from __future__ import annotations

from . import _fpe, _null, _partial, _redact, _tokenize  # noqa: F401  (register the operators)
from ._base import (
    OPERATORS,
    EncodedMask,
    Operator,
    ValueMask,
    mask,
    prepare,
    prepare_encoded,
    unmask,
)
from ._context import DomainTooSmall, MaskContext, MaskError, MaskOptions, UnknownOperator
from ._keyring import Keyring

__all__ = [
    "OPERATORS",
    "DomainTooSmall",
    "EncodedMask",
    "Keyring",
    "MaskContext",
    "MaskError",
    "MaskOptions",
    "Operator",
    "UnknownOperator",
    "ValueMask",
    "mask",
    "prepare",
    "prepare_encoded",
    "unmask",
]

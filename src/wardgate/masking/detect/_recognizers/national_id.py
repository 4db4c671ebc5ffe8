"""National identifiers python-stdnum validates, one small class per scheme.

Schemes whose printed form is distinctive (a Spanish DNI's trailing letter, an Italian codice
fiscale, a Finnish HETU, a Swiss AHV number with its dots) stand on their own; schemes that are
bare digits (German Steuer-ID, French NIR, Dutch BSN, Polish PESEL, Swedish personnummer, an AHV
number without its dots) are reported only with context, since their checksums pass for one
random number in ten to a hundred. An undotted AHV number is an EAN-13 with prefix 756: every
barcode in that range passes its check.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from types import ModuleType
from typing import ClassVar

from .._base import Finding, Recognizer
from .._context import Context
from .._shapes import NUMBER, WORD_END, WORD_START

_TAX = ("tax id", "tax number", "national id", "id number", "identity number", "tin")


class StdnumId(Recognizer, register=False):
    """A national id checked by ``<module>.is_valid``."""

    entity = "national_id"
    min_length = 9
    module: ClassVar[str]
    _stdnum: ClassVar[ModuleType]

    def __init_subclass__(cls, register: bool = True, **kwargs: object) -> None:
        super().__init_subclass__(register=register, **kwargs)
        if register:
            cls._stdnum = importlib.import_module(cls.module)

    def valid(self, value: str) -> bool:
        try:
            return bool(self._stdnum.is_valid(value))
        except Exception:  # stdnum may raise on odd input; a raise means "not valid"
            return False


class DeSteuerId(StdnumId):
    module = "stdnum.de.idnr"
    candidate = NUMBER
    requires_context = True
    context = ("steuer id", "steuerid", "steuer identifikationsnummer", "idnr", "steuernummer",
               "identifikationsnummer", *_TAX)  # fmt: skip


class FrNir(StdnumId):
    module = "stdnum.fr.nir"
    candidate = NUMBER
    requires_context = True
    context = ("nir", "insee", "sécurité sociale", "securite sociale", "sécu", "secu",
               "numéro de sécurité sociale", "social security*", "ssn", *_TAX)  # fmt: skip


class FrNirCorsica(FrNir):
    """A NIR of someone born in Corsica: department ``2A`` or ``2B`` (``1 55 03 2B 033 393 90``)."""

    candidate = WORD_START + r"[1-478] ?\d\d ?\d\d ?2[AB] ?\d{3} ?\d{3} ?\d\d" + WORD_END


class NlBsn(StdnumId):
    module = "stdnum.nl.bsn"
    candidate = NUMBER
    requires_context = True
    context = ("bsn", "burgerservicenummer", "sofinummer", "sofi", *_TAX)


class PlPesel(StdnumId):
    module = "stdnum.pl.pesel"
    candidate = NUMBER
    requires_context = True
    context = ("pesel", *_TAX)


class SePersonnummer(StdnumId):
    module = "stdnum.se.personnummer"
    candidate = NUMBER
    requires_context = True
    context = ("personnummer", "personnr", "personal identity number", *_TAX)


class ChAhv(StdnumId):
    """``756.1234.5678.97``: the 756 prefix, the dots and the EAN-13 check make it distinctive.

    ``7569217076985`` without its dots only with context: it is also an EAN-13 barcode.
    """

    module = "stdnum.ch.ssn"
    candidate = NUMBER
    pattern = re.compile(r"(?<![\d.])756(\.?)\d{4}\1\d{4}\1\d{2}(?![\d.])")
    context = ("ahv", "avs", "sozialversicherungsnummer", *_TAX)
    score = 0.85

    def search(self, ctx: Context, start: int, end: int) -> Iterator[Finding]:
        for f in super().search(ctx, start, end):
            if "." in ctx.text[f.start : f.end] or ctx.near(f.start, f.end, self.context):
                yield f


class EsDni(StdnumId):
    module = "stdnum.es.dni"
    candidate = WORD_START + r"\d{8}-?[A-Z]" + WORD_END
    context = ("dni", "nif", "documento", *_TAX)
    score = 0.8


class EsNie(StdnumId):
    module = "stdnum.es.nie"
    candidate = WORD_START + r"[XYZ]-?\d{7}-?[A-Z]" + WORD_END
    context = ("nie", "extranjero", *_TAX)
    score = 0.85


class ItCodiceFiscale(StdnumId):
    module = "stdnum.it.codicefiscale"
    candidate = (
        WORD_START
        + r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]"
        + WORD_END
    )
    context = ("codice fiscale", "cf", "c f", *_TAX)
    score = 0.95


class FiHetu(StdnumId):
    module = "stdnum.fi.hetu"
    candidate = WORD_START + r"\d{6}[-+A-FU-Y]\d{3}[0-9A-FHJ-NPR-Y]" + WORD_END
    context = ("hetu", "henkilötunnus", "henkilotunnus", *_TAX)
    score = 0.9

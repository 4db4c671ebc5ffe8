"""Street vocabulary for the address recognizers, written out here from the postal conventions.

English suffixes are the USPS Publication 28 street suffixes and the Royal Mail forms; the
continental lists are the usual street types and compound endings. Deliberately not taken from
Faker, whose lists generate the benchmark corpus.
"""

from __future__ import annotations

__all__ = ["EN_SUFFIXES", "GERMANIC_ENDINGS", "ROMANCE_TYPES", "UNITS"]


def _words(*chunks: str) -> tuple[str, ...]:
    return tuple(" ".join(chunks).split())


EN_SUFFIXES = _words(
    # USPS Publication 28, Appendix C1 (street suffixes), with their common abbreviations
    "Alley Aly Annex Arcade Avenue Ave Av Bayou Beach Bend Bluff Bluffs Bottom Boulevard Blvd "
    "Branch Bridge Brook Brooks Burg Burgs Bypass Byp Camp Canyon Cape Causeway Cswy Center "
    "Centers Ctr Centre Circle Circles Cir Cliff Cliffs Club Common Commons Corner Corners Course "
    "Court Courts Ct Cove Coves Creek Crk Crescent Cres Crest Crossing Xing Crossroad Crossroads "
    "Curve Dale Dam Divide Drive Drives Dr Estate Estates Expressway Expy Extension Extensions "
    "Fall Falls Ferry Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort Ft "
    "Freeway Fwy Garden Gardens Gdns Gateway Glen Glens Green Greens Grove Groves Harbor Harbors "
    "Harbour Haven Heights Hts Highway Hwy Hill Hills Hollow Inlet Island Islands Isle Junction "
    "Junctions Jct Key Keys Knoll Knolls Lake Lakes Land Landing Lane Ln Light Lights Loaf Lock "
    "Locks Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission Motorway Mount "
    "Mountain Mountains Neck Orchard Oval Overpass Park Parks Parkway Parkways Pkwy Pass Passage "
    "Path Pike Pine Pines Place Pl Plain Plains Plaza Plz Point Points Pt Port Ports Prairie "
    "Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges Rdg River Road Roads Rd Route Rte Row Rue "
    "Run Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Squares Sq Station Sta "
    "Stravenue Stream Street Streets St Summit Smt Terrace Ter Throughway Trace Track "
    "Trafficway Trail Trl Trailer Tunnel Turnpike Tpke Underpass Union Unions Valley Valleys Vly "
    "Viaduct View Views Village Villages Vlg Ville Vista Walk Walks Wall Way Ways Well Wells "
    # Royal Mail and Commonwealth forms
    "Close Mews Parade Pde Rise Gate Quay Embankment Wharf Wood Woods Terr Gr",
)

#: compound endings of German and Dutch street names ("Röhrichtweg", "Jeltesteeg")
GERMANIC_ENDINGS = (
    "straße", "strasse", "str.", "weg", "allee", "platz", "gasse", "ring", "damm", "ufer",
    "chaussee", "steig", "pfad", "markt", "hof", "graben", "berg", "tor", "brücke", "kai", "wall",
    "stieg", "twiete", "garten", "park", "feld", "anger", "zeile", "kamp", "straat", "laan",
    "plein", "gracht", "kade", "steeg", "singel", "dijk", "pad", "dreef", "hof", "baan", "wal",
    "markt", "erf", "boulevard", "plantsoen", "straatweg", "dam",
)  # fmt: skip

#: street types written before the name in French, Spanish, Italian and Portuguese
ROMANCE_TYPES = (
    "rue", "avenue", "av.", "boulevard", "bd", "chemin", "place", "allée", "allee", "impasse",
    "quai", "route", "cours", "square", "passage", "calle", "c/", "avenida", "avda", "avda.",
    "paseo", "camino", "carretera", "cañada", "ronda", "travesía", "travesia", "vía", "via",
    "glorieta", "callejón", "callejon", "pasaje", "rambla", "plaza", "urbanización", "pasadizo",
    "cuesta", "acceso", "alameda", "bulevar", "calzada", "carrera", "vereda", "senda", "sector",
    "subida", "ruta", "rincón", "rinconada", "partida", "polígono", "poligono", "paraje", "ronda",
    "costanilla", "explanada", "viale", "piazza", "piazzale", "corso", "largo", "vicolo",
    "contrada", "strada", "borgo", "rotonda", "stretto", "incrocio", "canale", "lungomare",
    "salita", "rua", "travessa",
)  # fmt: skip

#: words that introduce a flat, suite or unit after a street line
UNITS = (
    "Apt", "Apt.", "Apartment", "Suite", "Ste", "Ste.", "Unit", "Flat", "Floor", "Fl", "#",
    "Studio", "Room", "Rm", "Appartamento", "Piso",
)  # fmt: skip

"""FF1 (NIST SP 800-38G): the published sample vectors, a spec-literal reference, domain rules."""

from __future__ import annotations

import math

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wardgate.masking._ff1 import FF1, MAX_LEN, MIN_DOMAIN, FF1Error

ALPHABET36 = "0123456789abcdefghijklmnopqrstuvwxyz"
K128 = "2B7E151628AED2A6ABF7158809CF4F3C"
K192 = K128 + "EF4359D8D580AA4F"
K256 = K192 + "7F036D6F04FC6A94"
T10 = "39383736353433323130"
T11 = "3737373770717273373737"

# NIST FF1 samples 1-9 (FF1samples.pdf): key, radix, tweak, plaintext, ciphertext.
NIST_SAMPLES = [
    pytest.param(K128, 10, "", "0123456789", "2433477484", id="sample1-aes128"),
    pytest.param(K128, 10, T10, "0123456789", "6124200773", id="sample2-aes128-tweak"),
    pytest.param(
        K128, 36, T11, "0123456789abcdefghi", "a9tv40mll9kdu509eum", id="sample3-aes128-r36"
    ),
    pytest.param(K192, 10, "", "0123456789", "2830668132", id="sample4-aes192"),
    pytest.param(K192, 10, T10, "0123456789", "2496655549", id="sample5-aes192-tweak"),
    pytest.param(
        K192, 36, T11, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr", id="sample6-aes192-r36"
    ),
    pytest.param(K256, 10, "", "0123456789", "6657667009", id="sample7-aes256"),
    pytest.param(K256, 10, T10, "0123456789", "1001623463", id="sample8-aes256-tweak"),
    pytest.param(
        K256, 36, T11, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd", id="sample9-aes256-r36"
    ),
]


def numerals(text: str) -> list[int]:
    return [ALPHABET36.index(c) for c in text]


def text(digits: list[int]) -> str:
    return "".join(ALPHABET36[d] for d in digits)


@pytest.mark.parametrize(("key", "radix", "tweak", "plain", "cipher"), NIST_SAMPLES)
def test_nist_samples(key: str, radix: int, tweak: str, plain: str, cipher: str) -> None:
    ff1 = FF1(bytes.fromhex(key), radix)
    t = bytes.fromhex(tweak)
    assert text(ff1.encrypt(numerals(plain), t)) == cipher
    assert text(ff1.decrypt(numerals(cipher), t)) == plain


# -- an independent, spec-literal FF1 (numeral lists, real CBC mode) to check the fast paths ------


def _num(xs: list[int], radix: int) -> int:
    x = 0
    for d in xs:
        x = x * radix + d
    return x


def _str(x: int, radix: int, m: int) -> list[int]:
    out = []
    for _ in range(m):
        x, r = divmod(x, radix)
        out.append(r)
    return out[::-1]


def reference_ff1(key: bytes, radix: int, tweak: bytes, xs: list[int], decrypt: bool) -> list[int]:
    n, t = len(xs), len(tweak)
    u, v = n // 2, n - n // 2
    a, b = xs[:u], xs[u:]
    bits = 0
    while 2**bits < radix**v:  # ceil(v * log2(radix)) without floating point
        bits += 1
    bb = math.ceil(bits / 8)
    d = 4 * math.ceil(bb / 4) + 4
    p = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256])
    p += n.to_bytes(4, "big") + t.to_bytes(4, "big")

    def f(i: int, half: list[int]) -> int:
        q = tweak + bytes((-t - bb - 1) % 16) + bytes([i]) + _num(half, radix).to_bytes(bb, "big")
        cbc = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        r = (cbc.update(p + q) + cbc.finalize())[-16:]
        s = r
        j = 1
        while len(s) < d:
            block = (int.from_bytes(r, "big") ^ j).to_bytes(16, "big")
            ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
            s += ecb.update(block) + ecb.finalize()
            j += 1
        return int.from_bytes(s[:d], "big")

    rounds = range(9, -1, -1) if decrypt else range(10)
    for i in rounds:
        m = u if i % 2 == 0 else v
        if decrypt:
            c = (_num(b, radix) - f(i, a)) % radix**m
            a, b = _str(c, radix, m), a
        else:
            c = (_num(a, radix) + f(i, b)) % radix**m
            a, b = b, _str(c, radix, m)
    return a + b


@st.composite
def ff1_cases(draw: st.DrawFn) -> tuple[bytes, int, bytes, list[int]]:
    key = draw(st.sampled_from([bytes(range(16)), bytes(range(24)), bytes(range(32))]))
    radix = draw(st.sampled_from([2, 3, 10, 16, 26, 36, 62, 255, 256, 1000, 65535, 65536]))
    minlen = 2
    while radix**minlen < MIN_DOMAIN:
        minlen += 1
    n = draw(st.integers(minlen, max(minlen, 300 if radix == 2 else 40)))
    tweak = draw(st.binary(max_size=40))
    xs = draw(st.lists(st.integers(0, radix - 1), min_size=n, max_size=n))
    return key, radix, tweak, xs


@settings(max_examples=150, deadline=None)
@given(ff1_cases())
def test_matches_spec_literal_reference(case: tuple[bytes, int, bytes, list[int]]) -> None:
    """Both the one-block fast path and the general path (long tweaks, d > 16) follow the spec."""
    key, radix, tweak, xs = case
    ff1 = FF1(key, radix)
    expected = reference_ff1(key, radix, tweak, xs, decrypt=False)
    assert ff1.encrypt(xs, tweak) == expected
    assert ff1.decrypt(expected, tweak) == xs
    assert reference_ff1(key, radix, tweak, expected, decrypt=True) == xs


@settings(max_examples=200, deadline=None)
@given(ff1_cases())
def test_round_trip_keeps_length_and_alphabet(case: tuple[bytes, int, bytes, list[int]]) -> None:
    key, radix, tweak, xs = case
    ff1 = FF1(key, radix)
    ys = ff1.encrypt(xs, tweak)
    assert len(ys) == len(xs)
    assert all(0 <= y < radix for y in ys)
    assert ff1.decrypt(ys, tweak) == xs


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**12 - 1), st.binary(max_size=20), st.binary(max_size=20))
def test_tweak_changes_the_ciphertext(x: int, t1: bytes, t2: bytes) -> None:
    """Over 10**12 values, equal ciphertexts under different tweaks would be a 1e-12 event."""
    assume(t1 != t2)
    ff1 = FF1(bytes(range(32)), 10)
    assert ff1.encrypt_int(x, 12, t1) != ff1.encrypt_int(x, 12, t2)
    assert ff1.decrypt_int(ff1.encrypt_int(x, 12, t1), 12, t1) == x


def test_integer_form_matches_numeral_form() -> None:
    ff1 = FF1(bytes.fromhex(K128), 10)
    assert ff1.encrypt_int(123456789, 10) == 2433477484  # sample 1: "0123456789"


def test_is_a_permutation_of_a_whole_domain() -> None:
    """radix 2, 20 bits: the smallest approved binary domain, checked exhaustively on a slice."""
    ff1 = FF1(bytes(range(16)), 2)
    outs = {ff1.encrypt_int(x, 20, b"t") for x in range(20_000)}
    assert len(outs) == 20_000
    assert all(0 <= y < 2**20 for y in outs)


@pytest.mark.parametrize(("radix", "minlen"), [(2, 20), (10, 6), (26, 5), (36, 4), (1000, 2)])
def test_minimum_length_is_the_one_million_floor(radix: int, minlen: int) -> None:
    ff1 = FF1(bytes(16), radix)
    assert ff1.minlen == minlen
    ff1.encrypt([0] * minlen)
    with pytest.raises(FF1Error):
        ff1.encrypt([0] * (minlen - 1))


def test_small_domains_only_when_asked() -> None:
    with pytest.raises(FF1Error):
        FF1(bytes(16), 10).encrypt_int(42, 2)
    small = FF1(bytes(16), 10, allow_small_domain=True)
    assert small.minlen == 2
    assert small.decrypt_int(small.encrypt_int(42, 2), 2) == 42
    with pytest.raises(FF1Error):
        small.encrypt_int(4, 1)  # FF1 needs two halves whatever the domain


@pytest.mark.parametrize(
    "make",
    [
        lambda: FF1(bytes(15), 10),
        lambda: FF1(bytes(33), 10),
        lambda: FF1(bytes(16), 1),
        lambda: FF1(bytes(16), 65537),
        lambda: FF1(bytes(16), 10, maxlen=5),
        lambda: FF1(bytes(16), 10, maxlen=MAX_LEN + 1),
        lambda: FF1(bytes(16), 10, maxlen=8).encrypt([0] * 9),
        lambda: FF1(bytes(16), 10).encrypt([0, 1, 2, 3, 4, 10]),
        lambda: FF1(bytes(16), 10).encrypt_int(10**6, 6),
        lambda: FF1(bytes(16), 10).decrypt_int(-1, 6),
    ],
    ids=[
        "short-key",
        "long-key",
        "radix-1",
        "radix-65537",
        "maxlen-below-minlen",
        "maxlen-too-big",
        "longer-than-maxlen",
        "numeral-outside-radix",
        "value-outside-domain",
        "negative-value",
    ],
)
def test_rejects_what_the_standard_does_not_allow(make: object) -> None:
    with pytest.raises(FF1Error):
        make()  # type: ignore[operator]


def test_repr_and_errors_hold_no_key() -> None:
    key = bytes.fromhex(K256)
    ff1 = FF1(key, 10)
    assert K256.lower() not in repr(ff1).lower()
    assert "radix=10" in repr(ff1)
    with pytest.raises(FF1Error) as info:
        ff1.encrypt_int(10**7, 6)
    assert K256.lower() not in str(info.value).lower()

"""Staff passwords: Argon2id hashing, verification, rehash detection, and the policy."""

from __future__ import annotations

import base64
import os
import time

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from crypto.common_passwords import COMMON_PASSWORDS, STEMS
from crypto.errors import CryptoError, WeakPassword
from crypto.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PARAMS,
    check_password_policy,
    dummy_verify,
    hash_password,
    needs_rehash,
    verify_password,
)

GOOD = "风雨同舟 keep going 2024"


def phc(pw: str, *, memory_cost: int, iterations: int, lanes: int = 1, length: int = 32) -> str:
    kdf = Argon2id(salt=os.urandom(16), length=length, iterations=iterations, lanes=lanes,
                   memory_cost=memory_cost)
    return kdf.derive_phc_encoded(pw.encode())


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password(GOOD)


def test_hash_is_argon2id_with_owasp_minimum(stored: str) -> None:
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PARAMS.memory_cost >= 19456 and PARAMS.iterations >= 2 and PARAMS.lanes == 1
    assert GOOD not in stored


def test_verify_right_and_wrong(stored: str) -> None:
    assert verify_password(GOOD, stored) is True
    assert verify_password(GOOD + " ", stored) is False
    assert verify_password("", stored) is False
    assert verify_password("x" * (MAX_LENGTH + 1), stored) is False


def test_salts_differ(stored: str) -> None:
    assert hash_password(GOOD) != stored


def test_unicode_forms_verify_alike() -> None:
    # "é" precomposed vs e + combining accent, and full-width vs ASCII letters (NFKC)
    stored = hash_password("caf\u00e9 au lait, s'il vous pla\u00eet")
    assert verify_password("cafe\u0301 au lait, s'il vous pla\u00eet", stored)
    stored = hash_password("ＡＢＣ-correct-horse")
    assert verify_password("ABC-correct-horse", stored)


def test_needs_rehash(stored: str) -> None:
    assert needs_rehash(stored) is False
    weaker = phc(GOOD, memory_cost=8192, iterations=1)
    assert needs_rehash(weaker) is True
    assert needs_rehash(phc(GOOD, memory_cost=19456, iterations=3)) is True
    assert needs_rehash(phc(GOOD, memory_cost=19456, iterations=2, length=16)) is True
    assert needs_rehash("$2b$12$notargon") is True
    assert needs_rehash("") is True
    # an old hash still verifies, so the server can rehash it at the next sign-in
    assert verify_password(GOOD, weaker) is True


@pytest.mark.parametrize(
    "encoded",
    ["", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2g",
     "$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaA"],
)
def test_malformed_stored_hash_raises(encoded: str) -> None:
    with pytest.raises(CryptoError):
        verify_password(GOOD, encoded)


def test_absurdly_costly_stored_hash_is_refused_without_computing() -> None:
    salt = base64.b64encode(os.urandom(16)).decode().rstrip("=")
    digest = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    encoded = f"$argon2id$v=19$m={4 << 20},t=2,p=1${salt}${digest}"
    started = time.perf_counter()
    with pytest.raises(CryptoError, match="more work"):
        verify_password(GOOD, encoded)
    assert time.perf_counter() - started < 0.5


def test_dummy_verify_is_always_false() -> None:
    assert dummy_verify(GOOD) is False
    assert dummy_verify("") is False


def test_hash_refuses_over_long_input() -> None:
    with pytest.raises(CryptoError):
        hash_password("x" * (MAX_LENGTH + 1))


@pytest.mark.parametrize(
    ("pw", "code"),
    [
        ("", "too_short"),
        ("short-pw", "too_short"),
        ("a" * (MIN_LENGTH - 2) + "b", "too_short"),
        ("a" * (MIN_LENGTH - 1) + "b", "repeated"),
        ("ab" * 10, "repeated"),
        ("abc" * 10, "repeated"),
        ("ab" * (MAX_LENGTH // 2) + "c", "too_long"),
        ("a" * 40, "repeated"),
        ("中" * 12, "repeated"),
        ("qwertyuiop123", "common"),
        ("QwertyUIOP123", "common"),
        ("1q2w3e4r5t6y", "common"),
        ("woaini1314520", "common"),
        ("Password@2024!", "common"),
        ("!!P@ssw0rd2024", "common"),
        ("gonghui-2025-!!", "common"),
    ],
)
def test_policy_refusals(pw: str, code: str) -> None:
    with pytest.raises(WeakPassword) as info:
        check_password_policy(pw)
    assert info.value.code == code
    assert pw == "" or pw not in str(info.value)


def test_policy_username() -> None:
    with pytest.raises(WeakPassword) as info:
        check_password_policy("zhangsan-is-on-duty", username="ZhangSan")
    assert info.value.code == "contains_username"
    check_password_policy("a long and unusual phrase", username="li")  # short names ignored


@pytest.mark.parametrize(
    "pw",
    [
        "x7#Lq9!mZ2@v",  # exactly 12
        "correct horse battery staple",
        "我们一起走过风雨也会迎来彩虹",
        "passwordy words with letters around",  # a stem with letters around is fine
        "A" + "bcdefghij" * 7,  # 64 characters
        ("passphrase " * 24)[:MAX_LENGTH],  # 256 characters
    ],
)
def test_policy_accepts(pw: str) -> None:
    check_password_policy(pw)


def test_common_list_is_sized_and_normalized() -> None:
    assert len(COMMON_PASSWORDS) >= 250
    assert all(p == p.casefold() for p in COMMON_PASSWORDS)
    assert all(s == s.casefold() and len(s) >= 3 for s in STEMS)
    long_ones = [p for p in COMMON_PASSWORDS if len(p) >= MIN_LENGTH]
    assert len(long_ones) >= 200  # shorter entries are refused by length anyway

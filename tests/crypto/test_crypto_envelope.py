"""Envelope encryption: round trips, every tampering case, rotation, shredding, the Vault."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from crypto.envelope import (
    ENCRYPTION_LIMIT,
    Aad,
    Sealed,
    Vault,
    check_budget,
    new_data_key,
    open_sealed,
    rewrap,
    seal,
)
from crypto.errors import CryptoError, KeyExhausted, KeyNotFound, VaultError
from crypto.keyring import KeyRing, WrappedKey

CONV = "0b6f7c1e-3a52-4c8e-9d1f-2a7b5c9e4d10"
OTHER_CONV = "5d2e8a40-91b7-4f36-a0c3-7e1d9b24f6a8"
TEXT = "我最近压力很大，睡不着。".encode()


def same(a: bytes, b: bytes) -> bool:
    return secrets.compare_digest(a, b)


def aad(seq: int = 1, **kw: object) -> Aad:
    fields: dict[str, object] = {"conversation_id": CONV, "seq": seq, "role": "worker",
                                 "key_version": 1}
    fields.update(kw)
    return Aad(**fields)  # type: ignore[arg-type]


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


# --- known answers -------------------------------------------------------------------------


def test_aes_gcm_backend_matches_published_vector() -> None:
    # McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256)
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    pt = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    ad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    expected = (
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b"
    )
    assert AESGCM(key).encrypt(iv, pt, ad).hex() == expected


def test_aad_encoding_is_pinned() -> None:
    # Changing this encoding would make every stored message unreadable.
    assert aad(seq=7).encode() == (
        b"yizhan:aad:v1"
        b"\x00\x00\x00\x07message"
        b"\x00\x00\x00\x24" + CONV.encode() +
        b"\x00\x00\x00\x017"
        b"\x00\x00\x00\x06worker"
        b"\x00\x00\x00\x011"
    )


def test_golden_ciphertext_still_opens() -> None:
    sealed = Sealed(bytes(range(100, 112)), bytes.fromhex(
        "aca05483dd40b002b785dd513dd1c51ec240136696b8864e917a114bf792d6a63430"
    ))
    assert open_sealed(bytes(range(32)), sealed, aad(seq=7)) == "今天有点累。".encode()


# --- round trips ---------------------------------------------------------------------------


def test_seal_open_round_trip() -> None:
    ring = KeyRing.generate()
    key, wrapped = new_data_key(ring)
    assert len(key) == 32
    assert same(ring.unwrap(wrapped), key)
    sealed = seal(key, TEXT, aad())
    assert len(sealed.nonce) == 12
    assert len(sealed.ciphertext) == len(TEXT) + 16
    assert TEXT not in sealed.ciphertext
    assert open_sealed(key, sealed, aad()) == TEXT


def test_empty_plaintext_round_trips() -> None:
    key = AESGCM.generate_key(bit_length=256)
    assert open_sealed(key, seal(key, b"", aad()), aad()) == b""


def test_nonces_are_fresh_every_time() -> None:
    key = AESGCM.generate_key(bit_length=256)
    nonces = {seal(key, TEXT, aad()).nonce for _ in range(2000)}
    assert len(nonces) == 2000


def test_sealed_bytes_round_trip() -> None:
    key = AESGCM.generate_key(bit_length=256)
    sealed = seal(key, TEXT, aad())
    again = Sealed.from_bytes(sealed.to_bytes())
    assert again == sealed
    with pytest.raises(VaultError):
        Sealed.from_bytes(bytes(27))


def test_sealed_repr_hides_ciphertext() -> None:
    sealed = seal(AESGCM.generate_key(bit_length=256), TEXT, aad())
    assert sealed.ciphertext.hex() not in repr(sealed)
    assert repr(sealed.ciphertext) not in repr(sealed)


def test_data_key_must_be_32_bytes() -> None:
    with pytest.raises(CryptoError):
        seal(bytes(16), TEXT, aad())


# --- tampering -----------------------------------------------------------------------------


@pytest.fixture
def key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def test_every_flipped_ciphertext_bit_is_detected(key: bytes) -> None:
    sealed = seal(key, b"short message", aad())
    for index in range(len(sealed.ciphertext)):
        for bit in range(8):
            bad = Sealed(sealed.nonce, flip(sealed.ciphertext, index, bit))
            with pytest.raises(VaultError):
                open_sealed(key, bad, aad())


def test_every_flipped_nonce_bit_is_detected(key: bytes) -> None:
    sealed = seal(key, TEXT, aad())
    for index in range(12):
        for bit in range(8):
            with pytest.raises(VaultError):
                open_sealed(key, Sealed(flip(sealed.nonce, index, bit), sealed.ciphertext), aad())


@pytest.mark.parametrize("cut", [1, 16, "all"])
def test_truncated_ciphertext_is_detected(key: bytes, cut: int | str) -> None:
    sealed = seal(key, TEXT, aad())
    ct = b"" if cut == "all" else sealed.ciphertext[: -int(cut)]
    with pytest.raises(VaultError):
        open_sealed(key, Sealed(sealed.nonce, ct), aad())


def test_wrong_nonce_length_is_detected(key: bytes) -> None:
    sealed = seal(key, TEXT, aad())
    with pytest.raises(VaultError):
        open_sealed(key, Sealed(sealed.nonce[:8], sealed.ciphertext), aad())


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 2},
        {"conversation_id": OTHER_CONV},
        {"role": "counselor"},
        {"key_version": 2},
        {"purpose": "case_note"},
    ],
    ids=["other-seq", "other-conversation", "other-role", "other-key-version", "other-purpose"],
)
def test_swapped_aad_fields_are_detected(key: bytes, change: dict[str, object]) -> None:
    sealed = seal(key, TEXT, aad())
    with pytest.raises(VaultError):
        open_sealed(key, sealed, replace(aad(), **change))  # type: ignore[arg-type]


def test_rows_moved_between_conversations_do_not_open() -> None:
    ring = KeyRing.generate()
    vault = Vault(ring)
    # two conversations as the database would hold them: wrapped key + rows by seq
    convs = {cid: vault.new_conversation_key() for cid in (CONV, OTHER_CONV)}
    rows = {
        cid: {s: vault.encrypt(w, f"{cid}:{s}".encode(), aad(s, conversation_id=cid))
              for s in (1, 2, 3)}
        for cid, w in convs.items()
    }
    # moved row, reordered row, and a row plus the other conversation's key: all refused
    with pytest.raises(VaultError):
        vault.decrypt(convs[CONV], rows[OTHER_CONV][1], aad(1, conversation_id=CONV))
    with pytest.raises(VaultError):
        vault.decrypt(convs[OTHER_CONV], rows[OTHER_CONV][1], aad(1, conversation_id=CONV))
    with pytest.raises(VaultError):
        vault.decrypt(convs[CONV], rows[CONV][1], aad(2, conversation_id=CONV))
    with pytest.raises(VaultError):
        vault.decrypt(convs[OTHER_CONV], rows[CONV][2], aad(2, conversation_id=CONV))
    assert vault.decrypt(convs[CONV], rows[CONV][2], aad(2)) == f"{CONV}:2".encode()


def test_wrong_data_key_is_detected(key: bytes) -> None:
    sealed = seal(key, TEXT, aad())
    with pytest.raises(VaultError):
        open_sealed(AESGCM.generate_key(bit_length=256), sealed, aad())


def test_vault_error_message_has_no_plaintext(key: bytes) -> None:
    sealed = seal(key, TEXT, aad())
    with pytest.raises(VaultError) as info:
        open_sealed(key, sealed, aad(seq=9))
    assert str(info.value) == "ciphertext failed authentication"
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- the associated data -------------------------------------------------------------------


def test_aad_canonicalizes_uuid_text() -> None:
    upper = aad(conversation_id=CONV.upper())
    assert upper.conversation_id == CONV
    assert upper.encode() == aad().encode()
    assert aad(conversation_id=uuid.UUID(CONV).hex).encode() == aad().encode()


@pytest.mark.parametrize(
    "bad",
    [
        {"conversation_id": "not-a-uuid"},
        {"conversation_id": ""},
        {"seq": -1},
        {"seq": True},
        {"seq": 2**63},
        {"key_version": -1},
        {"role": ""},
        {"role": "x" * 65},
        {"purpose": ""},
    ],
)
def test_aad_rejects_bad_fields(bad: dict[str, object]) -> None:
    with pytest.raises(CryptoError):
        aad(**bad)


_field = st.text(min_size=1, max_size=8, alphabet=st.characters(codec="utf-8"))


@given(
    a=st.tuples(st.uuids(), st.integers(0, 2**63 - 1), _field, st.integers(0, 9), _field),
    b=st.tuples(st.uuids(), st.integers(0, 2**63 - 1), _field, st.integers(0, 9), _field),
)
def test_aad_encoding_is_injective(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    aa = Aad(str(a[0]), a[1], a[2], a[3], a[4])
    bb = Aad(str(b[0]), b[1], b[2], b[3], b[4])
    assert (aa.encode() == bb.encode()) == (aa == bb)


def test_aad_fields_cannot_bleed_into_each_other() -> None:
    # length prefixes: moving characters between role and purpose changes the encoding
    a = Aad(CONV, 1, "worker", 1, purpose="message")
    b = Aad(CONV, 1, "workerm", 1, purpose="essage")
    assert a.encode() != b.encode()


# --- budget --------------------------------------------------------------------------------


def test_encryption_limit_is_far_below_the_nist_bound() -> None:
    assert ENCRYPTION_LIMIT == 2**30 < 2**32


def test_check_budget() -> None:
    check_budget(0)
    check_budget(ENCRYPTION_LIMIT - 1)
    with pytest.raises(KeyExhausted) as info:
        check_budget(ENCRYPTION_LIMIT)
    assert info.value.count == ENCRYPTION_LIMIT
    assert info.value.limit == ENCRYPTION_LIMIT


# --- rotation ------------------------------------------------------------------------------


def test_rewrap_to_new_kek_then_decrypt() -> None:
    ring1 = KeyRing.generate()
    vault = Vault(ring1)
    wrapped = vault.new_conversation_key()
    stored = [vault.encrypt(wrapped, f"m{i}".encode(), aad(i)) for i in range(5)]

    ring2 = ring1.with_new_kek()
    new_wrapped = rewrap(ring2, wrapped)
    assert new_wrapped.kek_version == 2
    assert rewrap(ring2, new_wrapped) is new_wrapped  # idempotent: batches can resume

    ring3 = ring2.without_kek(1)
    fresh = Vault(ring3)
    # message ciphertexts were never touched; only the wrapped key changed
    assert [fresh.decrypt(new_wrapped, s, aad(i)) for i, s in enumerate(stored)] == [
        f"m{i}".encode() for i in range(5)
    ]
    with pytest.raises(KeyNotFound) as info:
        fresh.decrypt(wrapped, stored[0], aad(0))
    assert info.value.version == 1
    with pytest.raises(KeyNotFound):
        rewrap(ring3, wrapped)


def test_rewrap_to_an_explicit_version() -> None:
    # retention windows: a window's keys move to that window's successor KEK, not the newest
    ring = KeyRing.generate().with_new_kek().with_new_kek()
    w = ring.wrap(secrets.token_bytes(32), kek_version=1)
    assert w.kek_version == 1
    moved = rewrap(ring, w, to_version=2)
    assert moved.kek_version == 2
    assert same(ring.unwrap(moved), ring.unwrap(w))
    assert rewrap(ring, moved, to_version=2) is moved
    with pytest.raises(KeyNotFound):
        rewrap(ring, w, to_version=9)
    with pytest.raises(KeyNotFound):
        ring.wrap(secrets.token_bytes(32), kek_version=9)


def test_vault_rewrap_uses_its_ring() -> None:
    ring = KeyRing.generate()
    w = ring.wrap(secrets.token_bytes(32))
    assert Vault(ring.with_new_kek()).rewrap(w).kek_version == 2


def test_retiring_before_rewrap_locks_data_out_until_ring_restored() -> None:
    ring1 = KeyRing.generate()
    key, wrapped = new_data_key(ring1)
    sealed = seal(key, TEXT, aad())
    retired = ring1.with_new_kek().without_kek(1)
    with pytest.raises(KeyNotFound):
        Vault(retired).decrypt(wrapped, sealed, aad())


# --- shredding -----------------------------------------------------------------------------


def test_without_its_wrapped_key_nothing_in_the_ring_opens_a_conversation() -> None:
    """Crypto-shredding: once a conversation's wrapped key is destroyed, no key the ring
    holds (KEKs, peppers) and no other conversation's data key opens its messages."""
    ring = KeyRing.generate().with_new_kek(activate=False).with_new_pepper()
    vault = Vault(ring)
    doomed = vault.new_conversation_key()
    sealed = vault.encrypt(doomed, TEXT, aad())
    vault.forget(doomed)
    del doomed  # what the database does: delete the wrapped key row

    candidates = [ring.pepper(v) for v in ring.pepper_versions]
    candidates += [new_data_key(ring)[0] for _ in range(5)]
    # the KEKs themselves, pulled out the only way the API allows (from the JSON)
    obj = json.loads(ring.to_json())
    candidates += [base64.b64decode(t) for t in obj["kek"]["keys"].values()]
    for candidate in candidates:
        with pytest.raises(VaultError):
            open_sealed(candidate, sealed, aad())


# --- the Vault -----------------------------------------------------------------------------


def test_vault_round_trip_and_cache() -> None:
    vault = Vault(KeyRing.generate(), cache_size=3)
    keys = [vault.new_conversation_key() for _ in range(5)]
    assert vault.cached_keys() == 3
    for i, w in enumerate(keys):
        sealed = vault.encrypt(w, TEXT, aad(i))
        assert vault.decrypt(w, sealed, aad(i)) == TEXT
    assert vault.cached_keys() == 3
    vault.forget(keys[-1])
    assert vault.cached_keys() == 2
    assert "cached_keys=2" in repr(vault)


def test_vault_lru_evicts_least_recently_used() -> None:
    vault = Vault(KeyRing.generate(), cache_size=2)
    a, b = vault.new_conversation_key(), vault.new_conversation_key()
    vault.encrypt(a, TEXT, aad())  # a is now most recent
    c = vault.new_conversation_key()  # evicts b
    vault.forget(a)
    vault.forget(c)
    assert vault.cached_keys() == 0
    vault.forget(b)  # not cached: a no-op
    assert vault.cached_keys() == 0


def test_vault_without_cache_still_works() -> None:
    vault = Vault(KeyRing.generate(), cache_size=0)
    w = vault.new_conversation_key()
    assert vault.decrypt(w, vault.encrypt(w, TEXT, aad()), aad()) == TEXT
    assert vault.cached_keys() == 0
    with pytest.raises(CryptoError):
        Vault(KeyRing.generate(), cache_size=-1)


def test_replace_ring_drops_cache_so_retirement_takes_effect() -> None:
    ring1 = KeyRing.generate()
    vault = Vault(ring1)
    w = vault.new_conversation_key()
    sealed = vault.encrypt(w, TEXT, aad())
    vault.replace_ring(ring1.with_new_kek().without_kek(1))
    assert vault.cached_keys() == 0
    with pytest.raises(KeyNotFound):
        vault.decrypt(w, sealed, aad())


def test_vault_rejects_tampered_wrapped_key() -> None:
    vault = Vault(KeyRing.generate())
    w = vault.new_conversation_key()
    sealed = vault.encrypt(w, TEXT, aad())
    bad = WrappedKey(w.kek_version, flip(w.wrapped, 20))
    with pytest.raises(VaultError):
        vault.decrypt(bad, sealed, aad())


def test_vault_is_usable_from_threads() -> None:
    ring = KeyRing.generate()
    vault = Vault(ring, cache_size=8)
    wrapped = [ring.wrap(secrets.token_bytes(32)) for _ in range(32)]
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(200):
                w = wrapped[(i + offset) % len(wrapped)]
                assert vault.decrypt(w, vault.encrypt(w, TEXT, aad(i)), aad(i)) == TEXT
        except BaseException as e:  # collected and asserted in the main thread
            failures.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert vault.cached_keys() <= 8

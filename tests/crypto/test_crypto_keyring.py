"""Key ring: versions, wrap/unwrap, retirement, JSON and key file handling, no key leaks."""

from __future__ import annotations

import base64
import copy
import json
import os
import pickle
import secrets
import stat
from pathlib import Path

import pytest

from crypto.errors import CryptoError, KeyFileError, KeyNotFound, VaultError
from crypto.keyring import KeyRing, WrappedKey, _write_atomic, load_or_create


def same(a: bytes, b: bytes) -> bool:
    # compare without letting pytest print key bytes on failure
    return secrets.compare_digest(a, b)


def key_texts(ring: KeyRing) -> list[str]:
    """Every spelling of every secret in the ring that must never appear in output."""
    obj = json.loads(ring.to_json())
    raws = [base64.b64decode(t) for fam in ("kek", "pepper") for t in obj[fam]["keys"].values()]
    out: list[str] = []
    for raw in raws:
        out += [base64.b64encode(raw).decode(), raw.hex(), raw.hex().upper(), repr(raw)]
        out += [base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    return out


def leaks(ring: KeyRing, text: str) -> bool:
    return any(k in text for k in key_texts(ring))


# A pinned ring and wrap: if the wrap format ever changes, stored data keys stop unwrapping.
GOLDEN_RING = json.dumps({
    "format": "yizhan-keyring/1",
    "kek": {"active": 1, "keys": {"1": base64.b64encode(bytes(range(32))).decode()}},
    "pepper": {"active": 1, "keys": {"1": base64.b64encode(bytes(range(32, 64))).decode()}},
})
GOLDEN_WRAP = WrappedKey(1, bytes.fromhex(
    "000102030405060708090a0b"
    "0743945881a0845cc508ddc0fda43622d387d567a42e092b603ebfde41345eed"
    "4639f5304ca049dec33c5d4c05ea4d66"
))


def test_generate_has_version_one_of_each() -> None:
    ring = KeyRing.generate()
    assert ring.kek_versions == (1,)
    assert ring.active_kek_version == 1
    assert ring.pepper_versions == (1,)
    assert ring.active_pepper_version == 1
    assert len(ring.pepper()) == 32
    assert same(ring.pepper(1), ring.pepper())


def test_two_generated_rings_differ() -> None:
    assert KeyRing.generate() != KeyRing.generate()


def test_wrap_round_trip_and_is_randomized() -> None:
    ring = KeyRing.generate()
    key = secrets.token_bytes(32)
    w1, w2 = ring.wrap(key), ring.wrap(key)
    assert w1.kek_version == 1
    assert len(w1.wrapped) == 60
    assert w1.wrapped != w2.wrapped  # fresh nonce per wrap
    assert same(ring.unwrap(w1), key)
    assert same(ring.unwrap(w2), key)


def test_wrap_refuses_wrong_key_length() -> None:
    with pytest.raises(CryptoError):
        KeyRing.generate().wrap(b"short")


def test_golden_wrap_still_unwraps() -> None:
    ring = KeyRing.from_json(GOLDEN_RING)
    assert same(ring.unwrap(GOLDEN_WRAP), bytes(range(64, 96)))


def test_unwrap_unknown_version_raises_key_not_found() -> None:
    ring = KeyRing.generate()
    w = ring.wrap(secrets.token_bytes(32))
    with pytest.raises(KeyNotFound) as info:
        ring.unwrap(WrappedKey(7, w.wrapped))
    assert info.value.version == 7


@pytest.mark.parametrize("index", [0, 11, 12, 30, 43, 44, 59])
def test_unwrap_tampered_raises_vault_error(index: int) -> None:
    ring = KeyRing.generate()
    w = ring.wrap(secrets.token_bytes(32))
    bad = bytearray(w.wrapped)
    bad[index] ^= 0x01
    with pytest.raises(VaultError):
        ring.unwrap(WrappedKey(w.kek_version, bytes(bad)))


@pytest.mark.parametrize("length", [0, 12, 59, 61])
def test_unwrap_wrong_length_raises_vault_error(length: int) -> None:
    ring = KeyRing.generate()
    with pytest.raises(VaultError):
        ring.unwrap(WrappedKey(1, bytes(length)))


def test_wrap_cannot_be_relabelled_to_another_kek_version() -> None:
    ring = KeyRing.generate().with_new_kek(activate=False)
    w = ring.wrap(secrets.token_bytes(32))
    assert w.kek_version == 1
    with pytest.raises(VaultError):
        ring.unwrap(WrappedKey(2, w.wrapped))


def test_with_new_kek_returns_new_ring_and_keeps_old_unchanged() -> None:
    ring1 = KeyRing.generate()
    key = secrets.token_bytes(32)
    old = ring1.wrap(key)
    ring2 = ring1.with_new_kek()
    assert ring1.kek_versions == (1,)
    assert ring2.kek_versions == (1, 2)
    assert ring2.active_kek_version == 2
    assert ring2.wrap(key).kek_version == 2
    assert same(ring2.unwrap(old), key)
    with pytest.raises(KeyNotFound):
        ring1.unwrap(ring2.wrap(key))
    assert same(ring2.pepper(), ring1.pepper())


def test_staged_kek_is_activated_separately() -> None:
    staged = KeyRing.generate().with_new_kek(activate=False)
    assert staged.kek_versions == (1, 2)
    assert staged.active_kek_version == 1
    active = staged.with_active_kek(2)
    assert active.active_kek_version == 2
    with pytest.raises(KeyNotFound):
        staged.with_active_kek(3)


def test_without_kek_refuses_the_active_version() -> None:
    ring = KeyRing.generate().with_new_kek()
    with pytest.raises(CryptoError, match="active"):
        ring.without_kek(2)
    with pytest.raises(KeyNotFound):
        ring.without_kek(9)


def test_retired_kek_cannot_unwrap_old_wraps() -> None:
    ring1 = KeyRing.generate()
    old = ring1.wrap(secrets.token_bytes(32))
    ring = ring1.with_new_kek().without_kek(1)
    assert ring.kek_versions == (2,)
    assert ring.retired_kek_versions == (1,)
    with pytest.raises(KeyNotFound) as info:
        ring.unwrap(old)
    assert info.value.version == 1


def test_retired_version_numbers_are_never_reused() -> None:
    # a staged version 2 retired before activation must not come back as a different key
    ring = KeyRing.generate().with_new_kek(activate=False).without_kek(2)
    ring = KeyRing.from_json(ring.to_json())
    assert ring.with_new_kek().kek_versions == (1, 3)


def test_peppers_are_versioned_independently() -> None:
    ring = KeyRing.generate().with_new_kek()
    ring2 = ring.with_new_pepper()
    assert ring2.pepper_versions == (1, 2)
    assert ring2.active_pepper_version == 2
    assert ring2.active_kek_version == 2
    assert not same(ring2.pepper(1), ring2.pepper(2))
    with pytest.raises(KeyNotFound) as info:
        ring2.pepper(5)
    assert info.value.version == 5
    assert info.value.kind == "pepper"
    assert ring2.without_pepper(1).pepper_versions == (2,)
    with pytest.raises(CryptoError):
        ring2.without_pepper(2)
    assert ring.with_new_pepper(activate=False).with_active_pepper(2).active_pepper_version == 2


def test_json_round_trip() -> None:
    ring = KeyRing.generate().with_new_kek().with_new_kek().without_kek(1).with_new_pepper()
    again = KeyRing.from_json(ring.to_json())
    assert again == ring
    assert again.kek_versions == (2, 3)
    assert again.retired_kek_versions == (1,)
    assert again.fingerprint() == ring.fingerprint()
    w = ring.wrap(secrets.token_bytes(32))
    assert same(again.unwrap(w), ring.unwrap(w))


def test_fingerprint_tracks_contents_and_is_not_a_key() -> None:
    ring = KeyRing.generate()
    assert ring.fingerprint() != ring.with_new_kek().fingerprint()
    assert len(ring.fingerprint()) == 16
    assert not leaks(ring, ring.fingerprint())


def _golden_obj() -> dict[str, object]:
    return json.loads(GOLDEN_RING)


def _bad_json_cases() -> list[str]:
    key = base64.b64encode(bytes(range(32))).decode()
    short = base64.b64encode(bytes(16)).decode()
    cases: list[object] = [
        {**_golden_obj(), "format": "other"},
        {**_golden_obj(), "kek": {"active": 2, "keys": {"1": key}}},
        {**_golden_obj(), "kek": {"active": True, "keys": {"1": key}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {"1": short}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {"1": key + "!"}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {"one": key}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {"0": key}}},
        {**_golden_obj(), "kek": {"active": 1, "keys": {"1": key}, "retired": [1]}},
        {**_golden_obj(), "pepper": None},
        [1, 2, 3],
    ]
    return ["{not json", "", *(json.dumps(c) for c in cases)]


@pytest.mark.parametrize("text", _bad_json_cases())
def test_from_json_rejects_bad_rings_without_quoting_them(text: str) -> None:
    with pytest.raises(KeyFileError) as info:
        KeyRing.from_json(text)
    message = str(info.value)
    key_b64 = base64.b64encode(bytes(range(32))).decode()
    assert key_b64 not in message
    assert key_b64[:16] not in message
    assert info.value.__cause__ is None


def test_save_load_round_trip_with_mode_0600(tmp_path: Path) -> None:
    ring = KeyRing.generate().with_new_kek()
    path = tmp_path / "keyring.json"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        ring.save(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.load(path) == ring
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]  # no temp files left


def test_save_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = KeyRing.generate()
    ring.save(path)
    rotated = ring.with_new_kek()
    rotated.save(path)
    assert KeyRing.load(path) == rotated
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    KeyRing.generate().save(path)
    path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        KeyRing.load(path)


def test_load_missing_or_garbage_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        KeyRing.load(tmp_path / "absent.json")
    path = tmp_path / "garbage.json"
    path.write_bytes(b"\xff\xfe not a ring")
    path.chmod(0o600)
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


def test_save_into_missing_directory_raises_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError):
        KeyRing.generate().save(tmp_path / "no" / "such" / "dir" / "ring.json")


def test_load_or_create_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keys" / "keyring.json"
    ring = load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create(path) == ring


def test_exclusive_create_never_replaces_an_existing_ring(tmp_path: Path) -> None:
    # what two dev processes racing in load_or_create rely on
    path = tmp_path / "keyring.json"
    first = KeyRing.generate()
    first.save(path)
    assert _write_atomic(path, KeyRing.generate().to_json().encode(), exclusive=True) is False
    assert KeyRing.load(path) == first
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


def test_repr_and_str_show_no_key_material() -> None:
    ring = KeyRing.generate().with_new_kek().with_new_pepper()
    for text in (repr(ring), str(ring), f"{ring}", repr(ring.wrap(secrets.token_bytes(32)))):
        assert not leaks(ring, text)
    assert "kek_versions=(1, 2)" in repr(ring)


def test_ring_cannot_be_pickled_or_copied_by_accident() -> None:
    ring = KeyRing.generate()
    with pytest.raises(TypeError):
        pickle.dumps(ring)
    with pytest.raises(TypeError):
        copy.copy(ring)


def test_error_messages_carry_no_key_material() -> None:
    ring = KeyRing.generate()
    w = ring.wrap(secrets.token_bytes(32))
    errors: list[Exception] = []
    for call in (
        lambda: ring.unwrap(WrappedKey(1, w.wrapped[:-1] + bytes([w.wrapped[-1] ^ 1]))),
        lambda: ring.unwrap(WrappedKey(3, w.wrapped)),
        lambda: ring.without_kek(1),
        lambda: ring.pepper(2),
    ):
        with pytest.raises(CryptoError) as info:
            call()
        errors.append(info.value)
    for e in errors:
        assert not leaks(ring, f"{e!s} {e!r} {e.args!r}")
        assert w.wrapped.hex() not in str(e)

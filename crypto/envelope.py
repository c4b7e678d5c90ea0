"""Envelope encryption: one AES-256-GCM data key per conversation, wrapped by the key ring.

Every ciphertext is bound by its associated data (`Aad`) to one row: conversation, sequence
number, author role, data-key version and purpose. A ciphertext copied anywhere else fails
to open.

Shredding: a conversation's data key exists only wrapped, next to the conversation. Once
that wrapped key is destroyed, nothing in the key ring can open its ciphertexts: the ring
holds KEKs, and KEKs only ever encrypt data keys, never messages.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import CryptoError, KeyExhausted, VaultError
from crypto.keyring import KEY_BYTES, NONCE_BYTES, KeyRing, WrappedKey

TAG_BYTES = 16
# NIST SP 800-38D caps random 96-bit nonces at 2**32 uses per key; we stay far below so the
# collision probability stays negligible (about 2**-37) rather than merely acceptable.
ENCRYPTION_LIMIT = 2**30
AAD_FORMAT = b"yizhan:aad:v1"
_MAX_SEQ = 2**63 - 1  # PostgreSQL bigint
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class Aad:
    """What a ciphertext is bound to.

    `key_version` is the conversation's data-key version, not the KEK version: rewrapping
    changes the KEK version and must not invalidate stored ciphertexts.
    """

    conversation_id: str
    seq: int
    role: str
    key_version: int
    purpose: str = "message"

    def __post_init__(self) -> None:
        # Canonical text so that 'ABC…' and 'abc…' name the same conversation. Ids from
        # the database already are (the usual case, twice per message: a quick check).
        cid = self.conversation_id
        if not (isinstance(cid, str) and _CANONICAL_UUID.fullmatch(cid)):
            try:
                canonical = str(uuid.UUID(cid))
            except (ValueError, TypeError, AttributeError):
                raise CryptoError("aad conversation_id must be a UUID") from None
            object.__setattr__(self, "conversation_id", canonical)
        for name in ("seq", "key_version"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_SEQ:
                raise CryptoError(f"aad {name} must be a non-negative 64-bit integer")
        for name in ("role", "purpose"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value) > 64:
                raise CryptoError(f"aad {name} must be a non-empty string of at most 64 chars")

    def encode(self) -> bytes:
        """Canonical bytes: each field length-prefixed, so no two Aads encode alike."""
        parts = [
            self.purpose,
            self.conversation_id,
            str(self.seq),
            self.role,
            str(self.key_version),
        ]
        out = bytearray(AAD_FORMAT)
        for part in parts:
            raw = part.encode("utf-8")
            out += len(raw).to_bytes(4, "big") + raw
        return bytes(out)


@dataclass(frozen=True, slots=True)
class Sealed:
    """An AES-GCM ciphertext (with its tag) and the fresh random nonce it was made with."""

    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """nonce ‖ ciphertext, for a single bytea column."""
        return self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> Sealed:
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise VaultError()
        return cls(bytes(data[:NONCE_BYTES]), bytes(data[NONCE_BYTES:]))

    def __repr__(self) -> str:
        return f"Sealed(<{len(self.ciphertext)} bytes>)"


def new_data_key(ring: KeyRing) -> tuple[bytes, WrappedKey]:
    """A fresh 256-bit data key and its wrap under the ring's active KEK."""
    key = AESGCM.generate_key(bit_length=256)
    return key, ring.wrap(key)


def check_budget(count: int) -> None:
    """Raise KeyExhausted if a data key already used `count` times may not encrypt again."""
    if count >= ENCRYPTION_LIMIT:
        raise KeyExhausted(count, ENCRYPTION_LIMIT)


def seal(data_key: bytes, plaintext: bytes, aad: Aad) -> Sealed:
    return _seal(_aead(data_key), plaintext, aad)


def open_sealed(data_key: bytes, sealed: Sealed, aad: Aad) -> bytes:
    return _open(_aead(data_key), sealed, aad)


def rewrap(ring: KeyRing, w: WrappedKey, to_version: int | None = None) -> WrappedKey:
    """Re-encrypt a data key under the active KEK (or `to_version`); never touches messages.

    Idempotent (a key already under the target comes back unchanged), so batches resume.
    """
    target = ring.active_kek_version if to_version is None else to_version
    if w.kek_version == target:
        return w
    return ring.wrap(ring.unwrap(w), target)


def _aead(data_key: bytes) -> AESGCM:
    if len(data_key) != KEY_BYTES:
        raise CryptoError(f"data keys must be {KEY_BYTES} bytes")
    return AESGCM(data_key)


def _seal(aead: AESGCM, plaintext: bytes, aad: Aad) -> Sealed:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return Sealed(nonce, aead.encrypt(nonce, plaintext, aad.encode()))


def _open(aead: AESGCM, sealed: Sealed, aad: Aad) -> bytes:
    if len(sealed.nonce) != NONCE_BYTES or len(sealed.ciphertext) < TAG_BYTES:
        raise VaultError()
    try:
        return aead.decrypt(sealed.nonce, sealed.ciphertext, aad.encode())
    except InvalidTag:
        raise VaultError() from None


class Vault:
    """The key ring plus a bounded LRU of unwrapped data keys, for the chat hot path.

    Thread-safe. Encryption counts are the caller's job (see `check_budget`): they must
    survive restarts and be shared between nodes, so they live in the database.
    """

    __slots__ = ("_cache", "_cache_size", "_lock", "_ring")

    def __init__(self, ring: KeyRing, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise CryptoError("cache_size must be >= 0")
        self._ring = ring
        self._cache_size = cache_size
        # (kek_version, wrapped bytes) -> AESGCM; holding unwrapped keys is the point
        self._cache: OrderedDict[tuple[int, bytes], AESGCM] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def replace_ring(self, ring: KeyRing) -> None:
        """Swap in a new ring and drop cached keys, so retired KEKs stop working at once."""
        with self._lock:
            self._ring = ring
            self._cache.clear()

    def new_conversation_key(self) -> WrappedKey:
        ring = self._ring
        key, wrapped = new_data_key(ring)
        self._remember(wrapped, AESGCM(key), ring)
        return wrapped

    def encrypt(self, wrapped: WrappedKey, plaintext: bytes, aad: Aad) -> Sealed:
        return _seal(self._aead_for(wrapped), plaintext, aad)

    def decrypt(self, wrapped: WrappedKey, sealed: Sealed, aad: Aad) -> bytes:
        return _open(self._aead_for(wrapped), sealed, aad)

    def rewrap(self, wrapped: WrappedKey, to_version: int | None = None) -> WrappedKey:
        return rewrap(self._ring, wrapped, to_version)

    def forget(self, wrapped: WrappedKey) -> None:
        """Drop a data key from the cache; call it when the conversation is shredded."""
        with self._lock:
            self._cache.pop((wrapped.kek_version, wrapped.wrapped), None)

    def cached_keys(self) -> int:
        with self._lock:
            return len(self._cache)

    def _aead_for(self, wrapped: WrappedKey) -> AESGCM:
        slot = (wrapped.kek_version, bytes(wrapped.wrapped))
        with self._lock:
            aead = self._cache.get(slot)
            if aead is not None:
                self._cache.move_to_end(slot)
                return aead
            ring = self._ring
        # Unwrap outside the lock; a concurrent miss on the same key just unwraps twice.
        aead = AESGCM(ring.unwrap(wrapped))
        self._remember(wrapped, aead, ring)
        return aead

    def _remember(self, wrapped: WrappedKey, aead: AESGCM, ring: KeyRing) -> None:
        with self._lock:
            if self._cache_size == 0 or ring is not self._ring:
                return  # the ring was replaced meanwhile: do not cache under the new one
            self._cache[(wrapped.kek_version, bytes(wrapped.wrapped))] = aead
            self._cache.move_to_end((wrapped.kek_version, bytes(wrapped.wrapped)))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def __repr__(self) -> str:
        return f"Vault(ring={self._ring!r}, cached_keys={self.cached_keys()})"

"""The server's handle on crypto/: loads the key ring from settings, seals rows."""

from __future__ import annotations

from chat_server.config import Settings
from crypto.envelope import Aad, Sealed, Vault
from crypto.keyring import KeyRing, WrappedKey, load_or_create

# The data-key generation bound into every ciphertext's associated data. A conversation
# has one data key for life; rewrapping its KEK does not change this.
DATA_KEY_VERSION = 1


def load_key_ring(settings: Settings) -> KeyRing:
    if settings.key_ring_json:
        return KeyRing.from_json(settings.key_ring_json)
    if settings.dev:
        return load_or_create(settings.key_path)
    return KeyRing.load(settings.key_path)


def seal_text(
    vault: Vault, wrapped: WrappedKey, conversation_id: str, seq: int, role: str, text: str,
    purpose: str = "message",
) -> Sealed:
    aad = Aad(conversation_id, seq, role, DATA_KEY_VERSION, purpose)
    return vault.encrypt(wrapped, text.encode("utf-8"), aad)


def open_text(
    vault: Vault, wrapped: WrappedKey, conversation_id: str, seq: int, role: str,
    nonce: bytes, ciphertext: bytes, purpose: str = "message",
) -> str:
    aad = Aad(conversation_id, seq, role, DATA_KEY_VERSION, purpose)
    return vault.decrypt(wrapped, Sealed(nonce, ciphertext), aad).decode("utf-8")

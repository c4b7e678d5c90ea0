"""The one exception tree of the crypto package.

Messages never carry key material, plaintext, identity numbers or tokens: they end up in
logs and HTTP problem documents.
"""

from __future__ import annotations

from yizhan_errors import YizhanError


class CryptoError(YizhanError):
    """Root of every error this package raises on purpose."""


class VaultError(CryptoError):
    """A ciphertext or wrapped key failed authentication (tampered, moved, or wrong key)."""

    def __init__(self, what: str = "ciphertext") -> None:
        super().__init__(f"{what} failed authentication")
        self.what = what


class KeyNotFound(CryptoError):
    """The key ring has no key-encryption key (or pepper) of this version."""

    def __init__(self, version: int, kind: str = "kek") -> None:
        super().__init__(f"no {kind} of version {version} in the key ring")
        self.version = version
        self.kind = kind


class KeyExhausted(CryptoError):
    """A data key has been used for as many encryptions as random nonces safely allow."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"data key used {count} times; limit is {limit}")
        self.count = count
        self.limit = limit


class InvalidIdentity(CryptoError):
    """An identity number was rejected; `.code` is stable, and the number is never kept."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WeakPassword(CryptoError):
    """A staff password was refused by the policy; `.code` is stable for the UI."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class KeyFileError(CryptoError):
    """The key ring file or JSON could not be read, parsed or written."""

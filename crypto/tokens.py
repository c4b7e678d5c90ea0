"""Opaque session tokens: random, handed to the client once, stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
# 32 bytes in unpadded URL-safe base64 are exactly 43 characters
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> str:
    """256 random bits as unpadded URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(token: str) -> bool:
    """Cheap shape check, so garbage is rejected before a database look-up."""
    return isinstance(token, str) and _TOKEN_RE.match(token) is not None


def hash_token(token: str) -> bytes:
    """SHA-256 of the token, which is what the database stores.

    Unkeyed and unsalted on purpose: the token has 256 bits of entropy, so nobody can
    guess it from its hash, and a deterministic hash lets the server find the row by it.
    (Passwords and ID numbers are low-entropy; they get Argon2id and HMAC instead.)
    """
    return hashlib.sha256(token.encode("utf-8")).digest()


def tokens_equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time comparison of two tokens or token hashes."""
    a_bytes = a.encode("utf-8") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)

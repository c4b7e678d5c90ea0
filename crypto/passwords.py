"""Staff passwords: Argon2id in self-describing PHC strings, and the password policy.

Passwords are NFKC-normalized before hashing (NIST SP 800-63B), so the same password typed
on two devices whose input methods compose characters differently still verifies.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import unicodedata
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from crypto.common_passwords import COMMON_PASSWORDS, STEMS
from crypto.errors import CryptoError, WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 256  # generous for passphrases, and bounds what a login request can make us hash
MIN_DISTINCT = 4  # "aaaaaaaaaaab" and "abababababab" are as weak as one repeated character


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_cost: int  # KiB
    iterations: int
    lanes: int
    hash_len: int = 32
    salt_len: int = 16


# OWASP's minimum Argon2id configuration (19 MiB, t=2, p=1): about 30 ms per hash here.
PARAMS = Argon2Params(memory_cost=19456, iterations=2, lanes=1)
# A stored hash asking for more than this is refused rather than computed: a row edited
# to m=4 GiB must not let one login attempt exhaust a node's memory.
_MAX_MEMORY_KIB = 1 << 20
_MAX_ITERATIONS = 16
_MAX_LANES = 8

_PHC_RE = re.compile(
    r"^\$argon2id\$v=(?P<v>\d+)\$m=(?P<m>\d+),t=(?P<t>\d+),p=(?P<p>\d+)"
    r"\$(?P<salt>[A-Za-z0-9+/]+)\$(?P<hash>[A-Za-z0-9+/]+)$"
)


@dataclass(frozen=True, slots=True)
class _Parsed:
    version: int
    params: Argon2Params


def _b64_len(text: str) -> int:
    # PHC strings use unpadded standard base64
    return len(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))


def _parse(encoded: str) -> _Parsed | None:
    m = _PHC_RE.match(encoded) if isinstance(encoded, str) else None
    if m is None:
        return None
    try:
        salt_len, hash_len = _b64_len(m["salt"]), _b64_len(m["hash"])
    except (binascii.Error, ValueError):
        return None
    params = Argon2Params(int(m["m"]), int(m["t"]), int(m["p"]), hash_len, salt_len)
    return _Parsed(int(m["v"]), params)


def _prepare(pw: str) -> bytes:
    return unicodedata.normalize("NFKC", pw).encode("utf-8")


def hash_password(pw: str) -> str:
    """Argon2id PHC string for `pw` with a fresh salt. Does not apply the policy."""
    if not isinstance(pw, str) or len(pw) > MAX_LENGTH:
        raise CryptoError(f"passwords are strings of at most {MAX_LENGTH} characters")
    kdf = Argon2id(
        salt=secrets.token_bytes(PARAMS.salt_len),
        length=PARAMS.hash_len,
        iterations=PARAMS.iterations,
        lanes=PARAMS.lanes,
        memory_cost=PARAMS.memory_cost,
    )
    return kdf.derive_phc_encoded(_prepare(pw))


def verify_password(pw: str, encoded: str) -> bool:
    """True if `pw` matches. Raises CryptoError if `encoded` is malformed or absurdly costly."""
    parsed = _parse(encoded)
    if parsed is None:
        raise CryptoError("stored password hash is not an Argon2id PHC string")
    p = parsed.params
    if p.memory_cost > _MAX_MEMORY_KIB or p.iterations > _MAX_ITERATIONS or p.lanes > _MAX_LANES:
        raise CryptoError("stored password hash asks for more work than this server allows")
    if not isinstance(pw, str) or len(pw) > MAX_LENGTH:
        return False  # no stored password can be this long
    try:
        Argon2id.verify_phc_encoded(_prepare(pw), encoded)
    except InvalidKey:
        return False
    return True


_dummy_hash: str | None = None


def dummy_verify(pw: str) -> bool:
    """Spend the time of one verification and return False.

    Call it when the user name is unknown, so response time does not tell which staff
    names exist.
    """
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(24))
    verify_password(pw if isinstance(pw, str) else "", _dummy_hash)
    return False


def needs_rehash(encoded: str) -> bool:
    """True if `encoded` was not made with exactly the current parameters (or is unreadable)."""
    parsed = _parse(encoded)
    return parsed is None or parsed.version != 19 or parsed.params != PARAMS


def check_password_policy(pw: str, *, username: str | None = None) -> None:
    """Raise WeakPassword (code: too_short, too_long, repeated, common, contains_username)."""
    if not isinstance(pw, str):
        raise WeakPassword("too_short", "A password is required.")
    normalized = unicodedata.normalize("NFKC", pw)
    if len(normalized) < MIN_LENGTH:
        raise WeakPassword("too_short", f"Use at least {MIN_LENGTH} characters.")
    if len(normalized) > MAX_LENGTH:
        raise WeakPassword("too_long", f"Use at most {MAX_LENGTH} characters.")
    if len(set(normalized)) < MIN_DISTINCT:
        raise WeakPassword("repeated", "Use more than a few different characters.")
    folded = normalized.casefold()
    if folded in COMMON_PASSWORDS or _padded_stem(folded):
        raise WeakPassword("common", "This password is too common; choose another.")
    if username and len(username) >= 3 and username.casefold() in folded:
        raise WeakPassword("contains_username", "A password cannot contain the user name.")


def _padded_stem(folded: str) -> bool:
    """A common word with only digits and symbols around it, e.g. "password@2024!"."""
    for stem in STEMS:
        start = folded.find(stem)
        while start != -1:
            rest = folded[:start] + folded[start + len(stem):]
            if not any(c.isalpha() for c in rest):
                return True
            start = folded.find(stem, start + 1)
    return False

"""Two-factor sign-in for staff: TOTP (RFC 6238) codes, recovery codes, enrolment QR.

Pure: no database, no clock of its own (`now` is passed in). The shared secret is kept
wrapped by the key ring's KEK, like a conversation's data key, so a dump of the database
alone cannot mint codes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

import segno
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from crypto.keyring import KEY_BYTES, KeyRing, WrappedKey

STEP_S = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommendation; what every authenticator app expects
ISSUER = "Yizhan"
# One step either side: a phone clock a little off still works, a code lives ≤ 90 s.
WINDOW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed
_RECOVERY_LEN = 10  # ~49 bits each; stored as SHA-256, used once


@dataclass(frozen=True, slots=True)
class SealedSecret:
    kek_version: int
    wrapped: bytes


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def seal(ring: KeyRing, secret: bytes) -> SealedSecret:
    # The ring wraps 32-byte keys only: pad with random bytes, keep the first 20 on open.
    w = ring.wrap(secret + secrets.token_bytes(KEY_BYTES - len(secret)))
    return SealedSecret(w.kek_version, w.wrapped)


def open_secret(ring: KeyRing, sealed: SealedSecret) -> bytes:
    return ring.unwrap(WrappedKey(sealed.kek_version, sealed.wrapped))[:SECRET_BYTES]


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, SHA1(), STEP_S, enforce_key_length=True)


def code_at(secret: bytes, at: dt.datetime) -> str:
    return _totp(secret).generate(int(at.timestamp())).decode()


def matching_step(secret: bytes, code: str, now: dt.datetime,
                  last_step: int | None) -> int | None:
    """The time step `code` belongs to, or None; a step at or before `last_step` is refused
    so a code seen over a shoulder cannot be replayed."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    t = _totp(secret)
    now_step = int(now.timestamp()) // STEP_S
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        try:
            t.verify(code.encode(), step * STEP_S)
        except InvalidToken:
            continue
        return step
    return None


def provisioning_uri(secret: bytes, username: str) -> str:
    return _totp(secret).get_provisioning_uri(username, ISSUER)


def secret_text(secret: bytes) -> str:
    """Base32 in groups of four, for typing into an app by hand."""
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return " ".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def qr_svg(uri: str) -> str:
    """The enrolment QR as an SVG document, drawn here so no page loads a third party."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False,
                                    svgns=True, dark="#1f2a37", light="#ffffff")
    return out.getvalue().decode()


def new_recovery_codes() -> list[str]:
    return ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LEN))
            for _ in range(RECOVERY_CODES)]


def recovery_hash(code: str) -> bytes:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(b"yizhan:recovery:" + normal.encode()).digest()


def looks_like_recovery(code: str) -> bool:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return len(normal) == _RECOVERY_LEN and all(c in _RECOVERY_ALPHABET for c in normal)


def same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)

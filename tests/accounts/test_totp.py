"""TOTP, recovery codes and the enrolment QR (pure; RFC 6238's published vector)."""

from __future__ import annotations

import datetime as dt

from chat_server.accounts import totp
from crypto.keyring import KeyRing

RFC_SECRET = b"12345678901234567890"  # RFC 6238 appendix B, SHA-1


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def test_the_rfc_6238_vectors() -> None:
    # 94287082 and 07081804 with 8 digits; we use the last 6.
    assert totp.code_at(RFC_SECRET, at(59)) == "287082"
    assert totp.code_at(RFC_SECRET, at(1111111109)) == "081804"


def test_a_code_matches_its_step_and_one_either_side_once() -> None:
    now = at(1_800_000_000)
    code = totp.code_at(RFC_SECRET, now)
    step = totp.matching_step(RFC_SECRET, code, now, None)
    assert step == 1_800_000_000 // 30
    assert totp.matching_step(RFC_SECRET, code, now + dt.timedelta(seconds=30), None) == step
    assert totp.matching_step(RFC_SECRET, code, now + dt.timedelta(seconds=90), None) is None
    # Used once: the same step is refused afterwards.
    assert totp.matching_step(RFC_SECRET, code, now, step) is None
    assert totp.matching_step(RFC_SECRET, "12345", now, None) is None
    assert totp.matching_step(RFC_SECRET, "abcdef", now, None) is None
    assert totp.matching_step(RFC_SECRET, code[:3] + " " + code[3:], now, None) == step


def test_the_secret_is_kept_wrapped() -> None:
    ring = KeyRing.generate()
    secret = totp.new_secret()
    sealed = totp.seal(ring, secret)
    assert secret not in sealed.wrapped
    assert totp.open_secret(ring, sealed) == secret


def test_recovery_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(totp.looks_like_recovery(c) for c in codes)
    assert totp.recovery_hash(codes[0]) == totp.recovery_hash(codes[0].upper()[:5] + " "
                                                              + codes[0][5:])
    assert not totp.looks_like_recovery("123456")


def test_the_qr_is_an_svg_and_the_uri_names_the_issuer() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "lin")
    assert uri.startswith("otpauth://totp/Yizhan:lin?") and "issuer=Yizhan" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "script" not in svg
    assert totp.secret_text(RFC_SECRET).replace(" ", "") == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

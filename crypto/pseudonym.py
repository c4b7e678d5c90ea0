"""Workers' identity numbers: validation, keyed pseudonyms, and display aliases.

The number itself is never stored, logged or shown: only `HMAC-SHA256(pepper, kind:number)`.
An unkeyed hash would not do; resident IDs and card numbers are small, structured spaces
that a stolen database dump could enumerate in minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from crypto.errors import InvalidIdentity
from crypto.keyring import KeyRing

# GB 11643-1999 (ISO 7064 MOD 11-2): weights for the first 17 digits, and the check
# character for each value of the weighted sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_DIGITS = frozenset("0123456789")
_MAX_INPUT = 64  # bounds normalization work on hostile input
_SHANGHAI = timezone(timedelta(hours=8))  # birth dates are local dates; China has no DST
# 32 symbols without the look-alikes 0/O and 1/I, so an alias can be read aloud or retyped.
ALIAS_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class IdentityKind(StrEnum):
    RESIDENT_ID = "resident_id"
    UNION_CARD = "union_card"


@dataclass(frozen=True, slots=True)
class Identity:
    """A validated, normalized number; its repr hides the number."""

    kind: IdentityKind
    normalized: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """HMAC of an identity under pepper `pepper_version`; store `.hex()` and the version."""

    pepper_version: int
    digest: bytes

    def hex(self) -> str:
        return self.digest.hex()

    @classmethod
    def from_hex(cls, pepper_version: int, text: str) -> Pseudonym:
        return cls(pepper_version, bytes.fromhex(text))

    def __repr__(self) -> str:
        return f"Pseudonym(pepper_version={self.pepper_version}, digest=<{len(self.digest)} bytes>)"


_RULE_RE = re.compile(r"^(\d{1,2})(?:-(\d{1,2}))?$")


@dataclass(frozen=True, slots=True)
class CardRule:
    """Which strings count as union card numbers: length range, Luhn, required prefix."""

    min_len: int = 16
    max_len: int = 19
    luhn: bool = True
    prefix: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len <= _MAX_INPUT:
            raise ValueError(f"card rule lengths must satisfy 1 <= min <= max <= {_MAX_INPUT}")
        if not set(self.prefix) <= _DIGITS or len(self.prefix) > self.min_len:
            raise ValueError("card rule prefix must be digits, no longer than the minimum length")

    @classmethod
    def parse(cls, text: str) -> CardRule:
        """Parse a setting such as "16-19,luhn", "12-20" or "16-19,luhn,prefix=62"."""
        parts = [p.strip() for p in text.split(",")]
        m = _RULE_RE.match(parts[0])
        if m is None:
            raise ValueError(
                f"card rule {text!r}: must start with a length or range like 16-19"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        luhn, prefix = False, ""
        for part in parts[1:]:
            if part == "luhn" and not luhn:
                luhn = True
            elif part.startswith("prefix=") and not prefix:
                prefix = part.removeprefix("prefix=")
                if not prefix:
                    raise ValueError(f"card rule {text!r}: prefix= needs digits")
            else:
                raise ValueError(
                    f"card rule {text!r}: unknown or repeated option {part!r}; "
                    "expected 'luhn' or 'prefix=DIGITS'"
                )
        try:
            return cls(lo, hi, luhn, prefix)
        except ValueError as e:
            raise ValueError(f"card rule {text!r}: {e}") from None

    def __str__(self) -> str:
        out = f"{self.min_len}-{self.max_len}"
        if self.luhn:
            out += ",luhn"
        if self.prefix:
            out += f",prefix={self.prefix}"
        return out


DEFAULT_CARD_RULE = CardRule()


def _normalize(s: str) -> str:
    # Phones type full-width digits (NFKC folds them), and people group digits with spaces.
    if not isinstance(s, str):
        raise InvalidIdentity("bad_characters", "The number must be given as text.")
    if len(s) > _MAX_INPUT:
        raise InvalidIdentity("bad_length", "The number is too long.")
    s = unicodedata.normalize("NFKC", s).strip()
    return s.replace(" ", "").replace("-", "").upper()


def _today() -> date:
    return datetime.now(_SHANGHAI).date()


def validate_resident_id(s: str, *, today: date | None = None) -> str:
    """Return the normalized 18-character resident ID, or raise InvalidIdentity."""
    return _check_resident_id(_normalize(s), today)


def _check_resident_id(n: str, today: date | None) -> str:
    if len(n) != 18:
        raise InvalidIdentity("bad_length", "A resident ID number has 18 characters.")
    if not (set(n[:17]) <= _DIGITS and (n[17] in _DIGITS or n[17] == "X")):
        raise InvalidIdentity(
            "bad_characters", "A resident ID number is 17 digits followed by a digit or X."
        )
    total = sum(int(c) * w for c, w in zip(n[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != n[17]:
        raise InvalidIdentity(
            "bad_checksum", "The check digit does not match; please check the number for typos."
        )
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        born = None
    if born is None or born.year < 1900 or born > (today or _today()):
        raise InvalidIdentity("bad_date", "The birth date in the resident ID is not possible.")
    return n


def validate_union_card(s: str, rule: CardRule = DEFAULT_CARD_RULE) -> str:
    """Return the normalized card number (digits only), or raise InvalidIdentity."""
    return _check_card(_normalize(s), rule)


def _check_card(n: str, rule: CardRule) -> str:
    if not n:
        raise InvalidIdentity("bad_length", "Please enter a union card or resident ID number.")
    if not set(n) <= _DIGITS:
        raise InvalidIdentity("bad_characters", "A union card number contains only digits.")
    if not rule.min_len <= len(n) <= rule.max_len:
        span = (
            str(rule.min_len) if rule.min_len == rule.max_len
            else f"{rule.min_len} to {rule.max_len}"
        )
        raise InvalidIdentity("bad_length", f"A union card number has {span} digits.")
    if not n.startswith(rule.prefix):
        raise InvalidIdentity(
            "bad_prefix", f"A union card number of this federation starts with {rule.prefix}."
        )
    if rule.luhn and not _luhn_ok(n):
        raise InvalidIdentity(
            "bad_checksum", "The check digit does not match; please check the number for typos."
        )
    return n


def _luhn_ok(n: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(n)):
        d = int(c)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def identify(
    s: str, rule: CardRule = DEFAULT_CARD_RULE, *, today: date | None = None
) -> Identity:
    """Classify and validate a number a worker typed.

    18 characters of digits (the last may be X) are read as a resident ID. If that fails
    and the string is all digits and a valid card under `rule`, it is a card; otherwise
    the resident-ID error stands. Anything else is checked as a card.
    """
    n = _normalize(s)
    if len(n) == 18 and set(n[:17]) <= _DIGITS and (n[17] in _DIGITS or n[17] == "X"):
        try:
            return Identity(IdentityKind.RESIDENT_ID, _check_resident_id(n, today))
        except InvalidIdentity as id_error:
            if n[17] != "X" and _is_card(n, rule):
                return Identity(IdentityKind.UNION_CARD, n)
            raise id_error from None
    return Identity(IdentityKind.UNION_CARD, _check_card(n, rule))


def _is_card(n: str, rule: CardRule) -> bool:
    try:
        _check_card(n, rule)
    except InvalidIdentity:
        return False
    return True


def pseudonym(ring: KeyRing, identity: Identity, pepper_version: int | None = None) -> Pseudonym:
    """HMAC-SHA256(pepper, "kind:number"); the kind keeps a card and an ID from colliding."""
    version = ring.active_pepper_version if pepper_version is None else pepper_version
    message = f"{identity.kind.value}:{identity.normalized}".encode("ascii")
    return Pseudonym(version, hmac.digest(ring.pepper(version), message, "sha256"))


def all_pseudonyms(ring: KeyRing, identity: Identity) -> tuple[Pseudonym, ...]:
    """The identity's pseudonym under every pepper in the ring, active first (for look-up)."""
    active = ring.active_pepper_version
    versions = [active, *(v for v in reversed(ring.pepper_versions) if v != active)]
    return tuple(pseudonym(ring, identity, v) for v in versions)


def alias(digest: bytes, prefix: str = "职工") -> str:
    """A display alias like 职工·7F3K: 20 bits, one-way, cannot lead back to the number.

    Aliases collide (expect a clash among ~1,000 workers); they are names for people, not
    keys for rows.
    """
    # Hashed again so the alias does not reveal bits of the stored pseudonym.
    bits = int.from_bytes(hashlib.sha256(b"yizhan:alias:" + digest).digest()[:3], "big") >> 4
    chars = [ALIAS_ALPHABET[(bits >> shift) & 31] for shift in (15, 10, 5, 0)]
    return f"{prefix}·{''.join(chars)}"

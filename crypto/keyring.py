"""The key ring: versioned key-encryption keys (KEK) and versioned pseudonym peppers.

A ring is immutable: every change (new version, retirement) returns a new ring, so a ring
handed to a running server can never change under it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import CryptoError, KeyFileError, KeyNotFound, VaultError

KEY_BYTES = 32  # AES-256 KEKs; peppers as long as the HMAC-SHA256 digest
NONCE_BYTES = 12
FORMAT = "yizhan-keyring/1"
# nonce + encrypted 32-byte data key + 16-byte tag
WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + 16


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under KEK `kek_version`; safe to store next to the data."""

    kek_version: int
    wrapped: bytes

    def __repr__(self) -> str:
        return f"WrappedKey(kek_version={self.kek_version}, wrapped=<{len(self.wrapped)} bytes>)"


def _wrap_aad(version: int) -> bytes:
    # Binding the version means a wrap cannot be relabelled as made by another KEK.
    return f"yizhan:kek-wrap:v{version}".encode()


def _is_int(value: object) -> TypeGuard[int]:
    # JSON true/false would otherwise pass as the integers 1/0
    return isinstance(value, int) and not isinstance(value, bool)


class _Versions:
    """One family of versioned 32-byte secrets: keys by version, the active one, retired numbers."""

    __slots__ = ("active", "keys", "retired")

    def __init__(self, keys: Mapping[int, bytes], active: int, retired: frozenset[int]) -> None:
        self.keys = dict(sorted(keys.items()))
        self.active = active
        # remembered so a retired version number is never handed out again
        self.retired = retired

    def validate(self, kind: str) -> None:
        if not self.keys:
            raise KeyFileError(f"key ring has no {kind}")
        for version, key in self.keys.items():
            if not _is_int(version) or version < 1:
                raise KeyFileError(f"{kind} versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise KeyFileError(f"{kind} version {version} is not {KEY_BYTES} bytes")
        if self.active not in self.keys:
            raise KeyFileError(f"active {kind} version {self.active} is not in the key ring")
        if self.retired & self.keys.keys():
            raise KeyFileError(f"a {kind} version is both present and retired")

    def added(self, activate: bool) -> _Versions:
        version = max(self.keys.keys() | self.retired) + 1
        keys = {**self.keys, version: secrets.token_bytes(KEY_BYTES)}
        return _Versions(keys, version if activate else self.active, self.retired)

    def activated(self, version: int, kind: str) -> _Versions:
        if version not in self.keys:
            raise KeyNotFound(version, kind)
        return _Versions(self.keys, version, self.retired)

    def removed(self, version: int, kind: str) -> _Versions:
        if version not in self.keys:
            raise KeyNotFound(version, kind)
        if version == self.active:
            raise CryptoError(f"refusing to retire the active {kind} version {version}")
        keys = {v: k for v, k in self.keys.items() if v != version}
        return _Versions(keys, self.active, self.retired | {version})

    def to_obj(self) -> dict[str, object]:
        return {
            "active": self.active,
            "keys": {str(v): base64.b64encode(k).decode("ascii") for v, k in self.keys.items()},
            "retired": sorted(self.retired),
        }

    @classmethod
    def from_obj(cls, obj: object, kind: str) -> _Versions:
        if not isinstance(obj, dict):
            raise KeyFileError(f"key ring field {kind!r} must be an object")
        active, raw_keys, retired = obj.get("active"), obj.get("keys"), obj.get("retired", [])
        if not _is_int(active) or not isinstance(raw_keys, dict):
            raise KeyFileError(f"key ring field {kind!r} needs 'active' and 'keys'")
        if not isinstance(retired, list) or not all(_is_int(v) for v in retired):
            raise KeyFileError(f"key ring field {kind!r}.retired must be a list of integers")
        keys: dict[int, bytes] = {}
        for name, text in raw_keys.items():
            if not (isinstance(name, str) and name.isascii() and name.isdigit()):
                raise KeyFileError(f"{kind} version names must be decimal integers")
            if not isinstance(text, str):
                raise KeyFileError(f"{kind} version {name} must be a base64 string")
            try:
                keys[int(name)] = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                # `from None`: the decoder's message could quote the (bad) key text
                raise KeyFileError(f"{kind} version {name} is not valid base64") from None
        versions = cls(keys, active, frozenset(retired))
        versions.validate(kind)
        return versions


class KeyRing:
    """Versioned KEKs (wrap data keys) and peppers (key pseudonyms); immutable."""

    __slots__ = ("_aeads", "_kek", "_pepper")

    def __init__(self, kek: _Versions, pepper: _Versions) -> None:
        kek.validate("kek")
        pepper.validate("pepper")
        self._kek = kek
        self._pepper = pepper
        # AESGCM objects are cheap, but the hot path wraps and unwraps often
        self._aeads: dict[int, AESGCM] = {}

    # construction ---------------------------------------------------------------------

    @classmethod
    def generate(cls) -> KeyRing:
        """A fresh ring with KEK version 1 and pepper version 1."""
        return cls(
            _Versions({1: secrets.token_bytes(KEY_BYTES)}, 1, frozenset()),
            _Versions({1: secrets.token_bytes(KEY_BYTES)}, 1, frozenset()),
        )

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            # `from None`: JSONDecodeError keeps the whole document in `.doc`
            raise KeyFileError("key ring is not valid JSON") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise KeyFileError(f"key ring JSON must have format {FORMAT!r}")
        return cls(_Versions.from_obj(obj.get("kek"), "kek"),
                   _Versions.from_obj(obj.get("pepper"), "pepper"))

    def to_json(self) -> str:
        obj = {"format": FORMAT, "kek": self._kek.to_obj(), "pepper": self._pepper.to_obj()}
        return json.dumps(obj, sort_keys=True, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read a ring file; refuses files that group or others may read or write."""
        path = Path(path)
        try:
            with open(path, "rb") as f:
                mode = os.fstat(f.fileno()).st_mode
                if os.name == "posix" and stat.S_IMODE(mode) & 0o077:
                    raise KeyFileError(
                        f"key ring file {path} is accessible to group or others; chmod 600 it"
                    )
                raw = f.read()
        except OSError as e:
            raise KeyFileError(f"cannot read key ring file {path}: {e.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFileError(f"key ring file {path} is not UTF-8") from None
        return cls.from_json(text)

    def save(self, path: Path) -> None:
        """Write atomically (temp file, fsync, rename) with mode 0600."""
        _write_atomic(Path(path), self.to_json().encode("utf-8"), exclusive=False)

    # KEKs -----------------------------------------------------------------------------

    @property
    def active_kek_version(self) -> int:
        return self._kek.active

    @property
    def kek_versions(self) -> tuple[int, ...]:
        return tuple(self._kek.keys)

    @property
    def retired_kek_versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._kek.retired))

    def with_new_kek(self, activate: bool = True) -> KeyRing:
        """A ring with one more KEK (version max+1), active unless `activate=False`.

        With several app nodes, roll out `activate=False` first, then activate: a node that
        does not yet know the new KEK cannot unwrap what another node wrapped with it.
        """
        return KeyRing(self._kek.added(activate), self._pepper)

    def with_active_kek(self, version: int) -> KeyRing:
        return KeyRing(self._kek.activated(version, "kek"), self._pepper)

    def without_kek(self, version: int) -> KeyRing:
        """Retire a KEK; refuses the active one. Callers must first rewrap its data keys."""
        return KeyRing(self._kek.removed(version, "kek"), self._pepper)

    def wrap(self, data_key: bytes, kek_version: int | None = None) -> WrappedKey:
        """Encrypt a 32-byte data key under the active KEK (AES-256-GCM, version as AAD).

        `kek_version` picks another KEK of the ring, e.g. a retention window's own KEK.
        """
        if len(data_key) != KEY_BYTES:
            raise CryptoError(f"data keys must be {KEY_BYTES} bytes")
        version = self._kek.active if kek_version is None else kek_version
        if version not in self._kek.keys:
            raise KeyNotFound(version, "kek")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead(version).encrypt(nonce, bytes(data_key), _wrap_aad(version))
        return WrappedKey(version, nonce + sealed)

    def unwrap(self, w: WrappedKey) -> bytes:
        if w.kek_version not in self._kek.keys:
            raise KeyNotFound(w.kek_version, "kek")
        if len(w.wrapped) != WRAPPED_BYTES:
            raise VaultError("wrapped key")
        nonce, sealed = w.wrapped[:NONCE_BYTES], w.wrapped[NONCE_BYTES:]
        try:
            return self._aead(w.kek_version).decrypt(nonce, sealed, _wrap_aad(w.kek_version))
        except InvalidTag:
            raise VaultError("wrapped key") from None

    def _aead(self, version: int) -> AESGCM:
        aead = self._aeads.get(version)
        if aead is None:
            aead = self._aeads[version] = AESGCM(self._kek.keys[version])
        return aead

    # peppers --------------------------------------------------------------------------

    @property
    def active_pepper_version(self) -> int:
        return self._pepper.active

    @property
    def pepper_versions(self) -> tuple[int, ...]:
        return tuple(self._pepper.keys)

    def pepper(self, version: int | None = None) -> bytes:
        """The pepper of `version` (default: the active one); raises KeyNotFound."""
        version = self._pepper.active if version is None else version
        try:
            return self._pepper.keys[version]
        except KeyError:
            raise KeyNotFound(version, "pepper") from None

    def with_new_pepper(self, activate: bool = True) -> KeyRing:
        """Add a pepper version. Read docs/SECURITY.md first: it changes every pseudonym."""
        return KeyRing(self._kek, self._pepper.added(activate))

    def with_active_pepper(self, version: int) -> KeyRing:
        return KeyRing(self._kek, self._pepper.activated(version, "pepper"))

    def without_pepper(self, version: int) -> KeyRing:
        return KeyRing(self._kek, self._pepper.removed(version, "pepper"))

    # identity -------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """A short non-secret id of the ring's contents, to check that nodes agree."""
        h = hashlib.sha256(b"yizhan:keyring-fingerprint")
        for family in (self._kek, self._pepper):
            h.update(f"|{family.active}|".encode())
            for version, key in family.keys.items():
                h.update(f"{version}:".encode() + key)
        return h.hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRing):
            return NotImplemented
        return secrets.compare_digest(self.to_json().encode(), other.to_json().encode())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Versions only: a repr ends up in logs and tracebacks.
        return (
            f"KeyRing(kek_versions={self.kek_versions}, active_kek={self.active_kek_version}, "
            f"pepper_versions={self.pepper_versions}, active_pepper={self.active_pepper_version})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy keys into caches, queues and core dumps; use to_json on purpose.
        raise TypeError("KeyRing cannot be pickled; use to_json() deliberately")


def load_or_create(path: Path) -> KeyRing:
    """Development: load the ring at `path`, or create one (dir 0700, file 0600) if absent."""
    path = Path(path)
    if path.exists():
        return KeyRing.load(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise KeyFileError(f"cannot create directory {path.parent}: {e.strerror}") from None
    ring = KeyRing.generate()
    # Exclusive create: two processes starting at once must not each keep a different ring.
    if _write_atomic(path, ring.to_json().encode("utf-8"), exclusive=True):
        return ring
    return KeyRing.load(path)


def _write_atomic(path: Path, data: bytes, *, exclusive: bool) -> bool:
    """Write via a 0600 temp file; returns False if `exclusive` and `path` already exists."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            try:
                os.link(tmp, path)  # fails if path exists: atomic create-if-absent
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
        return True
    except OSError as e:
        raise KeyFileError(f"cannot write key ring file {path}: {e.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

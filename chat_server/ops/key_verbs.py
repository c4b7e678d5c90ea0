"""`yizhan keys …`: the key ring's verbs (init, rotate, retire, status).

The ring file is written 0600 and never printed; the SQL they need is in ops/keys.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chat_server.config import Settings
from chat_server.ops import keys as keyops
from chat_server.ops.verbs import BAD_INPUT, OK, REFUSED, AdminError, connection, run
from crypto.errors import CryptoError, KeyFileError
from crypto.keyring import KeyRing, _write_atomic


def add_key_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = verbs.add_parser("keys", help="key ring: rotate, retire, status")
    kv = keys.add_subparsers(dest="keys_verb", required=True)
    rotate = kv.add_parser("rotate", help="add an active KEK, then rewrap data keys to it")
    rotate.add_argument("--batch", type=int, default=keyops.DEFAULT_BATCH)
    rotate.add_argument(
        "--rewrap-only", action="store_true",
        help="add no key; rewrap to the ring's active KEK (resume, or after a deploy)",
    )
    rotate.add_argument(
        "--ring-out", type=Path,
        help="with YIZHAN_KEY_RING: write the new ring to this new 0600 file",
    )
    rotate.set_defaults(handler=keys_rotate)
    retire = kv.add_parser("retire", help="remove a KEK version no data key uses any more")
    retire.add_argument("version", type=int)
    retire.add_argument("--ring-out", type=Path, help="as for rotate")
    retire.set_defaults(handler=keys_retire)
    kv.add_parser("status", help="ring versions and data keys per version").set_defaults(
        handler=keys_status
    )
    init = kv.add_parser("init", help="write a new key ring (0600); never overwrites one")
    init.add_argument(
        "--out", type=Path, help="where to write it (default: YIZHAN_KEY_FILE, else "
        "$YIZHAN_DATA_DIR/keys.json)",
    )
    init.set_defaults(handler=keys_init)


def load_ring(settings: Settings) -> tuple[KeyRing, Path | None]:
    """The configured ring, and the file it came from (None when it came from YIZHAN_KEY_RING)."""
    try:
        if settings.key_ring_json:
            return KeyRing.from_json(settings.key_ring_json), None
        return KeyRing.load(settings.key_path), settings.key_path
    except KeyFileError as exc:
        hint = ("" if settings.key_ring_json
                else " (create one with `yizhan keys init`, or set YIZHAN_KEY_RING)")
        raise AdminError(f"{exc}{hint}", BAD_INPUT) from None


def store_ring(ring: KeyRing, source: Path | None, ring_out: Path | None) -> Path:
    """Write a changed ring: back to its file, or, for an environment ring, to `ring_out`.

    Key material is never printed: stdout ends up in terminal scroll-back and CI logs.
    """
    try:
        if source is not None:
            ring.save(source)
            return source
        if ring_out is None:
            raise AdminError(
                "the ring comes from YIZHAN_KEY_RING, which this command cannot change: "
                "give --ring-out PATH to receive the new ring", BAD_INPUT
            )
        if not _write_atomic(ring_out, ring.to_json().encode("utf-8"), exclusive=True):
            raise AdminError(f"{ring_out} already exists; choose a new path", BAD_INPUT)
    except KeyFileError as exc:
        raise AdminError(str(exc)) from None
    return ring_out


def keys_rotate(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch < 1:
        print("yizhan keys rotate: --batch must be at least 1", file=sys.stderr)
        return BAD_INPUT
    try:
        ring, source = load_ring(settings)
        if not args.rewrap_only:
            ring = ring.with_new_kek()
            where = store_ring(ring, source, args.ring_out)
            print(f"added KEK version {ring.active_kek_version} (active); ring written to "
                  f"{where}; fingerprint {ring.fingerprint()}")
            if source is None:
                # The nodes must hold the new ring before any key is rewrapped to it.
                print("next: deploy that file's contents as YIZHAN_KEY_RING to every node, "
                      "then run `yizhan keys rotate --rewrap-only` with it")
                return OK
            print("warning: nodes running with the old ring cannot open rewrapped "
                  "conversations; restart them now", file=sys.stderr)
    except AdminError as exc:
        print(f"yizhan keys rotate: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        def progress(count: int, total: int) -> None:
            print(f"  rewrapped {total} data key(s)", flush=True)

        async with connection(resolved) as conn:
            try:
                total = await keyops.rewrap_all(conn, ring, batch=args.batch,
                                                on_batch=progress)
            except CryptoError as exc:
                raise AdminError(f"cannot rewrap: {exc}") from None
        print(f"done: {total} data key(s) rewrapped to KEK version {ring.active_kek_version}")
        return OK

    return run("keys rotate", settings, work)


def keys_retire(settings: Settings, args: argparse.Namespace) -> int:
    try:
        ring, source = load_ring(settings)
    except AdminError as exc:
        print(f"yizhan keys retire: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        async with connection(resolved) as conn:
            in_use = await keyops.live_keys_under(conn, args.version)
        if in_use:
            raise AdminError(
                f"KEK version {args.version} still wraps {in_use} data key(s); "
                "run `yizhan keys rotate --rewrap-only` first"
            )
        try:
            new_ring = ring.without_kek(args.version)
        except CryptoError as exc:
            raise AdminError(str(exc)) from None
        where = store_ring(new_ring, source, args.ring_out)
        print(f"retired KEK version {args.version}; ring written to {where}; "
              f"fingerprint {new_ring.fingerprint()}")
        print("remember: also destroy the old key in the secret store and its history")
        return OK

    return run("keys retire", settings, work)


def keys_init(settings: Settings, args: argparse.Namespace) -> int:
    """A new production ring: written once, 0600, and never printed."""
    path: Path = args.out or settings.key_path
    if args.out is None and settings.key_ring_json:
        print("yizhan keys init: YIZHAN_KEY_RING is already set; a ring exists. "
              "Give --out PATH to write a separate new ring anyway.", file=sys.stderr)
        return REFUSED
    ring = KeyRing.generate()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        written = _write_atomic(path, ring.to_json().encode("utf-8"), exclusive=True)
    except (KeyFileError, OSError) as exc:
        print(f"yizhan keys init: {exc}", file=sys.stderr)
        return REFUSED
    if not written:
        print(f"yizhan keys init: {path} already exists; it is never overwritten (losing a "
              "ring makes every transcript unreadable)", file=sys.stderr)
        return REFUSED
    print(f"wrote a new key ring to {path} (mode 0600); fingerprint {ring.fingerprint()}")
    print("back it up now, to a place apart from the database backups (a password manager, "
          "the secret store, or an offline medium in a safe):")
    print("  - without this file no transcript, case note or worker pseudonym can be read or "
          "matched again, and no backup of the database is of any use;")
    print("  - with it, a stolen database backup can be read: never store the two together.")
    print("give it to every node as YIZHAN_KEY_FILE (0600, owned by the service user) or its "
          "contents as YIZHAN_KEY_RING; `yizhan keys status` shows the fingerprint to compare.")
    return OK


def keys_status(settings: Settings, args: argparse.Namespace) -> int:
    try:
        ring, source = load_ring(settings)
    except AdminError as exc:
        print(f"yizhan keys status: {exc}", file=sys.stderr)
        return exc.status

    async def work(resolved: Settings) -> int:
        async with connection(resolved) as conn:
            counts = await keyops.usage(conn)
        print(f"ring: {source or 'YIZHAN_KEY_RING'}  fingerprint {ring.fingerprint()}")
        print(f"KEK versions {list(ring.kek_versions)}, active {ring.active_kek_version}, "
              f"retired {list(ring.retired_kek_versions)}")
        print(f"{'kek':>4} {'live keys':>10} {'shredded':>9}")
        unreadable = 0
        for u in counts:
            mark = "" if u.kek_version in ring.kek_versions or not u.live else "  NOT IN RING"
            if mark:
                unreadable += u.live
            print(f"{u.kek_version:>4} {u.live:>10} {u.shredded:>9}{mark}")
        pending = sum(u.live for u in counts if u.kek_version != ring.active_kek_version)
        print(f"{pending} data key(s) not yet on the active version")
        if unreadable:
            print(f"warning: {unreadable} data key(s) are wrapped by a KEK this ring lacks",
                  file=sys.stderr)
            return REFUSED
        return OK

    return run("keys status", settings, work)

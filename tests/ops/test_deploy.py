"""deploy/: the nginx site in front of two real nodes over TLS, and the alert rules.

The site file is used as shipped; only its ports, certificate paths and node addresses
are swapped for the test's. nginx and promtool are Debian's (scripts/ensure-deploy-tools
installs them for `make test`); a missing one fails the test rather than skipping it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chat_server import metrics  # noqa: F401 - registers every metric the rules name
from chat_server.accounts.sessions import SessionStore
from chat_server.wire.protocol import Role
from crypto.keyring import KeyRing
from crypto.pseudonym import DEFAULT_CARD_RULE
from tests.clients import PASSWORD, WsClient, resident_id

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# nginx reaches the nodes from this address, the only one they trust to forward.
PROXY_ADDRESS = "127.0.0.2"
SIGNINS_PER_MINUTE = 3


def tool(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail(f"{name} is missing: run scripts/ensure-deploy-tools (make test does)")
    return found


# ---- alert rules ------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    promtool = tool("promtool")
    rules = DEPLOY / "prometheus"
    for args in (["check", "rules", "yizhan-rules.yml"],
                 ["test", "rules", "yizhan-rules.test.yml"]):
        done = subprocess.run([promtool, *args], cwd=rules, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_the_rules_name_exists() -> None:
    from prometheus_client import REGISTRY

    text = (DEPLOY / "prometheus" / "yizhan-rules.yml").read_text(encoding="utf-8")
    named = set(re.findall(r"\byizhan_[a-z_]+", text))
    # Families (a labelled gauge has no sample before its first use) and their samples.
    families = list(REGISTRY.collect())
    exported = {m.name for m in families} | {s.name for m in families for s in m.samples}
    assert named and named - exported == set()


# ---- the site ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yizhan test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def site_for_test(tls_port: int, http_port: int, nodes: list[int], cert: Path, key: Path
                  ) -> str:
    """The shipped site with the test's ports, certificate and nodes; nothing else changed."""
    site = (DEPLOY / "nginx" / "yizhan.conf").read_text(encoding="utf-8")
    swaps = [
        (r"server 127\.0\.0\.1:8001 ", f"server 127.0.0.1:{nodes[0]} "),
        (r"server 127\.0\.0\.1:8002 ", f"server 127.0.0.1:{nodes[1]} "),
        (r"\n\s*listen \[::\]:80;", ""),
        (r"\n\s*listen \[::\]:443 ssl;", ""),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        (r"/etc/ssl/yizhan/fullchain\.pem", str(cert)),
        (r"/etc/ssl/yizhan/privkey\.pem", str(key)),
        # Test only: the proxy connects from its own loopback address, so the nodes can
        # tell it from a client that connects to them directly.
        (r"(\n\s*)proxy_http_version 1\.1;",
         rf"\1proxy_bind {PROXY_ADDRESS};\1proxy_http_version 1.1;"),
    ]
    for pattern, replacement in swaps:
        site, count = re.subn(pattern, replacement, site)
        assert count == 1, f"the site no longer has {pattern!r}: update this test"
    return site


def nginx_conf(folder: Path, site: str) -> Path:
    (folder / "site.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;
events {{ worker_connections 256; }}
http {{
{temp}
    include {folder}/site.conf;
}}
""", encoding="utf-8")
    return conf


class Node:
    """`yizhan serve` in its own process, configured as deploy/yizhan.env.example says."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat_server.cli", "serve"],
            env={**env, "PORT": str(self.port)}, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client() as client:
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{url} not ready"
            time.sleep(0.1)


class Stack:
    def __init__(self, base: str, http_base: str, nodes: list[Node], tls: ssl.SSLContext):
        self.base = base
        self.http_base = http_base
        self.nodes = nodes
        self.tls = tls
        self.origin = base

    def client(self, source: str) -> httpx.AsyncClient:
        """A browser at address `source` (127.0.0.x), talking to nginx over TLS."""
        return httpx.AsyncClient(
            base_url=self.base, headers={"Origin": self.origin}, verify=self.tls,
            transport=httpx.AsyncHTTPTransport(verify=self.tls, local_address=source))

    async def socket(self, path: str, cookie: str) -> WsClient:
        url = self.base.replace("https://", "wss://") + path
        ws = await websockets.connect(url, ssl=self.tls, compression=None,
                                      additional_headers={"Origin": self.origin,
                                                          "Cookie": cookie})
        return WsClient(ws)


@pytest.fixture
def stack(clean: None, backend_urls: tuple[str, str], key_file: Path, tmp_path: Path
          ) -> Iterator[Stack]:
    nginx = tool("nginx")
    cert, key = self_signed(tmp_path)
    tls_port, http_port = free_port(), free_port()
    base = f"https://127.0.0.1:{tls_port}"
    env = {
        **os.environ,
        "DATABASE_URL": backend_urls[0], "REDIS_URL": backend_urls[1],
        "YIZHAN_KEY_FILE": str(key_file), "HOST": "127.0.0.1",
        "YIZHAN_ALLOWED_ORIGINS": base, "YIZHAN_TRUSTED_PROXIES": PROXY_ADDRESS,
        "YIZHAN_OPEN_TIME": "00:00", "YIZHAN_DUTY_REQUIRES_ROSTER": "false",
        "YIZHAN_SIGNIN_PER_MINUTE": str(SIGNINS_PER_MINUTE),
    }
    nodes = [Node(env, tmp_path / f"node{i}.log") for i in (1, 2)]
    proc = None
    try:
        for i, n in enumerate(nodes, 1):
            wait_until_ready(f"http://127.0.0.1:{n.port}/readyz", n.proc,
                             tmp_path / f"node{i}.log")
        conf = nginx_conf(tmp_path, site_for_test(tls_port, http_port,
                                                  [n.port for n in nodes], cert, key))
        checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "e.log"),
                                  "-c", str(conf)], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-e", str(tmp_path / "e.log"),
                                 "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        tls = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            try:
                if httpx.get(base + "/healthz", verify=tls).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield Stack(base, f"http://127.0.0.1:{http_port}", nodes, tls)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        for n in nodes:
            n.stop()


async def create_counselor(db_url: str, key_file: Path, username: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    try:
        store = SessionStore(pool, KeyRing.load(key_file), DEFAULT_CARD_RULE)
        await store.create_staff(username, "小林", Role.COUNSELOR, PASSWORD, 2)
    finally:
        await pool.close()


def secure_cookies(response: httpx.Response) -> list[bool]:
    return ["secure" in [a.strip().lower() for a in c.split(";")[1:]]
            for c in response.headers.get_list("set-cookie")]


async def sign_in_worker(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await client.post("/api/worker/session", headers=headers,
                             json={"number": resident_id(), "consent_version": "2026-11"})


@pytest.mark.slow
async def test_a_whole_chat_over_wss_through_nginx_to_two_nodes(
    stack: Stack, backend_urls: tuple[str, str], key_file: Path,
) -> None:
    await create_counselor(backend_urls[0], key_file, "lin.tls")
    async with stack.client("127.0.0.5") as staff_http, stack.client("127.0.0.6") as worker_http:
        r = await staff_http.post("/api/staff/session",
                                  json={"username": "lin.tls", "password": PASSWORD})
        assert r.status_code == 201, r.text
        assert secure_cookies(r) and all(secure_cookies(r))
        r = await sign_in_worker(worker_http)
        assert r.status_code == 201, r.text
        assert secure_cookies(r) and all(secure_cookies(r))

        # Each socket lands on whichever node nginx picks; two each, so both nodes serve.
        counselor = await stack.socket("/ws/staff", f"yz_s={staff_http.cookies['yz_s']}")
        await counselor.expect("welcome")
        await counselor.send({"type": "duty", "on": True})
        await counselor.expect("duty", on=True)
        worker = await stack.socket("/ws/worker", f"yz_w={worker_http.cookies['yz_w']}")
        await worker.expect("welcome")
        await worker.send({"type": "request_chat"})
        conv = (await worker.expect("queued"))["conversation_id"]
        await worker.expect("matched", timeout=10, conversation_id=conv)
        await counselor.expect("assigned", timeout=10)

        for i in range(3):
            await worker.send({"type": "send", "conversation_id": conv, "client_id": f"w{i}",
                               "text": f"在吗 {i}"})
            seq = (await worker.expect("ack", client_id=f"w{i}"))["seq"]
            got = await counselor.expect("message", seq=seq, timeout=10)
            assert got["text"] == f"在吗 {i}"
            await counselor.send({"type": "send", "conversation_id": conv,
                                  "client_id": f"c{i}", "text": f"我在 {i}"})
            seq = (await counselor.expect("ack", client_id=f"c{i}"))["seq"]
            assert (await worker.expect("message", seq=seq, timeout=10))["text"] == f"我在 {i}"

        await worker.send({"type": "end", "conversation_id": conv})
        await worker.expect("ended", conversation_id=conv)
        await counselor.expect("ended", conversation_id=conv)
        rating = await worker_http.post(f"/api/worker/conversations/{conv}/rating",
                                        json={"score": 5})
        assert rating.status_code == 201, rating.text
        await worker.close()
        await counselor.close()

    # Plain HTTP is only a redirect to TLS; /metrics never answers through the proxy.
    async with httpx.AsyncClient() as plain:
        r = await plain.get(stack.http_base + "/counselor.html")
        assert r.status_code == 301 and r.headers["location"].startswith("https://")
    async with stack.client("127.0.0.5") as outside:
        assert (await outside.get("/metrics")).status_code == 404
        assert (await outside.get("/")).status_code == 200


@pytest.mark.slow
async def test_the_client_address_comes_from_the_trusted_proxy_only(stack: Stack) -> None:
    # Through nginx from 127.0.0.3, each time claiming another address: nginx replaces the
    # claim with the real one, so the per-address sign-in limit catches the fourth.
    async with stack.client("127.0.0.3") as browser:
        for i in range(SIGNINS_PER_MINUTE):
            r = await sign_in_worker(browser, **{"X-Forwarded-For": f"10.9.8.{i}"})
            assert r.status_code == 201, r.text
        r = await sign_in_worker(browser, **{"X-Forwarded-For": "10.9.8.200"})
        assert r.status_code == 429
    # Another client through the same nginx is counted apart: the nodes see the client's
    # address, not the proxy's.
    async with stack.client("127.0.0.4") as other:
        assert (await sign_in_worker(other)).status_code == 201
    # Straight to a node from an untrusted peer: its X-Forwarded-For naming the limited
    # address is ignored, so it is counted as itself (127.0.0.1), not refused.
    node = stack.nodes[0]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{node.port}",
                                 headers={"Origin": stack.origin}) as direct:
        r = await sign_in_worker(direct, **{"X-Forwarded-For": "127.0.0.3"})
        assert r.status_code == 201, r.text
        # /metrics: local and direct only.
        assert (await direct.get("/metrics")).status_code == 200
        assert (await direct.get("/metrics",
                                 headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 403

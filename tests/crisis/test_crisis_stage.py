"""The learned crisis stage alone: batches, context, order, and a loop that keeps turning."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from chat_server.crisis.assessor import Assessor
from chat_server.crisis.cascade import assess
from chat_server.crisis.levels import Assessment, RiskLevel
from chat_server.crisis.rule_engine import rules_first
from chat_server.crisis.stage import ROUND, AssessmentStage, Pending


async def test_results_come_back_in_order_with_context() -> None:
    got: list[tuple[Pending, Assessment]] = []
    batches: list[int] = []

    async def assessed(batch: list[tuple[Pending, Assessment]]) -> None:
        batches.append(len(batch))
        got.extend(batch)

    stage = AssessmentStage(assessed)
    await stage.start()
    try:
        texts = ["工资三个月没发了", "活着好累 没人在乎我", "想去楼顶吹吹风"]
        for seq, text in enumerate(texts, 1):
            stage.submit("c1", seq, text)
        stage.submit("c2", 1, "你好")
        await asyncio.wait_for(stage.drain(), 10)
    finally:
        await stage.stop()
    assert [(p.conversation_id, p.seq) for p, _ in got] == [("c1", 1), ("c1", 2), ("c1", 3),
                                                          ("c2", 1)]
    # Each message is read with the worker's two messages before it, and no other's.
    assert got[2][0].context == tuple(texts[:2])
    assert got[3][0].context == ()
    assert got[2][1] == assess(texts[2], context=texts[:2])
    assert max(batches) <= ROUND


async def test_the_event_loop_keeps_turning_while_it_assesses() -> None:
    done = asyncio.Event()
    count = 0

    async def assessed(batch: list[tuple[Pending, Assessment]]) -> None:
        nonlocal count
        count += len(batch)
        if count >= 400:
            done.set()

    stage = AssessmentStage(assessed)
    await stage.start()
    try:
        for seq in range(400):
            stage.submit(f"c{seq % 50}", seq, "今天又加班到十一点，老板说下个月再发工资")
        # The loop's longest pause while 400 messages are assessed in the child process.
        worst = 0.0
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before)
    finally:
        await stage.stop()
    # The loop only pickles the round: 100 ms leaves room for a loaded shared machine and
    # still catches an inline assessment.
    assert worst < 0.1


async def test_a_failing_batch_is_dropped_and_the_stage_goes_on() -> None:
    calls: list[int] = []

    async def assessed(batch: list[tuple[Pending, Assessment]]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("database away")

    stage = AssessmentStage(assessed)
    await stage.start()
    try:
        stage.submit("c1", 1, "我想死")
        await asyncio.wait_for(stage.drain(), 10)
        stage.submit("c1", 2, "我想死")
        await asyncio.wait_for(stage.drain(), 10)
    finally:
        await stage.stop()
    # The first batch's rows stay pending in PostgreSQL: the sweeper hands them back.
    assert calls == [1, 1]
    assert RiskLevel.high <= assess("我想死").level


async def test_the_model_runs_in_a_child_process_that_is_replaced_if_it_dies() -> None:
    got: list[tuple[Pending, Assessment]] = []

    async def assessed(batch: list[tuple[Pending, Assessment]]) -> None:
        got.extend(batch)

    # Its own assessor, not the process's shared one: this test kills the child.
    assessor = Assessor()
    stage = AssessmentStage(assessed, assessor)
    await stage.start()
    try:
        child = assessor.pid()
        assert child is not None and child != os.getpid()
        os.kill(child, signal.SIGKILL)
        stage.submit("c1", 1, "我想死")
        await asyncio.wait_for(stage.drain(), 30)
        assert assessor.restarts == 1
        assert assessor.pid() not in (None, child)
    finally:
        await stage.stop()
        assessor.close()
    # The round the dead child was given is assessed by the new one, not dropped.
    assert [(p.seq, a.level >= RiskLevel.high) for p, a in got] == [(1, True)]


async def test_the_send_paths_rule_pass_crosses_to_the_child_unchanged() -> None:
    got: list[tuple[Pending, Assessment]] = []

    async def assessed(batch: list[tuple[Pending, Assessment]]) -> None:
        got.extend(batch)

    # A floor the rules set (累赘), a negation they disarmed (没想过: the model alone reads
    # it as high), a calm line.
    texts = ["我是累赘", "我没想过要结束生命", "今晚就去江边", "谢谢老师"]
    stage = AssessmentStage(assessed)
    await stage.start()
    try:
        for seq, text in enumerate(texts, 1):
            stage.submit("c1", seq, text, ruled=rules_first(text))
        await asyncio.wait_for(stage.drain(), 10)
    finally:
        await stage.stop()
    # The floor, the reasons and "disarmed" reach the child as the send path made them.
    assert [a for _, a in got] == [assess(t, context=texts[max(0, i - 2):i])
                                   for i, t in enumerate(texts)]


def test_the_child_leaves_when_its_node_is_killed_outright() -> None:
    # A node process that starts the assessor, says its child's pid, and waits.
    node = subprocess.Popen(
        [sys.executable, "-c",
         "import asyncio, sys, time\n"
         "from chat_server.crisis.assessor import Assessor\n"
         "a = Assessor(); asyncio.run(a.start()); print(a.pid(), flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        child = int(node.stdout.readline())
    finally:
        node.kill()  # SIGKILL: the node cannot stop its child
        node.wait()
        if node.stdout is not None:
            node.stdout.close()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the assessor child outlived its killed node")

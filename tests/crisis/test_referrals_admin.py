"""`yizhan referrals` verbs against the real database."""

from __future__ import annotations

import asyncio

from chat_server.cli import build_parser


async def run(settings, capsys, *argv: str) -> tuple[int, str]:
    args = build_parser().parse_args(list(argv))
    status = await asyncio.to_thread(args.handler, settings, args)
    return status, capsys.readouterr().out


async def test_add_list_disable(pg, settings, capsys) -> None:
    status, out = await run(settings, capsys, "referrals", "add", "--name", "区职工服务站",
                            "--phone", "010-1", "--kind", "counseling")
    assert status == 0
    rid = out.split()[-1]
    status, out = await run(settings, capsys, "referrals", "list")
    assert status == 0 and rid in out and "VERIFY" in out
    assert (await run(settings, capsys, "referrals", "disable", rid))[0] == 0
    assert rid not in (await run(settings, capsys, "referrals", "list"))[1]
    assert rid in (await run(settings, capsys, "referrals", "list", "--all"))[1]
    assert (await run(settings, capsys, "referrals", "disable", "nope"))[0] == 2

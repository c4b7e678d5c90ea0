"""Pure referral rules: the seed directory, status transitions, follow-up times, cards."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from chat_server.crisis.referrals import (
    SeedError,
    card_text,
    end_of_day,
    followups,
    may_move,
    parse_seed,
    seed_resources,
)


def test_seed_has_the_crisis_lines_all_marked_for_verification() -> None:
    seed = seed_resources()
    assert {"12356", "010-82951332", "800-810-1117", "120", "110"} <= {r.phone for r in seed}
    assert all(r.verify_before_launch for r in seed)
    assert len({r.key for r in seed}) == len(seed)


def test_seed_errors_name_the_entry() -> None:
    with pytest.raises(SeedError, match="#1: phone"):
        parse_seed('[[resource]]\nkey = "a"\nname = "n"\nkind = "hotline"\n')
    with pytest.raises(SeedError, match="kind"):
        parse_seed('[[resource]]\nkey = "a"\nname = "n"\nphone = "1"\nkind = "x"\n')
    entry = parse_seed('[[resource]]\nkey = "a"\nname = "n"\nphone = "1"\nkind = "legal"\n')
    assert entry[0].verify_before_launch is True


def test_transitions() -> None:
    assert may_move("proposed", "accepted") and may_move("accepted", "contacted")
    assert may_move("contacted", "completed")
    assert not may_move("proposed", "completed")
    assert not may_move("completed", "declined") and not may_move("declined", "accepted")
    assert not may_move("proposed", "proposed")


def test_followups_and_today() -> None:
    made = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
    assert [(label, due - made) for label, due in followups(made)] == [
        ("24h", dt.timedelta(days=1)), ("1w", dt.timedelta(days=7)),
        ("1m", dt.timedelta(days=30))]
    # 23:30 in Shanghai is 15:30 UTC; the local day ends at 16:00 UTC.
    end = end_of_day(dt.datetime(2026, 11, 28, 15, 30, tzinfo=dt.UTC), ZoneInfo("Asia/Shanghai"))
    assert end == dt.datetime(2026, 11, 28, 16, 0, tzinfo=dt.UTC)


def test_card_text() -> None:
    card = json.loads(card_text("全国心理援助热线", "12356", "hotline", "24小时", ""))
    assert card == {"name": "全国心理援助热线", "phone": "12356", "kind": "hotline",
                    "hours": "24小时", "note": ""}

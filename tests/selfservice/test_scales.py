"""The scales' scoring and bands at every published cut-off, without I/O."""

from __future__ import annotations

import pytest

from chat_server.selfservice.scales import GAD7, PHQ9, SCALES, STRESS, Scale, ScaleError, score


def answers_for(scale: Scale, total: int, *, item9: int = 0) -> list[int]:
    """Answers summing to `total` (item 9 of the PHQ-9 fixed), for non-reversed scales."""
    out = [0] * len(scale.items)
    if scale.id == "phq9":
        out[8] = item9
        total -= item9
    for i in range(len(out)):
        if scale.id == "phq9" and i == 8:
            continue
        take = min(scale.top, total)
        out[i], total = take, total - take
    assert total == 0
    return out


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "moderately_severe"), (19, "moderately_severe"), (20, "severe"),
    (27, "severe")])
def test_phq9_bands_at_the_published_cut_offs(total: int, band: str) -> None:
    item9 = max(0, total - 24)  # the top of the range needs item 9 as well
    r = score(PHQ9, answers_for(PHQ9, total, item9=item9))
    assert (r.score, r.band, r.self_harm) == (total, band, item9 > 0)


@pytest.mark.parametrize(("total", "band"), [
    (0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
    (14, "moderate"), (15, "severe"), (21, "severe")])
def test_gad7_bands_at_the_published_cut_offs(total: int, band: str) -> None:
    r = score(GAD7, answers_for(GAD7, total))
    assert (r.score, r.band, r.self_harm) == (total, band, False)


def test_item9_above_not_at_all_is_self_harm_whatever_the_total() -> None:
    assert score(PHQ9, answers_for(PHQ9, 1, item9=1)).self_harm
    assert score(PHQ9, answers_for(PHQ9, 3, item9=3)).self_harm
    assert not score(PHQ9, answers_for(PHQ9, 24)).self_harm
    assert not score(GAD7, [3] * 7).self_harm


def test_pss10_reverses_the_positive_items() -> None:
    assert score(STRESS, [0] * 10).score == 16  # four reversed items at 4 each
    assert score(STRESS, [4, 4, 4, 0, 0, 4, 0, 0, 4, 4]).band == "high"
    assert score(STRESS, [4, 4, 4, 0, 0, 4, 0, 0, 4, 4]).score == 40
    assert score(STRESS, [0, 0, 0, 4, 4, 0, 4, 4, 0, 0]).band == "low"
    assert score(STRESS, [2] * 10).band == "moderate"


@pytest.mark.parametrize("bad", [[0] * 8, [0] * 10, [0] * 8 + [4], [0] * 8 + [-1],
                                 [0] * 8 + [True], [0] * 8 + ["1"], "000000000", None])
def test_bad_answers_are_refused(bad: object) -> None:
    with pytest.raises(ScaleError):
        score(PHQ9, bad)  # type: ignore[arg-type]


def test_every_scale_has_chinese_and_english_for_every_item() -> None:
    for scale in SCALES.values():
        assert all(zh and en for zh, en in scale.items)
        assert all(zh and en for zh, en in scale.options)
        assert scale.bands[0][0] == 0

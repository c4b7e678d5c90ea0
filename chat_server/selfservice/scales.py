"""The self-assessment scales, pure: items in their published Chinese wording, scoring, bands.

Sources and cut-offs: docs/ASSESSMENTS.md. The wording is the one the validation studies
used; changing a word changes the instrument, so nothing here is paraphrased.
"""

from __future__ import annotations

from dataclasses import dataclass

from yizhan_errors import YizhanError


class ScaleError(YizhanError, ValueError):
    """Answers that do not fit the scale (wrong count or a value out of range)."""


@dataclass(frozen=True, slots=True)
class Scale:
    id: str
    title: str
    title_en: str
    stem: str
    stem_en: str
    options: tuple[tuple[str, str], ...]  # (zh, en) labels for values 0..n-1
    items: tuple[tuple[str, str], ...]  # (zh, en)
    # (lowest score, band id), ascending: a score is in the last band whose low it reaches.
    bands: tuple[tuple[int, str], ...]
    reverse: frozenset[int] = frozenset()  # 1-based items scored the other way round

    @property
    def top(self) -> int:
        return len(self.options) - 1

    @property
    def max_score(self) -> int:
        return self.top * len(self.items)

    def view(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "title_en": self.title_en,
                "stem": self.stem, "stem_en": self.stem_en,
                "options": [{"value": i, "zh": zh, "en": en}
                            for i, (zh, en) in enumerate(self.options)],
                "items": [{"n": i + 1, "zh": zh, "en": en}
                          for i, (zh, en) in enumerate(self.items)],
                "bands": [{"from": low, "band": b} for low, b in self.bands],
                "max_score": self.max_score}


@dataclass(frozen=True, slots=True)
class Result:
    scale: str
    answers: tuple[int, ...]
    score: int
    band: str
    # PHQ-9 item 9 (thoughts of being better off dead or of self-harm) above "not at all".
    self_harm: bool


_TWO_WEEKS = (("完全不会", "Not at all"), ("好几天", "Several days"),
              ("一半以上的天数", "More than half the days"), ("几乎每天", "Nearly every day"))

PHQ9 = Scale(
    id="phq9",
    title="病人健康问卷（PHQ-9）",
    title_en="Patient Health Questionnaire (PHQ-9)",
    stem="在过去的两周里，你生活中以下症状出现的频率有多少？",
    stem_en="Over the last 2 weeks, how often have you been bothered by any of the following"
            " problems?",
    options=_TWO_WEEKS,
    items=(
        ("做事时提不起劲或没有兴趣", "Little interest or pleasure in doing things"),
        ("感到心情低落、沮丧或绝望", "Feeling down, depressed, or hopeless"),
        ("入睡困难、睡不安稳或睡眠过多", "Trouble falling or staying asleep, or sleeping too much"),
        ("感觉疲倦或没有活力", "Feeling tired or having little energy"),
        ("食欲不振或吃太多", "Poor appetite or overeating"),
        ("觉得自己很糟，或觉得自己很失败，或让自己或家人失望",
         "Feeling bad about yourself — or that you are a failure or have let yourself or"
         " your family down"),
        ("对事物专注有困难，例如阅读报纸或看电视时",
         "Trouble concentrating on things, such as reading the newspaper or watching"
         " television"),
        ("动作或说话速度缓慢到别人已经觉察？或正好相反——烦躁或坐立不安、动来动去的情况更胜于平常",
         "Moving or speaking so slowly that other people could have noticed? Or the"
         " opposite — being so fidgety or restless that you have been moving around a lot"
         " more than usual"),
        ("有不如死掉或用某种方式伤害自己的念头",
         "Thoughts that you would be better off dead or of hurting yourself in some way"),
    ),
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately_severe"),
           (20, "severe")),
)

GAD7 = Scale(
    id="gad7",
    title="广泛性焦虑量表（GAD-7）",
    title_en="Generalized Anxiety Disorder scale (GAD-7)",
    stem="在过去的两周里，你有多少时候受到以下任何问题困扰？",
    stem_en="Over the last 2 weeks, how often have you been bothered by the following"
            " problems?",
    options=_TWO_WEEKS,
    items=(
        ("感觉紧张、焦虑或急切", "Feeling nervous, anxious or on edge"),
        ("不能够停止或控制担忧", "Not being able to stop or control worrying"),
        ("对各种各样的事情担忧过多", "Worrying too much about different things"),
        ("很难放松下来", "Trouble relaxing"),
        ("由于不安而无法静坐", "Being so restless that it is hard to sit still"),
        ("变得容易烦恼或急躁", "Becoming easily annoyed or irritable"),
        ("感到似乎将有可怕的事情发生而害怕",
         "Feeling afraid as if something awful might happen"),
    ),
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
)

# Perceived Stress Scale, 10 items (Cohen 1983; Chinese version, see docs/ASSESSMENTS.md).
STRESS = Scale(
    id="stress",
    title="压力知觉量表（PSS-10）",
    title_en="Perceived Stress Scale (PSS-10)",
    stem="最近一个月，你有多经常……",
    stem_en="In the last month, how often have you…",
    options=(("从不", "Never"), ("偶尔", "Almost never"), ("有时", "Sometimes"),
             ("时常", "Fairly often"), ("总是", "Very often")),
    items=(
        ("因为一些意外发生的事情而感到心烦意乱？",
         "been upset because of something that happened unexpectedly?"),
        ("感到无法控制自己生活中重要的事情？",
         "felt that you were unable to control the important things in your life?"),
        ("感到紧张不安和有压力？", "felt nervous and stressed?"),
        ("对于有能力处理自己私人的问题感到很有信心？",
         "felt confident about your ability to handle your personal problems?"),
        ("感到事情顺心如意？", "felt that things were going your way?"),
        ("发现自己无法处理所有自己必须做的事情？",
         "found that you could not cope with all the things that you had to do?"),
        ("有办法控制生活中恼人的事情？", "been able to control irritations in your life?"),
        ("常觉得自己是驾驭事情的主人？", "felt that you were on top of things?"),
        ("常生气，因为很多事情的发生是超出自己所能控制的？",
         "been angered because of things that were outside of your control?"),
        ("感到困难的事情堆积如山，而自己无法克服它们？",
         "felt difficulties were piling up so high that you could not overcome them?"),
    ),
    bands=((0, "low"), (14, "moderate"), (27, "high")),
    reverse=frozenset({4, 5, 7, 8}),
)

SCALES: dict[str, Scale] = {s.id: s for s in (PHQ9, GAD7, STRESS)}


def band_of(scale: Scale, score: int) -> str:
    band = scale.bands[0][1]
    for low, name in scale.bands:
        if score >= low:
            band = name
    return band


def score(scale: Scale, answers: object) -> Result:
    """Raises ScaleError unless `answers` (from JSON) is one whole answer 0..top per item."""
    if not isinstance(answers, list | tuple) or len(answers) != len(scale.items):
        raise ScaleError(f"{scale.id} needs {len(scale.items)} answers")
    values: list[int] = []
    for a in answers:
        if not isinstance(a, int) or isinstance(a, bool) or not 0 <= a <= scale.top:
            raise ScaleError(f"each answer must be an integer 0–{scale.top}")
        values.append(a)
    total = sum(scale.top - v if i + 1 in scale.reverse else v for i, v in enumerate(values))
    self_harm = scale.id == "phq9" and values[8] > 0
    return Result(scale.id, tuple(values), total, band_of(scale, total), self_harm)


# Library items suit results through these tags (library_items.suitable).
def suitability_tags(result: Result) -> list[str]:
    return [f"{result.scale}:{result.band}", result.band]

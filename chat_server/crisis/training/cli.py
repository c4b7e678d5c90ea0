"""The command line: ``python -m chat_server.crisis.training build|report|all``."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from chat_server.crisis.levels import RiskLevel
from chat_server.crisis.training.calibration import calibrate
from chat_server.crisis.training.corpus import pool_writers, training_items
from chat_server.crisis.training.evaluation import Evaluation, evaluate
from chat_server.crisis.training.figures import figures, misses_by
from chat_server.crisis.training.fitting import MODEL_PATH, dump_model, fit


def _report(ev: Evaluation) -> None:
    items = ev.items
    print("thresholds", {k: round(v, 3) for k, v in sorted(ev.thresholds.items())})
    pool = pool_writers(items)
    corpus = ev.subset(pool)
    pooled_th = calibrate([items[i] for i in corpus], [ev.passes[i] for i in corpus],
                          [ev.scores[i] for i in corpus])
    print("(not shipped) calibrated on pooled outer scores",
          {k: round(v, 3) for k, v in sorted(pooled_th.items())})
    for w, t in sorted(ev.fold_thresholds.items()):
        print(f"fold {w:11} thresholds", {k: round(v, 3) for k, v in sorted(t.items())})
    writers = sorted({it.writer for it in items})
    for name, levels in (("rules", ev.levels(model=False)), ("model", ev.levels(rules=False)),
                         ("combined", ev.levels())):
        pooled = figures([items[i] for i in corpus], [levels[i] for i in corpus])
        print(f"{name:9} pooled  {pooled.line()}")
        for w in writers:
            idx = ev.subset({w})
            f = figures([items[i] for i in idx], [levels[i] for i in idx])
            print(f"{name:9} {w:11} {f.line()}")
            if w not in pool:
                # The old sets' own test counts watch as a negative too; the background
                # sets are all none (a quiet marker on them is noise for the counselor).
                neg = [i for i in idx if items[i].level < RiskLevel.high]
                print(f"{'':9} {w:11} none+watch at >= high "
                      f"{sum(levels[i] >= RiskLevel.high for i in neg)}/{len(neg)}, "
                      f"at >= watch {sum(levels[i] >= RiskLevel.watch for i in neg)}/{len(neg)}")
    combined = ev.levels()
    citems = [items[i] for i in corpus]
    clevels = [combined[i] for i in corpus]
    print("combined misses by category", misses_by(citems, clevels, lambda it: it.category))
    print("combined misses by register", misses_by(citems, clevels, lambda it: it.register))
    fa: Counter[str] = Counter(it.category for it, lv in zip(citems, clevels, strict=True)
                               if it.level == RiskLevel.none and lv >= RiskLevel.high)
    print("combined false alarms by category", dict(sorted(fa.items())))
    caught = [(it.level, lv) for it, lv in zip(citems, clevels, strict=True)
              if it.level >= RiskLevel.high and lv >= RiskLevel.high]
    print("exact high/imminent among caught", sum(a == b for a, b in caught), "/", len(caught))
    for label in (RiskLevel.none, RiskLevel.watch):
        n = [lv for it, lv in zip(citems, clevels, strict=True) if it.level == label]
        marked = sum(lv >= RiskLevel.watch for lv in n)
        print(f"{label.name} items at >= watch", marked, "/", len(n))


def _build(out: Path, ev: Evaluation) -> None:
    out.write_bytes(dump_model(fit(training_items(), ev.thresholds)))
    print("wrote", out, "thresholds", {k: round(v, 3) for k, v in sorted(ev.thresholds.items())})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_server.crisis.training")
    # "all": one evaluation for both (the old sets never change the writers' thresholds:
    # calibrate reads the corpus writers only, and the old sets train every fold anyway).
    parser.add_argument("command", choices=["build", "report", "all"])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    ev = evaluate(old_sets=args.command != "build")
    if args.command in ("report", "all"):
        _report(ev)
    if args.command in ("build", "all"):
        _build(args.out, ev)
    return 0

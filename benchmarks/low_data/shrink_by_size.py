"""Does the warm start (shrinking the pretrained weights) pay with few training examples?

The shipped model fine-tuned with its weights as loaded (`--shrink 1`) and shrunk by 0.2
(`--shrink 0.2`) on the three learning-curve tasks, with 100 or 300 training examples, under two
recipes: the bench's (4 epochs, batch 16: 28 or 76 optimiser steps) and `dnagpt finetune`'s
defaults (10 epochs, batch 8: 130 or 380 steps; patience 2 here, 3 in `dnagpt finetune`). Each pair
of benches shares its seeds, training draws and held-out test split, so the two warm starts are
paired. The benches, one command each (N = 100 or 300, S = 1 or 0.2):

    dnagpt bench --out benchmarks/low_data/bench_recipe_nN_shrinkS --tasks promoter-core-human \\
        ctcf-human tf-human --max-train N --models dnagpt-pretrained --shrink S --seeds 5 --curve-tasks
    dnagpt bench --out benchmarks/low_data/cli_recipe_nN_shrinkS ... --epochs 10 --batch-size 8

then `python benchmarks/low_data/shrink_by_size.py` -> benchmarks/results/shrink_by_size.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from dnagpt.bench.statistics import paired_test
from dnagpt.io import atomic_write_text

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))
from shrink_dev_pick import picks_shrunk, scores  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "results" / "shrink_by_size.json")
    args = parser.parse_args()
    rows, groups = [], {}
    header = ("recipe", "task", "n", "as loaded", "shrunk 0.2", "diff", "p", "dev picks 0.2")
    print("{:8} {:22} {:>4} {:>15} {:>15} {:>7} {:>6} {:>14}".format(*header))
    for recipe in ("bench", "cli"):
        for size in (100, 300):
            loaded_dir = HERE / f"{recipe}_recipe_n{size}_shrink1"
            shrunk_dir = HERE / f"{recipe}_recipe_n{size}_shrink0.2"
            if not (loaded_dir.is_dir() and shrunk_dir.is_dir()):
                continue
            loaded, shrunk = scores(loaded_dir, "dnagpt-pretrained"), scores(shrunk_dir, "dnagpt-pretrained")
            for task in sorted({key[0] for key in loaded}):
                keys = sorted(k for k in loaded.keys() & shrunk.keys() if k[0] == task)
                if len(keys) < 2:  # a bench still running: too few paired seeds yet
                    continue
                a = {k[2]: loaded[k][1] for k in keys}
                b = {k[2]: shrunk[k][1] for k in keys}
                test = paired_test(b, a)
                dev_picks = sum(picks_shrunk(loaded, shrunk, k) for k in keys)
                row = {"recipe": recipe, "task": task, "n_train": size, "seeds": len(keys),
                       "as_loaded": statistics.mean(a.values()), "as_loaded_sd": statistics.stdev(a.values()),
                       "shrunk": statistics.mean(b.values()), "shrunk_sd": statistics.stdev(b.values()),
                       "shrunk_minus_loaded": test["mean"], "p": test["p"], "dev_picks_shrunk": dev_picks}  # fmt: skip
                rows.append(row)
                print(f"{recipe:8} {task:22} {size:>4} {row['as_loaded']:>7.3f} ± {row['as_loaded_sd']:.3f} "
                      f"{row['shrunk']:>7.3f} ± {row['shrunk_sd']:.3f} {test['mean']:>+7.3f} {test['p']:>6.3f} "
                      f"{dev_picks:>9} of {len(keys)}")  # fmt: skip
            group = [r for r in rows if r["recipe"] == recipe and r["n_train"] == size]
            if group:
                groups[f"{recipe} n={size}"] = {name: round(statistics.mean(r[name] for r in group), 4)
                                                for name in ("as_loaded", "shrunk")}  # fmt: skip
    print("mean over the three tasks:", groups)
    atomic_write_text(args.out, json.dumps({"rows": rows, "means": groups}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

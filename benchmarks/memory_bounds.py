"""Peak memory on genome-sized input: a VCF of 10 million records, and a task dataset built from a
1 GB table.

Each case runs in a fresh process and reports its peak resident memory (``VmHWM``: what the
operating system gave it, Python and its libraries included; Linux only) and its wall time:

- ``vcf_check``: what ``dnagpt vep`` does with a VCF before scoring: read every record, check it
  against the genome (REF, chromosome, alleles), normalise it, count and digest the variants
  (:class:`dnagpt.vep.run.Survey` over :class:`dnagpt.vep.variants.VcfVariants`, one chunk of 512
  at a time, as the scoring then reads them);
- ``vcf_list``: the same VCF read into one list (:func:`dnagpt.vep.variants.read_variants`, which
  ``dnagpt vep`` used before it read in chunks), for comparison;
- ``table_dataset``: ``dnagpt finetune``'s data step (:func:`dnagpt.tasks.from_files.load_splits`)
  on a 1 GB CSV of 600-base sequences with a class label, split 60 / 15 / 25.

The VCF holds SNVs at every third base of Arabidopsis thaliana TAIR10 chromosome 1 (the project's
``arabidopsis-chr1`` source: 30.4 Mbp, REF from the genome), the table random sequences.

    python benchmarks/memory_bounds.py [--records 10000000] [--table-gb 1]

Writes benchmarks/results/memory_bounds.json and .md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# The ceilings this benchmark holds the readers to (MB of peak resident memory)
CEILING_MB = {"vcf_check": 1024, "table_dataset": 4 * 1024}


def make_vcf(work: Path, records: int) -> tuple[Path, Path]:
    """The genome (plain FASTA with its index) and a VCF of ``records`` SNVs on it."""
    import pysam

    from dnagpt.data.sources import SOURCES, cache_root, fetch

    packed = next(fetch(SOURCES["arabidopsis-chr1"], cache_root()).rglob("*_genomic.fna.gz"))
    genome = work / "genome.fa"
    with gzip.open(packed, "rb") as src, open(genome, "wb") as out:
        shutil.copyfileobj(src, out)
    pysam.faidx(str(genome))
    fasta = pysam.FastaFile(str(genome))
    chrom = fasta.references[0]
    seq = np.frombuffer(fasta.fetch(chrom).upper().encode(), dtype="S1")
    positions = np.arange(0, len(seq), 3)
    positions = positions[np.isin(seq[positions], [b"A", b"C", b"G", b"T"])][:records]
    if len(positions) < records:
        raise SystemExit(f"the genome holds {len(positions):,} usable positions at every third base, not {records:,}")
    alt = {b"A": "G", b"C": "T", b"G": "A", b"T": "C"}
    vcf = work / "calls.vcf"
    with open(vcf, "w") as out:
        out.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for block in range(0, len(positions), 1_000_000):
            out.write("".join(f"{chrom}\t{p + 1}\t.\t{seq[p].decode()}\t{alt[seq[p]]}\t.\t.\t.\n"
                              for p in positions[block : block + 1_000_000]))  # fmt: skip
    return genome, vcf


def make_table(work: Path, gigabytes: float) -> tuple[Path, Path]:
    """A task file and a CSV of ``gigabytes`` GB: 600-base random sequences, labels 0 / 1."""
    rows = int(gigabytes * 1e9 / 603)
    rng = np.random.default_rng(0)
    table = work / "big.csv"
    with open(table, "w") as out:
        out.write("sequence,label\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            bases = np.frombuffer(b"ACGT", dtype="S1")[rng.integers(0, 4, size=(n, 600))]
            labels = rng.integers(0, 2, size=n)
            out.write("".join(f"{row.tobytes().decode()},{label}\n" for row, label in zip(bases, labels, strict=True)))
    task = work / "task.toml"
    task.write_text('name = "big"\ntemplate = "classification"\nspecies = "Arabidopsis thaliana"\n'
                    'sequence_column = "sequence"\nlabel_column = "label"\n\n'
                    '[labels]\n"0" = "A"\n"1" = "B"\n')  # fmt: skip
    return task, table


def case(name: str, args: list[str]) -> dict:
    """Run one case in this process (called in a fresh one) and return what it measured."""
    start = time.perf_counter()
    if name in ("vcf_check", "vcf_list"):
        from dnagpt.data.fasta import open_fasta
        from dnagpt.data.sources import cache_root
        from dnagpt.vep.run import Survey, _chunks
        from dnagpt.vep.variants import Reference, VcfVariants, read_variants

        genome, vcf = args
        with open_fasta(genome, cache_root()) as fasta:
            reference = Reference(fasta)
            if name == "vcf_check":
                count = Survey.of(_chunks(VcfVariants(vcf, reference)), progress=True).count
            else:
                count = len(read_variants(vcf, reference)[0])
        what = {"variants": count}
    else:
        from dnagpt.tasks.from_files import TaskTables, load_splits
        from dnagpt.tasks.spec import TaskSpec

        task, table, out = args
        data = load_splits(TaskSpec.load(task), TaskTables(table), Path(out))
        what = {"examples": len(data.train) + len(data.dev) + len(data.test or [])}
    from dnagpt.device import peak_memory_mib

    return {**what, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_memory_mib()}


def run_case(name: str, args: list[str]) -> dict:
    done = subprocess.run([sys.executable, __file__, "--case", name, *map(str, args)], check=True,
                          stdout=subprocess.PIPE, text=True)  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(name, result, flush=True)
    return result


def report(results: dict) -> str:
    vcf_mb = results["vcf_size_mb"]
    lines = [
        "# Memory on genome-sized input",
        "",
        f"`python benchmarks/memory_bounds.py --records {results['records']} --table-gb {results['table_gb']}`, "
        f"{results['date']}, {results['machine']}. Peak resident memory of a fresh process per case.",
        "",
        "| case | input | items | peak RSS MB | ceiling MB | seconds |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in results["cases"].items():
        size = f"VCF, {vcf_mb:,.0f} MB" if name.startswith("vcf") else f"CSV, {results['table_mb']:,.0f} MB"
        items = r.get("variants", r.get("examples"))
        ceiling = CEILING_MB.get(name)
        lines.append(f"| {name} | {size} | {items:,} | {r['peak_rss_mb']:,.0f} | "
                     f"{f'{ceiling:,}' if ceiling else '-'} | {r['seconds']:.0f} |")  # fmt: skip
    lines += ["", "Within the ceilings: " + ", ".join(
        f"{n} {'yes' if results['cases'][n]['peak_rss_mb'] <= c else 'NO'}" for n, c in CEILING_MB.items()
        if n in results["cases"]) + ".", ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--table-gb", type=float, default=1.0)
    parser.add_argument("--cases", default="vcf_check,vcf_list,table_dataset")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "memory_bounds.json")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.case:
        print(json.dumps(case(args.case, rest)))
        return
    from dnagpt.bench.harness import write_results
    from dnagpt.device import describe_machine

    cases = args.cases.split(",")
    with tempfile.TemporaryDirectory(prefix="memory-bounds-") as folder:
        work = Path(folder)
        results = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": describe_machine(), "records": args.records,
                   "table_gb": args.table_gb, "cases": {}}  # fmt: skip
        if any(c.startswith("vcf") for c in cases):
            genome, vcf = make_vcf(work, args.records)
            results["vcf_size_mb"] = vcf.stat().st_size / 1e6
            for name in (c for c in cases if c.startswith("vcf")):
                results["cases"][name] = run_case(name, [genome, vcf])
            vcf.unlink()
        if "table_dataset" in cases:
            task, table = make_table(work, args.table_gb)
            results["table_mb"] = table.stat().st_size / 1e6
            results["cases"]["table_dataset"] = run_case("table_dataset", [task, table, work / "run"])
    write_results(results, args.out)
    args.out.with_suffix(".md").write_text(report(results))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

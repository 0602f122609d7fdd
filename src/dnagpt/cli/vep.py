"""``dnagpt vep``: zero-shot variant effect scores, VCF in, parquet / TSV / VCF out.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError, DataError
from .registry import (
    add_batch_size_argument,
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    add_workers_argument,
    command,
    positive_int,
)


def _vep_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory or shipped model name (any family: dnagpt, bert, gpn)")
    p.add_argument("vcf", nargs="?", help="VCF file of variants (plain text, bgzipped, or BCF); multi-allelic "
                                          "records give one row per ALT")  # fmt: skip
    p.add_argument("--region", metavar="CHR:START-END",
                   help="1-based, inclusive. With a VCF: score only its records overlapping the region, read "
                        "through the VCF's index (FILE.tbi or FILE.csi); a bgzipped VCF or BCF without one is "
                        "an error that says how to make it (tabix -p vcf FILE, or bcftools index FILE), and a "
                        "plain-text VCF, which cannot be indexed, is read whole and filtered, with a warning. "
                        "Without a VCF: score all three substitutions at every base of the region, e.g. for a "
                        ".bedgraph or .bw track")  # fmt: skip
    p.add_argument("--genome", required=True,
                   help="FASTA of the genome the variants are on, plain or bgzip-compressed, read in place "
                        "through its index (FILE.fai, and FILE.gzi for bgzip, as samtools faidx FILE makes "
                        "them); a missing index is built once, beside the FASTA or, where that folder cannot "
                        "be written, in the cache. A plain-gzip FASTA cannot be read in place: recompress it "
                        "with bgzip. Chromosome names may differ by a 'chr' prefix")  # fmt: skip
    p.add_argument("--out", required=True, help="output file: .parquet, .tsv, .vcf.gz (the input VCF with "
                                                "the scores added as INFO fields), a genome-browser track "
                                                "of the mean score at each position (.bedgraph or .bw), or a "
                                                "folder ending in / for a parquet dataset partitioned by "
                                                "chromosome (OUT/chrom=NAME/part-0.parquet)")  # fmt: skip
    p.add_argument("--calibrate", metavar="SCORES", help="score table of reference variants (e.g. common ones) "
                                                         "from dnagpt vep with the same model: adds each "
                                                         "score's percentile among them")  # fmt: skip
    p.add_argument("--window", type=positive_int,
                   help="bases around each variant that the model reads (default 512, or what fits in the "
                        "model's context)")  # fmt: skip
    p.add_argument("--species", default="human", help="species token put before every window, e.g. human, "
                                                      "mouse, arabidopsis; 'none' for no species token")  # fmt: skip
    p.add_argument("--alignment", metavar="MAF", help="multiple alignment on the genome (MAF, plain or gzipped), "
                   "for a GPN-MSA model: it reads the other species' bases at every position")  # fmt: skip
    add_batch_size_argument(p, 16, "variants scored at once")
    p.add_argument("--skip-invalid", action="store_true", help="skip records that cannot be scored (REF not "
                                                               "matching the genome, unknown chromosome, "
                                                               "symbolic alleles) and count them, instead of "
                                                               "stopping at the first")  # fmt: skip
    add_workers_argument(p, "the chunks of 512 variants", "OUT",
                         " A killed worker's chunks are scored when the command is run again.")  # fmt: skip
    p.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="torch threads of each worker (default: the cores shared out among the --workers)",
    )
    p.add_argument("--prefetch", choices=("auto", "on", "off"), default="auto",
                   help="read and encode the next batch's windows on a second thread while the model runs on "
                        "this one (the scores are the same): auto = on a GPU only, where the model would "
                        "otherwise wait for them; default auto")  # fmt: skip
    add_device_argument(p, "auto")
    add_precision_argument(p)
    add_progress_argument(p)


@command("vep", "score variants of a VCF without labels (likelihood ratio and embedding distance), for any "
                "model family", _vep_args)  # fmt: skip
def _vep(args: argparse.Namespace) -> int:
    """Write one row per ALT allele: the normalised variant, its kind (SNV, MNV, indel) and its scores.

    A causal model (DNAGPT) gives ``llr`` = log P(alt window) - log P(ref window); a masked model
    (DNABERT-2 or GPN style) gives ``masked_llr`` = log p(ALT) - log p(REF) at the masked variant.
    Both come with ``embedding_distance``. Negative likelihood scores: the model finds the
    alternative allele less likely, as for a damaging variant. Rerunning the same command after an
    interruption continues from the chunks already scored (kept in OUT.parts/).
    """
    from ..vep.run import output_format
    from ..workers import available_cores, launch_workers, workers_to_launch

    output_format(args.out)  # a wrong ending is an error before any work
    if args.vcf is None and args.region is None:
        raise ConfigError("give either a VCF file or --region CHR:START-END (or both: the VCF's records there)")
    launch = workers_to_launch(args.workers)
    threads = args.threads or max(1, available_cores() // launch)
    if launch > 1:
        from ..vep.variants import open_vcf

        if args.vcf is not None:  # what every worker would refuse is refused once, before any starts
            open_vcf(args.vcf).close()
        if not Path(args.genome).is_file():
            raise DataError(f"{args.genome}: no such FASTA file")
        summary = launch_workers(launch, vep_worker, args, getattr(args, "verbosity", 0), threads=threads,
                                 traceback=getattr(args, "verbosity", 0) > 0)  # fmt: skip
    else:
        summary = vep_worker(args, getattr(args, "verbosity", 0), configure=False)
    if summary is None:  # a worker other than the first, under torchrun
        return 0
    print(f"scored {summary['variants']:,} variants ({summary['snvs']:,} SNVs, {summary['indels']:,} indels; "
          f"{summary['skipped']:,} skipped) with {summary['window']}-base windows: "
          f"{' and '.join(summary['scores'])} -> {summary['out']}")  # fmt: skip
    if summary.get("outside_alignment"):
        print(f"{summary['outside_alignment']:,} SNVs lie where no block of {args.alignment} reaches: no score (NaN)")
    return 0


def vep_worker(args: argparse.Namespace, verbosity: int, configure: bool = True) -> dict | None:
    """One worker's ``dnagpt vep`` (the whole of it, for a single process): load the model, score this
    worker's share of the chunks and, on the first worker, write the output. Returns the summary
    there, None on the others. ``configure``: set up this process's messages, as a worker that
    :func:`~dnagpt.workers.launch_workers` started must."""
    from ..device import keep_freed_memory, resolve_device
    from ..models import load_model
    from ..vep.run import VepOptions, score_region, score_vcf
    from ..workers import Workers, available_cores, torch_threads
    from . import configure_logging

    if configure:
        configure_logging(verbosity)
    workers = Workers.from_environment()
    keep_freed_memory()
    threads = args.threads or max(1, available_cores() // workers.local_size)
    model = load_model(args.model, map_location=resolve_device(args.device, workers.local_rank))
    species = args.species
    if args.species.lower() == "none" or model.variant_scoring == "gpn" or not model.tokenizer().has_species:
        species = None  # GPN's procedure, and vocabularies of other libraries, read no species token
    if species:
        model.tokenizer().species_id(species)  # an unknown species is an error before any work
    options = VepOptions(args.window, species, args.batch_size, args.skip_invalid, args.calibrate,
                         not args.no_progress, args.alignment, args.precision,
                         {"on": True, "off": False}.get(args.prefetch, "auto"))  # fmt: skip
    with torch_threads(threads):
        if args.vcf is None:
            return score_region(model, args.model, args.region, args.genome, args.out, options, workers)
        return score_vcf(model, args.model, args.vcf, args.genome, args.out, options, args.region, workers)

"""Score a whole VCF: batched, in chunks saved as they finish (a killed run continues), written
as parquet, TSV or a copy of the VCF with the scores in INFO fields."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..data.alignment import Alignment, read_maf
from ..data.fasta import open_fasta
from ..data.regions import parse_region
from ..data.sources import cache_root
from ..data.tables import read_table
from ..device import precision_context
from ..errors import ConfigError, DataError
from ..io import atomic_path, atomic_write, atomic_write_text
from ..models import PretrainedModel
from .scoring import default_window, score_column, score_variants
from .variants import Reference, Variant, open_vcf, read_variants, vcf_records

FORMATS = (".parquet", ".tsv", ".vcf.gz", ".bedgraph", ".bw")
TRACKS = (".bedgraph", ".bw")  # one value per position
CHUNK = 512  # variants per saved chunk
BASES = "ACGT"


@dataclass(frozen=True)
class VepOptions:
    """How variants are scored and reported (the command line's options)."""

    window: int | None = None  # bases per window; None: 512, or what fits the model's context
    species: str | None = "human"  # species token before every window; None for none
    batch_size: int = 16  # variants scored at once
    skip_invalid: bool = False  # skip records that cannot be scored (counted) instead of stopping
    calibrate: str | None = None  # a score table of reference variants: add each score's percentile
    progress: bool = True
    alignment: str | None = None  # a MAF alignment on the genome, for models that read one (GPN-MSA)
    precision: str = "fp32"  # the model's arithmetic: fp32, bf16, fp16 or auto (dnagpt.device)


@dataclass(frozen=True)
class VepSettings:
    """What a run depends on; a resumed run must have the same."""

    model: str
    variants: str
    genome: str
    window: int
    species: str | None
    count: int  # variants to score
    digest: str  # of the variant list: the same file edited in place is another run
    alignment: str | None = None  # the MAF a GPN-MSA model read


def output_format(out: str | Path) -> str:
    """The output format named by the file's ending (``.parquet``, ``.tsv``, ``.vcf.gz``, ``.bedgraph``,
    ``.bw`` for bigWig)."""
    for suffix in FORMATS:
        if str(out).endswith(suffix):
            return suffix
    raise ConfigError(f"{out}: the output must end in {', '.join(FORMATS)}")


def score_vcf(model: PretrainedModel, model_name: str, vcf: str | Path, genome: str | Path, out: str | Path,
              options: VepOptions = VepOptions(), region: str | None = None) -> dict:  # fmt: skip
    """Score every ALT allele of ``vcf`` (or of its records overlapping ``region``, ``CHR:START-END``,
    read through the VCF's index: :func:`dnagpt.vep.variants.vcf_records`) with ``model`` and write
    ``out``; returns a summary.

    The genome FASTA is read in place through its index (:func:`dnagpt.data.fasta.open_fasta`).
    Every record is checked (REF against the genome, chromosome present, alleles readable) before
    any scoring starts. Finished chunks are kept in ``OUT.parts/`` until the end, so rerunning the
    same command after an interruption scores only what is left.
    """
    fmt = output_format(out)
    if options.calibrate and fmt in TRACKS:
        raise ConfigError(f"{out}: --calibrate adds percentile columns, which .parquet, .tsv or .vcf.gz hold")
    with open_fasta(genome, cache_root()) as fasta:
        reference = Reference(fasta)
        variants, skipped = read_variants(vcf, reference, options.skip_invalid, region)
        if not variants:
            raise DataError(f"{vcf}: no variant to score" + (f" in {region}" if region else ""))
        source = str(Path(vcf).resolve())
        summary = _score_and_write(model, model_name, source, variants, reference, genome, out, fmt, options,
                                   vcf, region)  # fmt: skip
    return dict(summary, skipped=skipped)


def score_region(model: PretrainedModel, model_name: str, region: str, genome: str | Path, out: str | Path,
                 options: VepOptions = VepOptions()) -> dict:  # fmt: skip
    """Score all three substitutions at every base of ``region`` (``CHR:START-END``, 1-based): a
    per-position track. A ``.bedgraph`` or bigWig (``.bw``) output holds the mean likelihood score of the three;
    ``.parquet`` / ``.tsv`` hold one row per substitution. N bases are left out."""
    fmt = output_format(out)
    if fmt == ".vcf.gz":
        raise ConfigError(f"{out}: a region is written as .bedgraph, .bw, .parquet or .tsv")
    if options.calibrate and fmt in TRACKS:
        raise ConfigError(f"{out}: --calibrate adds percentile columns, which .parquet or .tsv hold")
    chrom, start, end = parse_region(region)
    with open_fasta(genome, cache_root()) as fasta:
        reference = Reference(fasta)
        record = reference.record(chrom)
        if record is None:
            raise DataError(f"region {region}: chromosome {chrom!r} is not in {genome}")
        if end > record.length:
            raise DataError(f"region {region}: {chrom} has {record.length:,} bases")
        bases = reference.bases(record, start - 1, end).decode()
        variants = [Variant(chrom, pos, base, alt) for pos, base in enumerate(bases, start=start) if base != "N"
                    for alt in BASES if alt != base]  # fmt: skip
        if not variants:
            raise DataError(f"region {region}: only N bases")
        summary = _score_and_write(model, model_name, region, variants, reference, genome, out, fmt, options, None)
    return dict(summary, skipped=0)


def _score_and_write(model, model_name, source, variants, reference, genome, out, fmt, options, vcf,
                     region=None) -> dict:  # fmt: skip
    width = default_window(model, options.window)
    if options.window and width != options.window:
        most, k = default_window(model, 1 << 30), model.reading_frames
        reason = (f"at most {most:,} bases fit in its context" if options.window > most
                  else f"a window must be a whole number of its {k}-base tokens, e.g. {width}")  # fmt: skip
        raise ConfigError(f"--window {options.window}: {reason}")
    calibration = read_calibration(options.calibrate) if options.calibrate else None
    alignment = _alignment_for(model, options.alignment)
    if alignment is not None:
        missing = sorted({v.chrom for v in variants if not alignment.has_chromosome(v.chrom)})
        if missing:
            raise DataError(f"{options.alignment}: no {alignment.reference} rows on chromosome(s) "
                            f"{', '.join(missing[:5])}, where variants are")  # fmt: skip
        first, last = min(v.pos for v in variants), max(v.pos for v in variants)
        if len({v.chrom for v in variants}) == 1 and not alignment.covered(variants[0].chrom, first - 1, last):
            raise DataError(f"{options.alignment}: {variants[0].chrom}:{first:,}-{last:,} is not covered by "
                            "the alignment")  # fmt: skip
    settings = VepSettings(model_name, source, str(Path(genome).resolve()), width, options.species,
                           len(variants), _digest(variants),
                           str(Path(options.alignment).resolve()) if alignment else None)  # fmt: skip
    parts = _parts_folder(out, settings)
    column = score_column(model)
    chunks = range(0, len(variants), CHUNK)
    bar = _progress(len(variants), options.progress)
    for number, start in enumerate(chunks):
        path = parts / f"chunk-{number:06d}.npz"
        chunk = variants[start : start + CHUNK]
        if not path.exists():
            scores = _score_chunk(model, reference, chunk, width, options, alignment, bar)
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **scores)
        elif bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    saved_scores: dict[str, list[np.ndarray]] = {}
    for number, start in enumerate(chunks):
        with np.load(parts / f"chunk-{number:06d}.npz") as saved:
            for name in saved.files:
                if len(saved[name]) != len(variants[start : start + CHUNK]):
                    raise DataError(f"{parts}/chunk-{number:06d}.npz does not fit this run; delete {parts}")
                saved_scores.setdefault(name, []).append(saved[name])
    table = {name: np.concatenate(values) for name, values in saved_scores.items()}
    if calibration is not None:
        table.update(percentiles(table, calibration, options.calibrate))
    _write(out, fmt, variants, table, column, vcf, reference, region)
    for path in parts.iterdir():
        path.unlink()
    parts.rmdir()
    kinds = [v.kind for v in variants]
    summary = dict(variants=len(variants), snvs=kinds.count("SNV"), indels=kinds.count("indel"), window=width,
                   score=column, scores=[n for n in table if n in (column, "embedding_distance")],
                   out=str(out))  # fmt: skip
    if alignment is not None:  # SNVs the alignment does not reach are left without a score
        snv = np.array([k == "SNV" for k in kinds])
        summary["outside_alignment"] = int(np.isnan(table[column][snv]).sum())
    return summary


def _digest(variants: list[Variant]) -> str:
    text = "\n".join(f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}" for v in variants)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_calibration(path: str | Path) -> dict[str, np.ndarray]:
    """The score columns of a reference score table (``dnagpt vep`` output, .parquet or .tsv), sorted."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such score table (--calibrate)")
    rows = read_table(path)
    names = [n for n in ("llr", "masked_llr", "embedding_distance") if rows and n in rows[0]]
    found = {}
    for name in names:
        try:
            found[name] = np.sort([float(row[name]) for row in rows])
        except (TypeError, ValueError):
            raise DataError(f"{path}: column {name} holds a value that is not a number") from None
    if not found:
        raise DataError(f"{path}: no llr, masked_llr or embedding_distance column to calibrate against")
    return found


def percentiles(table: dict[str, np.ndarray], calibration: dict[str, np.ndarray], source) -> dict[str, np.ndarray]:
    """Each score as the percentage of reference scores at or below it (``NAME_percentile``)."""
    out = {}
    for name, values in table.items():
        if name in calibration:
            reference = calibration[name][np.isfinite(calibration[name])]
            if not len(reference):
                raise DataError(f"{source}: column {name} holds no finite score to calibrate against")
            out[f"{name}_percentile"] = 100.0 * np.searchsorted(reference, values, side="right") / len(reference)
    if not out:
        raise DataError(f"{source}: holds none of this model's scores ({', '.join(table)})")
    return out


def _parts_folder(out: str | Path, settings: VepSettings) -> Path:
    parts = Path(f"{out}.parts")
    recorded = parts / "settings.json"
    if recorded.exists():
        before = json.loads(recorded.read_text())
        if before != asdict(settings):
            changed = [f"{k}: {before.get(k)!r} -> {v!r}" for k, v in asdict(settings).items() if before.get(k) != v]
            raise ConfigError(f"{parts} holds an interrupted run with other settings ({'; '.join(changed)}); "
                              "rerun it as it was, or delete that folder")  # fmt: skip
    else:
        parts.mkdir(parents=True, exist_ok=True)
        atomic_write_text(recorded, json.dumps(asdict(settings), indent=1))
    return parts


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    return tqdm(total=total, unit="variant", desc="vep", dynamic_ncols=True)


def _alignment_for(model: PretrainedModel, path: str | None) -> Alignment | None:
    """The alignment a model that reads one (GPN-MSA) needs, read before any scoring; None for others."""
    if not model.aligned_species:
        if path:
            raise ConfigError(f"--alignment {path}: this model reads no alignment (only GPN-MSA models do)")
        return None
    if not path:
        raise ConfigError(f"{model.config.name} is a GPN-MSA model: it reads the aligned bases of "
                          f"{model.aligned_species} other species; give --alignment MAF")  # fmt: skip
    alignment = read_maf(path)
    alignment.check_species(model.aligned_species)
    return alignment


def _score_chunk(model, reference, chunk: list[Variant], width, options: VepOptions, alignment,
                 bar) -> dict[str, np.ndarray]:  # fmt: skip
    parts: dict[str, list[np.ndarray]] = {}
    device = next(model.parameters()).device
    for i in range(0, len(chunk), options.batch_size):
        batch = chunk[i : i + options.batch_size]
        with precision_context(options.precision, device):
            scores = score_variants(model, reference, batch, width, options.species, alignment)
        for name, values in scores.items():
            parts.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
        if bar is not None:
            bar.update(len(batch))
    return {name: np.concatenate(values) for name, values in parts.items()}


def variant_table(variants: list[Variant], scores: dict[str, np.ndarray]) -> dict[str, list]:
    """Columns of the output table: the variant (normalised), its kind, VCF line, and each score."""
    table: dict[str, list] = dict(
        chrom=[v.chrom for v in variants], pos=[v.pos for v in variants], id=[v.id for v in variants],
        ref=[v.ref for v in variants], alt=[v.alt for v in variants], kind=[v.kind for v in variants],
        vcf_line=[v.line for v in variants],
    )  # fmt: skip
    for name, values in scores.items():
        table[name] = [float(x) for x in values]
    return table


def _write(out, fmt: str, variants: list[Variant], scores: dict[str, np.ndarray], column: str, vcf,
           reference: Reference, region: str | None = None) -> None:  # fmt: skip
    table = variant_table(variants, scores)
    if fmt == ".parquet":
        atomic_write(out, lambda tmp: pq.write_table(pa.table(table), tmp))
    elif fmt == ".tsv":
        lines = ["\t".join(table)] + [
            "\t".join(f"{x:.6g}" if isinstance(x, float) else str(x) for x in row)
            for row in zip(*table.values(), strict=True)
        ]
        atomic_write_text(out, "\n".join(lines) + "\n")
    elif fmt == ".bedgraph":
        _write_bedgraph(out, variants, scores[column], column)
    elif fmt == ".bw":
        _write_bigwig(out, variants, scores[column], reference)
    else:
        _write_vcf(out, vcf, variants, scores, column, region)


def _mean_by_position(variants: list[Variant], values: np.ndarray) -> dict[tuple[str, int], float]:
    by_position: dict[tuple[str, int], list[float]] = {}
    for v, value in zip(variants, values, strict=True):
        by_position.setdefault((v.chrom, v.pos), []).append(float(value))
    return {key: float(np.mean(x)) for key, x in by_position.items()}


def _write_bedgraph(out, variants: list[Variant], values: np.ndarray, column: str) -> None:
    """The mean score of the variants at each position (bedGraph: 0-based start, end exclusive)."""
    by_position = _mean_by_position(variants, values)
    lines = [f'track type=bedGraph name="dnagpt vep {column}" description="mean {column} of the variants at '
             'each position"']  # fmt: skip
    lines += [f"{chrom}\t{pos - 1}\t{pos}\t{x:.6g}" for (chrom, pos), x in sorted(by_position.items())]
    atomic_write_text(out, "\n".join(lines) + "\n")


def _write_bigwig(out, variants: list[Variant], values: np.ndarray, reference: Reference) -> None:
    """The mean score at each position as bigWig (pyBigWig), chromosome sizes from the genome."""
    try:
        import pyBigWig  # optional: the genomes extra
    except ImportError:
        raise ConfigError(f"{out}: writing bigWig needs pyBigWig: pip install 'dnagpt[genomes]'") from None
    by_position = _mean_by_position(variants, values)
    names = sorted({chrom for chrom, _ in by_position})
    with atomic_path(out) as tmp:
        track = pyBigWig.open(str(tmp), "w")
        track.addHeader([(name, reference.record(name).length) for name in names])
        for name in names:
            here = sorted((pos, x) for (chrom, pos), x in by_position.items() if chrom == name)
            track.addEntries(name, [pos - 1 for pos, _ in here], values=[x for _, x in here], span=1)
        track.close()


def _write_vcf(out, vcf, variants: list[Variant], scores: dict[str, np.ndarray], column: str,
               region: str | None = None) -> None:  # fmt: skip
    """A copy of the input VCF (of its records in ``region``, when given) with ``DNAGPT_<SCORE>`` INFO
    fields (with ``--calibrate`` also ``DNAGPT_<SCORE>_PERCENTILE``), one value per ALT (``.`` where
    skipped); records without an ALT allele are copied unchanged."""
    from cyvcf2 import Writer  # optional: the genomes extra

    by_allele = {(v.line, v.allele): i for i, v in enumerate(variants)}
    names = (column, "embedding_distance", f"{column}_percentile", "embedding_distance_percentile")
    fields = {f"DNAGPT_{name.upper()}": name for name in names if name in scores}
    reader = open_vcf(vcf)
    for field, name in fields.items():
        what = f"dnagpt vep: {name.replace('_', ' ')} of each ALT allele"
        reader.add_info_to_header({"ID": field, "Number": "A", "Type": "Float", "Description": what})
    _, records = vcf_records(reader, vcf, region)  # numbered as read_variants numbered them
    with atomic_path(out) as tmp:
        writer = Writer(str(tmp), reader, mode="wz")
        for line, record in records:
            for field, name in fields.items() if record.ALT else ():
                values = []
                for allele in range(1, len(record.ALT) + 1):
                    i = by_allele.get((line, allele))
                    values.append(f"{scores[name][i]:.6g}" if i is not None else ".")
                record.INFO[field] = ",".join(values)
            writer.write_record(record)
        writer.close()
    reader.close()

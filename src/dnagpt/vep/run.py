"""Score a whole VCF: batched, in chunks saved as they finish (a killed run continues), written
as parquet, TSV or a copy of the VCF with the scores in INFO fields."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from ..data.alignment import Alignment, read_maf
from ..data.fasta import open_fasta
from ..data.prefetch import BatchPrefetcher
from ..data.regions import parse_region
from ..data.sources import cache_root
from ..data.tables import read_table
from ..device import precision_context
from ..errors import ConfigError, DataError
from ..io import atomic_path, atomic_write_text
from ..models import PretrainedModel
from ..workers import Workers, process_group, wait_for_all
from .scoring import default_window, prepare_batch, score_column
from .variants import Reference, Variant, VcfVariants, open_vcf, vcf_records

DATASET = "/"  # an output ending in "/": a parquet dataset, partitioned by chromosome
FORMATS = (".parquet", ".tsv", ".vcf.gz", ".bedgraph", ".bw", DATASET)
TRACKS = (".bedgraph", ".bw")  # one value per position
CHUNK = 512  # variants per saved chunk; the unit of work a worker takes
ROW_GROUP = 65_536  # rows per parquet row group written
# How long the first worker waits for the others to finish their shares (they score for days on a genome)
WORKERS_WAIT = timedelta(days=7)
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
    # read and encode the next batch's windows on a second thread while the model runs: "auto" on a GPU only
    prefetch: bool | Literal["auto"] = "auto"


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
    ``.bw`` for bigWig), or :data:`DATASET` for a folder (``OUT/``)."""
    for suffix in FORMATS:
        if str(out).endswith(suffix):
            return suffix
    raise ConfigError(
        f"{out}: the output must end in {', '.join(FORMATS[:-1])}, or in / (a folder: a parquet "
        "dataset partitioned by chromosome)"
    )


def score_vcf(model: PretrainedModel, model_name: str, vcf: str | Path, genome: str | Path, out: str | Path,
              options: VepOptions = VepOptions(), region: str | None = None,
              workers: Workers | None = None) -> dict | None:  # fmt: skip
    """Score every ALT allele of ``vcf`` (or of its records overlapping ``region``, ``CHR:START-END``,
    read through the VCF's index: :func:`dnagpt.vep.variants.vcf_records`) with ``model`` and write
    ``out``; returns a summary (None on workers other than the first).

    The genome FASTA is read in place through its index (:func:`dnagpt.data.fasta.open_fasta`).
    Every record is checked (REF against the genome, chromosome present, alleles readable) before
    any scoring starts. Finished chunks are kept in ``OUT.parts/`` until the end, so rerunning the
    same command after an interruption scores only what is left. Under ``workers`` (torchrun's
    processes, :class:`dnagpt.workers.Workers`) each worker scores its share of the chunks and the
    first writes ``out``, the same as one process would.
    """
    fmt = output_format(out)
    if options.calibrate and fmt in TRACKS:
        raise ConfigError(f"{out}: --calibrate adds percentile columns, which .parquet, .tsv or .vcf.gz hold")
    with open_fasta(genome, cache_root()) as fasta:
        variants = VcfVariants(vcf, Reference(fasta), options.skip_invalid, region)
        source = str(Path(vcf).resolve())
        summary = _score_and_write(model, model_name, source, lambda: _chunks(variants), variants.reference, genome,
                                   out, fmt, options, workers, vcf, region)  # fmt: skip
        skipped = variants.skipped
    return None if summary is None else dict(summary, skipped=skipped)


def score_region(model: PretrainedModel, model_name: str, region: str, genome: str | Path, out: str | Path,
                 options: VepOptions = VepOptions(), workers: Workers | None = None) -> dict | None:  # fmt: skip
    """Score all three substitutions at every base of ``region`` (``CHR:START-END``, 1-based): a
    per-position track. A ``.bedgraph`` or bigWig (``.bw``) output holds the mean likelihood score of the three;
    ``.parquet`` / ``.tsv`` (or a parquet dataset, ``OUT/``) hold one row per substitution. N bases
    are left out. The substitutions are made chunk by chunk as they are scored, so a whole
    chromosome takes no more memory than a short region; ``workers`` as in :func:`score_vcf`."""
    fmt = output_format(out)
    if fmt == ".vcf.gz":
        raise ConfigError(f"{out}: a region is written as .bedgraph, .bw, .parquet, a parquet dataset or .tsv")
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
        if bases.count("N") == len(bases):
            raise DataError(f"region {region}: only N bases")
        summary = _score_and_write(model, model_name, region, lambda: _substitution_chunks(chrom, start, bases),
                                   reference, genome, out, fmt, options, workers)  # fmt: skip
    return None if summary is None else dict(summary, skipped=0)


def _substitution_chunks(chrom: str, start: int, bases: str) -> Iterator[list[Variant]]:
    """The three substitutions at every base of ``bases`` (the first at ``start``, 1-based), N left
    out, in chunks of :data:`CHUNK`, made as they are asked for."""
    return _chunks(Variant(chrom, pos, base, alt) for pos, base in enumerate(bases, start=start) if base != "N"
                   for alt in BASES if alt != base)  # fmt: skip


def _chunks(variants: Iterable[Variant]) -> Iterator[list[Variant]]:
    """``variants`` in lists of :data:`CHUNK`, read as they are asked for."""
    variants = iter(variants)
    while chunk := list(itertools.islice(variants, CHUNK)):
        yield chunk


@dataclass(frozen=True)
class Survey:
    """What a run's variants are, read once before scoring: counts, a digest of the list (a file
    edited in place is another run), and the first and last position on each chromosome."""

    count: int
    snvs: int
    indels: int
    digest: str
    spans: dict[str, tuple[int, int]]

    @classmethod
    def of(cls, chunks: Iterable[list[Variant]], progress: bool = False) -> Survey:
        """Read every chunk once (showing a count of the variants checked, with ``progress``)."""
        bar = tqdm(unit="variant", desc="checking", dynamic_ncols=True) if progress else None
        count = snvs = indels = 0
        digest, spans, separator = hashlib.sha256(), {}, ""
        for chunk in chunks:
            for v in chunk:
                digest.update(f"{separator}{v.chrom}:{v.pos}:{v.ref}:{v.alt}".encode())
                separator = "\n"
                count += 1
                kind = v.kind
                snvs += kind == "SNV"
                indels += kind == "indel"
                first, last = spans.get(v.chrom, (v.pos, v.pos))
                spans[v.chrom] = (min(first, v.pos), max(last, v.pos))
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        return cls(count, snvs, indels, digest.hexdigest()[:16], spans)


def _score_and_write(model, model_name, source, chunks: Callable[[], Iterator[list[Variant]]], reference, genome,
                     out, fmt, options, workers: Workers | None, vcf=None, region=None) -> dict | None:  # fmt: skip
    workers = workers or Workers()
    width = default_window(model, options.window)
    if options.window and width != options.window:
        most, k = default_window(model, 1 << 30), model.reading_frames
        reason = (f"at most {most:,} bases fit in its context" if options.window > most
                  else f"a window must be a whole number of its {k}-base tokens, e.g. {width}")  # fmt: skip
        raise ConfigError(f"--window {options.window}: {reason}")
    calibration = read_calibration(options.calibrate) if options.calibrate else None
    alignment = _alignment_for(model, options.alignment)
    survey = Survey.of(chunks(), options.progress and workers.local_rank == 0)
    if not survey.count:
        raise DataError(f"{vcf}: no variant to score" + (f" in {region}" if region else ""))
    if alignment is not None:
        missing = sorted(chrom for chrom in survey.spans if not alignment.has_chromosome(chrom))
        if missing:
            raise DataError(f"{options.alignment}: no {alignment.reference} rows on chromosome(s) "
                            f"{', '.join(missing[:5])}, where variants are")  # fmt: skip
        if len(survey.spans) == 1:
            ((chrom, (first, last)),) = survey.spans.items()
            if not alignment.covered(chrom, first - 1, last):
                raise DataError(f"{options.alignment}: {chrom}:{first:,}-{last:,} is not covered by the "
                                "alignment")  # fmt: skip
    settings = VepSettings(model_name, source, str(Path(genome).resolve()), width, options.species,
                           survey.count, survey.digest,
                           str(Path(options.alignment).resolve()) if alignment else None)  # fmt: skip
    parts = _parts_folder(out, settings)
    with process_group(workers) as group:
        mine = [n for n in range(-(-survey.count // CHUNK)) if n % workers.size == workers.rank]
        bar = _progress(sum(min(CHUNK, survey.count - n * CHUNK) for n in mine),
                        options.progress and workers.local_rank == 0)  # fmt: skip
        for number, chunk in enumerate(chunks()):
            path = parts / f"chunk-{number:06d}.npz"
            if number % workers.size != workers.rank:
                continue
            if not path.exists():
                scores = _score_chunk(model, reference, chunk, width, options, alignment, bar)
                with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                    np.savez(fh, **scores)
            elif bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        if workers.size > 1:
            wait_for_all(group, WORKERS_WAIT)  # every share is scored
        if workers.rank != 0:
            return None
    scored = _scored_chunks(chunks(), parts, calibration, options.calibrate)
    outside = _write(out, fmt, scored, score_column(model), vcf, reference, region, count_outside=alignment is not None)
    shutil.rmtree(parts)
    summary = dict(variants=survey.count, snvs=survey.snvs, indels=survey.indels, window=width,
                   score=score_column(model), scores=_score_names(model), out=str(out))  # fmt: skip
    if alignment is not None:  # SNVs the alignment does not reach are left without a score
        summary["outside_alignment"] = outside
    return summary


def _score_names(model: PretrainedModel) -> list[str]:
    column = score_column(model)
    return [column] if model.variant_scoring == "gpn" else [column, "embedding_distance"]


def _scored_chunks(chunks: Iterable[list[Variant]], parts: Path, calibration, calibrate: str | None
                   ) -> Iterator[tuple[list[Variant], dict[str, np.ndarray]]]:  # fmt: skip
    """Each chunk's variants with their saved scores (and percentiles, with a calibration)."""
    for number, chunk in enumerate(chunks):
        path = parts / f"chunk-{number:06d}.npz"
        if not path.is_file():
            raise DataError(f"{path} is missing after every worker finished: with workers on several machines, "
                            f"{parts} must be a folder they all write to (a shared filesystem)")  # fmt: skip
        with np.load(path) as saved:
            scores = {name: saved[name] for name in saved.files}
        if any(len(values) != len(chunk) for values in scores.values()):
            raise DataError(f"{path} does not fit this run; delete {parts}")
        if calibration is not None:
            scores.update(percentiles(scores, calibration, calibrate))
        yield chunk, scores


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
    parts = Path(f"{str(out).rstrip('/')}.parts")  # a dataset's folder (OUT/) is not where its parts go
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
    """The scores of one chunk, batch by batch; with prefetching, the next batch's windows are read
    and encoded while the model runs on this one (within the chunk, so the reader is never used by
    two threads at once)."""
    parts: dict[str, list[np.ndarray]] = {}
    device = next(model.parameters()).device
    batches = [range(i, min(i + options.batch_size, len(chunk))) for i in range(0, len(chunk), options.batch_size)]
    prepared = BatchPrefetcher(lambda rows: prepare_batch(model, reference, chunk[rows.start : rows.stop], width,
                                                          options.species, alignment),
                               options.prefetch, device.type)  # fmt: skip
    try:
        for rows, following in zip(batches, [*batches[1:], None], strict=True):
            run_model = prepared.get(rows, following)
            with precision_context(options.precision, device):
                scores = run_model()
            for name, values in scores.items():
                parts.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
            if bar is not None:
                bar.update(len(rows))
    finally:
        prepared.close()
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


def _write(out, fmt: str, scored: Iterable[tuple[list[Variant], dict[str, np.ndarray]]], column: str, vcf,
           reference: Reference, region: str | None = None, count_outside: bool = False) -> int:  # fmt: skip
    """Write the scored chunks to ``out`` in its format, one chunk at a time where the format allows
    (tables); returns how many SNVs have no score (NaN: outside the alignment), when asked."""
    outside = 0

    def counted(chunks):
        nonlocal outside
        for chunk, scores in chunks:
            if count_outside:
                snv = np.array([v.kind == "SNV" for v in chunk])
                outside += int(np.isnan(scores[column][snv]).sum())
            yield chunk, scores

    scored = counted(scored)
    if fmt == ".parquet":
        with atomic_path(out) as tmp:
            _write_parquet(tmp, scored)
    elif fmt == DATASET:
        _write_dataset(out, scored)
    elif fmt == ".tsv":
        _write_tsv(out, scored)
    elif fmt == ".bedgraph":
        _write_bedgraph(out, scored, column)
    elif fmt == ".bw":
        _write_bigwig(out, scored, column, reference)
    else:
        _write_vcf(out, vcf, scored, column, region)
    return outside


def _row_groups(scored: Iterable[tuple[list[Variant], dict[str, np.ndarray]]]) -> Iterator[pa.Table]:
    """The scored chunks as tables of about :data:`ROW_GROUP` rows each."""
    pending: list[pa.Table] = []
    for chunk, scores in scored:
        pending.append(pa.table(variant_table(chunk, scores)))
        if sum(t.num_rows for t in pending) >= ROW_GROUP:
            yield pa.concat_tables(pending)
            pending = []
    if pending:
        yield pa.concat_tables(pending)


def _write_parquet(path: Path, scored) -> None:
    writer = None
    for table in _row_groups(scored):
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table.cast(writer.schema))
    if writer is not None:
        writer.close()


def _write_dataset(out, scored) -> None:
    """A parquet dataset partitioned by chromosome (hive style, ``OUT/chrom=NAME/part-0.parquet``,
    as :func:`pyarrow.dataset.dataset` and ``pandas.read_parquet`` read it back, chrom included),
    built beside ``out`` and moved into place when whole."""
    final = Path(out)
    building = final.with_name(final.name + ".writing")
    shutil.rmtree(building, ignore_errors=True)  # what a killed run left
    building.mkdir(parents=True)
    writers: dict[str, pq.ParquetWriter] = {}
    for table in _row_groups(scored):
        chroms = table.column("chrom")
        for chrom in dict.fromkeys(chroms.to_pylist()):
            rows = table.filter(pc.equal(chroms, chrom)).drop_columns(["chrom"])
            if chrom not in writers:
                folder = building / f"chrom={urllib.parse.quote(chrom, safe='')}"
                folder.mkdir()
                writers[chrom] = pq.ParquetWriter(folder / "part-0.parquet", rows.schema)
            writers[chrom].write_table(rows.cast(writers[chrom].schema))
    for writer in writers.values():
        writer.close()
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    building.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _write_tsv(out, scored) -> None:
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        header = False
        for chunk, scores in scored:
            table = variant_table(chunk, scores)
            if not header:
                fh.write("\t".join(table) + "\n")
                header = True
            for row in zip(*table.values(), strict=True):
                fh.write("\t".join(f"{x:.6g}" if isinstance(x, float) else str(x) for x in row) + "\n")


def _mean_by_position(scored, column: str) -> dict[tuple[str, int], float]:
    totals: dict[tuple[str, int], list[float]] = {}
    for chunk, scores in scored:
        for v, value in zip(chunk, scores[column], strict=True):
            total = totals.setdefault((v.chrom, v.pos), [0.0, 0])
            total[0] += float(value)
            total[1] += 1
    return {key: total / n for key, (total, n) in totals.items()}


def _write_bedgraph(out, scored, column: str) -> None:
    """The mean score of the variants at each position (bedGraph: 0-based start, end exclusive)."""
    by_position = _mean_by_position(scored, column)
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(f'track type=bedGraph name="dnagpt vep {column}" description="mean {column} of the variants at '
                 'each position"\n')  # fmt: skip
        for (chrom, pos), x in sorted(by_position.items()):
            fh.write(f"{chrom}\t{pos - 1}\t{pos}\t{x:.6g}\n")


def _write_bigwig(out, scored, column: str, reference: Reference) -> None:
    """The mean score at each position as bigWig (pyBigWig), chromosome sizes from the genome."""
    try:
        import pyBigWig  # optional: the genomes extra
    except ImportError:
        raise ConfigError(f"{out}: writing bigWig needs pyBigWig: pip install 'dnagpt[genomes]'") from None
    by_position = _mean_by_position(scored, column)
    names = sorted({chrom for chrom, _ in by_position})
    with atomic_path(out) as tmp:
        track = pyBigWig.open(str(tmp), "w")
        track.addHeader([(name, reference.record(name).length) for name in names])
        for name in names:
            here = sorted((pos, x) for (chrom, pos), x in by_position.items() if chrom == name)
            track.addEntries(name, [pos - 1 for pos, _ in here], values=[x for _, x in here], span=1)
        track.close()


def _write_vcf(out, vcf, scored, column: str, region: str | None = None) -> None:
    """A copy of the input VCF (of its records in ``region``, when given) with ``DNAGPT_<SCORE>`` INFO
    fields (with ``--calibrate`` also ``DNAGPT_<SCORE>_PERCENTILE``), one value per ALT (``.`` where
    skipped); records without an ALT allele are copied unchanged."""
    from cyvcf2 import Writer  # optional: the genomes extra

    # the scored variants come in the order of the records they were read from: walk both together
    flat = ((v, {name: values[i] for name, values in scores.items()}) for chunk, scores in scored
            for i, v in enumerate(chunk))  # fmt: skip
    pending = next(flat, None)
    present = pending[1] if pending is not None else {}
    names = (column, "embedding_distance", f"{column}_percentile", "embedding_distance_percentile")
    fields = {f"DNAGPT_{name.upper()}": name for name in names if name in present}
    reader = open_vcf(vcf)
    for field, name in fields.items():
        what = f"dnagpt vep: {name.replace('_', ' ')} of each ALT allele"
        reader.add_info_to_header({"ID": field, "Number": "A", "Type": "Float", "Description": what})
    _, records = vcf_records(reader, vcf, region)  # numbered as read_variants numbered them
    with atomic_path(out) as tmp:
        writer = Writer(str(tmp), reader, mode="wz")
        for line, record in records:
            found = {}
            while pending is not None and pending[0].line == line:
                found[pending[0].allele] = pending[1]
                pending = next(flat, None)
            for field, name in fields.items() if record.ALT else ():
                values = [f"{found[a][name]:.6g}" if a in found else "." for a in range(1, len(record.ALT) + 1)]
                record.INFO[field] = ",".join(values)
            writer.write_record(record)
        writer.close()
    reader.close()

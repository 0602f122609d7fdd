"""Rebuild the Arabidopsis TIS set shipped in src/dnagpt/datasets/tis_arabidopsis/.

Equivalent to `dnagpt data build tis-arabidopsis --out src/dnagpt/datasets/tis_arabidopsis`;
see dnagpt.data.datasets for how the examples are chosen and split.
"""

from pathlib import Path

from dnagpt.data.datasets import build_tis_arabidopsis

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "src" / "dnagpt" / "datasets" / "tis_arabidopsis"
    print(build_tis_arabidopsis(out))

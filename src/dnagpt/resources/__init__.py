"""Files shipped inside the package: the bundled corpus, configs, datasets and pretrained models.

Code finds them through these paths, never by climbing the source tree.
"""

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent
BUNDLED_MANIFEST = RESOURCES / "corpus" / "manifest.toml"  # the small seven-species corpus of `make demo`
BUNDLED_CONFIGS = RESOURCES / "configs"  # pretrain-NAME.toml, used as `dnagpt pretrain NAME`
BUNDLED_DATASETS = RESOURCES / "datasets"  # labelled tables small enough to ship
SHIPPED_MODELS = RESOURCES / "pretrained"  # the model bundled in the package (dnagpt.models.hub names the others)
# BPE vocabularies of `dnagpt tokenizer train`; bpe-4096: learned from the bundled corpus (first 90 % of each record)
BUNDLED_TOKENIZERS = RESOURCES / "tokenizers"

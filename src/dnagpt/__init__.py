"""dnagpt: pretrain, fine-tune, evaluate and use DNA language models (DNAGPT, GPN and DNABERT-2 style).

The data flow, each floor importing only those below it: token languages
(:mod:`dnagpt.tokenizers`) -> data (:mod:`dnagpt.data`) -> model families
(:mod:`dnagpt.models`) -> metrics, plots and classical baselines
(:mod:`dnagpt.evaluation`) -> training (:mod:`dnagpt.training`) -> tasks
(:mod:`dnagpt.tasks`) -> uses of a model (:mod:`dnagpt.vep`, :mod:`dnagpt.genomes`,
:mod:`dnagpt.representations`) -> the benchmark (:mod:`dnagpt.bench`) -> command line
(:mod:`dnagpt.cli`).
"""

from .errors import CheckpointError, ConfigError, DataError, DNAGPTError, InvalidSequenceError
from .models import (
    DNAGPT,
    DNAGPTConfig,
    ModelConfig,
    ModelOutput,
    PretrainedModel,
    config_names,
    get_config,
    load_model,
)
from .tokenizers import Encoding, KmerTokenizer, TokenBatch, species_token

__version__ = "0.1.0"

__all__ = [
    "DNAGPT",
    "CheckpointError",
    "ConfigError",
    "DNAGPTConfig",
    "DNAGPTError",
    "DataError",
    "Encoding",
    "InvalidSequenceError",
    "KmerTokenizer",
    "ModelConfig",
    "ModelOutput",
    "PretrainedModel",
    "TokenBatch",
    "config_names",
    "get_config",
    "load_model",
    "species_token",
]

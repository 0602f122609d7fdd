"""dnagpt: pretrain, fine-tune, evaluate and use DNAGPT models for DNA.

The data flow: token language (:mod:`dnagpt.tokenizers`) -> data
(:mod:`dnagpt.data`) -> model (:mod:`dnagpt.config`, :mod:`dnagpt.checkpoint`,
:mod:`dnagpt.models`) -> training (:mod:`dnagpt.training`) -> tasks
(:mod:`dnagpt.tasks`) -> evaluation (:mod:`dnagpt.evaluation`) -> command line
(:mod:`dnagpt.cli`).
"""

from .config import DNAGPTConfig, config_names, get_config
from .errors import CheckpointError, ConfigError, DataError, DNAGPTError, InvalidSequenceError
from .models import DNAGPT, DNAGPTOutput
from .tokenizers import Encoding, KmerTokenizer, TokenBatch, species_token

__version__ = "0.1.0"

__all__ = [
    "DNAGPT",
    "CheckpointError",
    "ConfigError",
    "DNAGPTConfig",
    "DNAGPTError",
    "DNAGPTOutput",
    "DataError",
    "Encoding",
    "InvalidSequenceError",
    "KmerTokenizer",
    "TokenBatch",
    "config_names",
    "get_config",
    "species_token",
]

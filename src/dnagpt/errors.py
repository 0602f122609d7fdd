"""Exception types raised by dnagpt.

Every error a user can cause (bad sequence, bad file, unknown configuration) is a
subclass of :class:`DNAGPTError`, so the command line can print one clear line
instead of a traceback, and library users can catch exactly what they expect.
"""

from __future__ import annotations


class DNAGPTError(Exception):
    """Base class of every error caused by the user's input or files."""


class InvalidSequenceError(DNAGPTError, ValueError):
    """A text holds a character that is neither a base, a number nor a token.

    ``position`` is the 0-based character offset in the text that was given.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class ConfigError(DNAGPTError, ValueError):
    """An unknown configuration name or an inconsistent configuration."""


class CheckpointError(DNAGPTError):
    """A weight file is missing, truncated, corrupt or does not fit the model."""


class DataError(DNAGPTError):
    """An input data file (FASTA, manifest, table) cannot be used as given."""


class RunFolderBusyError(DNAGPTError):
    """Another live process is writing the same run folder."""

"""`AudiobitsError`: the user's input or environment is wrong (not a bug in audiobits).

Every layer raises it (or a subclass) with a message that names the file or field and the fix; `audiobits`'s
``main`` prints it as ``audiobits: error: ...`` and exits non-zero, keeping tracebacks for genuine bugs.
"""


class AudiobitsError(Exception):
    """Bad input or environment: the message names the file/field and how to fix it."""


class ConfigValueError(AudiobitsError, ValueError):
    """A config field or an input file holds a value audiobits cannot use (still a ValueError for callers)."""


class MissingFileError(AudiobitsError, FileNotFoundError):
    """A file the config points at (weights, a checkpoint) is not there (still a FileNotFoundError for callers)."""

"""audiobits: how many bits per second an audio tokenization carries, and what it costs to model."""

from audiobits import legacy_paths

__version__ = "0.1.0"

legacy_paths.install()

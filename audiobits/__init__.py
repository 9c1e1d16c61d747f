"""audiobits: how many bits per second an audio tokenization carries, and what it costs to model."""

__version__ = "0.1.0"

"""Range-coded files that prove a run's rate: the coder, the file format, `audiobits compress` and `audiobits
decompress`."""

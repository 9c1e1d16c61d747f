"""Decoded quality: `audiobits quality` scores decoded validation utterances against the originals; quality.json and its
reader."""

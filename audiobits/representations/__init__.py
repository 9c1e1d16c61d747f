"""Representations: one module per way of turning speech into tokens (text BPE, Mimi, SNAC, NeuCodec, ...).

``build("mimi_all", weights="random")`` constructs one by its registry name; codec packages are imported only
when their representation is built, so ``text`` works without moshi/snac/neucodec installed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from audiobits.representations.base import Representation, Utterance, UtteranceError

# registry name -> (module, class, default constructor arguments)
REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "text": ("text", "TextRepresentation", {}),
    "mimi_sem": ("mimi", "MimiRepresentation", {"num_codebooks": 1}),
    "mimi_all": ("mimi", "MimiRepresentation", {"num_codebooks": 8}),
    "snac_orpheus": ("snac", "SnacRepresentation", {"offsets": "level"}),
    "snac_orpheus_pos": ("snac", "SnacRepresentation", {"offsets": "position"}),
    "neucodec": ("neucodec", "NeuCodecRepresentation", {}),
    "phonemes": ("phonemes", "PhonemeRepresentation", {}),
    "mulaw": ("mulaw", "MuLawRepresentation", {}),
}


def build(name: str, **kwargs: Any) -> Representation:
    """Construct the representation registered as ``name``; ``kwargs`` override its defaults (e.g. weights)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown representation {name!r}; choose one of {sorted(REGISTRY)}")
    module, cls, defaults = REGISTRY[name]
    return getattr(import_module(f"audiobits.representations.{module}"), cls)(**{**defaults, **kwargs})


__all__ = ["REGISTRY", "Representation", "Utterance", "UtteranceError", "build"]

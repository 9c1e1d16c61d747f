"""Representations: one module per way of turning speech into tokens (text BPE, Mimi, SNAC, NeuCodec, ...).

``build("mimi_all", weights="random")`` constructs one by its registry name; codec packages are imported only
when their representation is built, so ``text`` works without moshi/snac/neucodec installed.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from audiobits.bins import BinMeta
from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.representations.codec2 import NAMES as CODEC2_NAMES
from audiobits.representations.packets import LC3_BITRATES, OPUS_BITRATES
from audiobits.errors import ConfigValueError

# registry name -> (module, class, default constructor arguments)
REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    "text": ("text", "TextRepresentation", {}),
    "mimi_sem": ("mimi", "MimiRepresentation", {"num_codebooks": 1}),
    "mimi_all": ("mimi", "MimiRepresentation", {"num_codebooks": 8}),
    "snac_orpheus": ("snac", "SnacRepresentation", {"offsets": "level"}),
    "snac_orpheus_pos": ("snac", "SnacRepresentation", {"offsets": "position"}),
    "neucodec": ("neucodec", "NeuCodecRepresentation", {}),
    "phonemes": ("phonemes", "PhonemeRepresentation", {}),
    "utf8": ("utf8", "Utf8Representation", {}),
    "tekken": ("tekken", "TekkenRepresentation", {}),
    "mulaw": ("mulaw", "MuLawRepresentation", {}),
    "mulaw_polyphase": ("mulaw", "MuLawRepresentation", {"resampler": "polyphase"}),
    # any number of Mimi levels: mimi_2 ... mimi_32 (mimi_sem and mimi_all are 1 and 8)
    **{f"mimi_{k}": ("mimi", "MimiRepresentation", {"num_codebooks": k}) for k in range(2, 33) if k != 8},
    # Codec 2 at every bitrate pycodec2 offers (bit/s; codec2_700c is mode 700C)
    **{name: ("codec2", "Codec2Representation", {"mode": mode}) for mode, name in CODEC2_NAMES.items()},
    # the same read, resampled and encoded block by block (polyphase.py; other ids than torchaudio's resampler)
    **{f"{name}_polyphase": ("codec2", "Codec2Representation", {"mode": mode, "resampler": "polyphase"})
       for mode, name in CODEC2_NAMES.items()},
    # transformers codecs (hf_codecs.py): EnCodec 24 kHz and X-Codec per bandwidth, DAC per rate and level count
    **{f"encodec_{kbps:g}kbps": ("hf_codecs", "EncodecRepresentation", {"bandwidth": kbps})
       for kbps in (1.5, 3.0, 6.0, 12.0, 24.0)},
    **{f"xcodec_{kbps:g}kbps": ("hf_codecs", "XcodecRepresentation", {"bandwidth": kbps})
       for kbps in (0.5, 1.0, 1.5, 2.0, 4.0)},
    **{f"dac_{khz}khz_{n}q": ("hf_codecs", "DacRepresentation", {"khz": khz, "n_quantizers": n})
       for khz, most in ((16, 12), (24, 32), (44, 9)) for n in range(1, most + 1)},
    # SpeechTokenizer (PyPI speechtokenizer): its first n of 8 levels (1: the HuBERT-distilled semantic level)
    **{f"speechtokenizer_{n}q": ("speech_tokenizer", "SpeechTokenizerRepresentation", {"n_q": n}) for n in range(1, 9)},
    # BigCodec (PyPI bigcodec, the authors' checkpoint Alethia/BigCodec): one codebook of 8192 at 80 Hz
    "bigcodec": ("bigcodec", "BigCodecRepresentation", {}),
    # S3Tokenizer v2 (PyPI s3tokenizer, CosyVoice 2's speech_tokenizer_v2.onnx): one FSQ stream of 6561 at 25 Hz
    "s3tokenizer_v2": ("s3_tokenizer", "S3TokenizerRepresentation", {}),
    # BiCodec (PyPI spark-tts-lib, SparkAudio/Spark-TTS-0.5B): 32 global tokens (4096) per utterance, then 8192 at 50 Hz
    "spark_bicodec": ("spark_bicodec", "SparkBiCodecRepresentation", {}),
    # classical codecs whose constant-size packets are the tokens (packets.py): Opus in speech mode, LC3
    **{f"opus_{rate // 1000}kbps": ("packets", "OpusRepresentation", {"bitrate": rate}) for rate in OPUS_BITRATES},
    **{f"lc3_{rate // 1000}kbps": ("packets", "LC3Representation", {"bitrate": rate}) for rate in LC3_BITRATES},
}


def build(name: str, **kwargs: Any) -> Representation:
    """Construct the representation registered as ``name``; ``kwargs`` override its defaults (e.g. weights)."""
    if name not in REGISTRY:
        raise ConfigValueError(f"unknown representation {name!r}; choose one of {sorted(REGISTRY)}")
    module, cls, defaults = REGISTRY[name]
    return getattr(import_module(f"audiobits.representations.{module}"), cls)(**{**defaults, **kwargs})


def constructor_parameters(name: str) -> set[str]:
    """The keyword arguments the class registered as ``name`` takes (e.g. whether it has ``weights``)."""
    module, cls, _ = REGISTRY[name]
    return set(inspect.signature(getattr(import_module(f"audiobits.representations.{module}"), cls)).parameters)


def can_decode(representation: Representation) -> bool:
    """True when the representation can turn its ids back into audio (``decode`` and ``decoded_sample_rate``)."""
    return callable(getattr(representation, "decode", None)) and hasattr(representation, "decoded_sample_rate")


def from_meta(meta: BinMeta) -> Representation:
    """The representation that wrote bins with this meta.json, rebuilt from its registry name and encoder record
    (weights "pretrained", the local checkpoint it resolved, or "random" with its seed), e.g. to decode restored ids
    back to audio; refused when the rebuilt one would write other bins (another token layout, codec setting or
    checkpoint revision)."""
    name, encoder = meta.representation, meta.encoder
    if name not in REGISTRY:
        raise ConfigValueError(f"the bins were written by {name!r}, which is not in the registry, so meta.json "
                               "cannot rebuild it: decode the ids with that Representation's decode()")
    if encoder.get("weights") == "precomputed":
        raise ConfigValueError(f"{name} bins of codes that came with the dataset record no decoder: decode them with "
                               f"build({name!r}, weights='pretrained').decode(ids)")
    local = encoder.get("weights") not in ("pretrained", "random", "none") and encoder.get("checkpoint")
    given = {"weights": local or encoder.get("weights"), "seed": encoder.get("seed")}
    taken = constructor_parameters(name)
    rebuilt = build(name, **{k: v for k, v in given.items() if k in taken and v is not None})
    theirs, ours = meta.to_json(), rebuilt.bin_meta(meta.corpus).to_json()
    for key in ("vocab_size", "eos_id", "codebooks", "flattening", "tokens_per_frame", "encoder"):
        want, got = theirs.get(key), ours.get(key)
        if key == "encoder":  # the package version may move on; the weights string may be relative
            want, got = ({k: v for k, v in e.items() if k not in ("version", "weights")} for e in (want, got))
        if want != got:
            raise ConfigValueError(f"meta.json says {key} = {want!r}, but {name} rebuilt from it has {got!r}: "
                                   "decode the ids with the Representation that wrote them")
    return rebuilt


__all__ = ["REGISTRY", "Representation", "Utterance", "UtteranceError", "build", "can_decode",
           "constructor_parameters", "from_meta"]

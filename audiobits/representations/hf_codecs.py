"""Codecs that ship in ``transformers``: EnCodec 24 kHz, DAC (16 / 24 / 44.1 kHz) and X-Codec, with their bitrate
(number of residual levels) as a parameter. Every level is a codebook of 1024 at the frame rate, flattened
frame-major with per-level offsets (`FrameMajorLevels`), EOS = 1024 × levels.

| name | model | rate | hop | levels (kbps) |
|---|---|---|---|---|
| ``encodec_<kbps>kbps`` | facebook/encodec_24khz | 24 kHz, 75 Hz | 320 | 2 (1.5), 4 (3), 8 (6), 16 (12), 32 (24) |
| ``dac_16khz_<n>q`` | descript/dac_16khz | 16 kHz, 50 Hz | 320 | 1 … 12 (0.5 kbps each) |
| ``dac_24khz_<n>q`` | descript/dac_24khz | 24 kHz, 75 Hz | 320 | 1 … 32 (0.75 kbps each) |
| ``dac_44khz_<n>q`` | descript/dac_44khz | 44.1 kHz, 86.13 Hz | 512 | 1 … 9 (0.86 kbps each) |
| ``xcodec_<kbps>kbps`` | hf-audio/xcodec-hubert-librispeech | 16 kHz, 50 Hz | 320 | 1, 2, 3, 4, 8 (0.5 kbps each) |

transformers' EnCodec encodes at 1.5 kbps unless told otherwise: the bandwidth is always passed explicitly.
Batching: EnCodec 24 kHz is causal (any lengths share a batch); DAC is not, so it batches equal padded lengths (its
input is padded to a multiple of the hop, as upstream DAC does); X-Codec runs HuBERT (attention and group norm over
the whole input), so only equal lengths share a batch.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from audiobits.bins import Codebook
from audiobits.representations.codec import CodecRepresentation, FrameMajorLevels, gaussian_codebook, hub_source
from audiobits.errors import ConfigValueError, MissingFileError

CODEBOOK_SIZE = 1024
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _kbps(bandwidth: float) -> str:
    return f"{bandwidth:g}kbps"


class TransformersCodec(FrameMajorLevels, CodecRepresentation):
    """A transformers audio codec loaded with ``from_pretrained`` (hub id or a local save_pretrained folder)."""

    package = "transformers"
    repo: str
    model_class: str
    flattening = "frame_major_level_offsets"

    def _setup_bandwidth(self, family: str, bandwidth: float) -> None:
        """Check ``bandwidth`` (kbps) against ``BANDWIDTHS`` and set up the levels it takes: each level carries
        log2(codebook size) = 10 bits per frame."""
        if bandwidth not in self.BANDWIDTHS:
            raise ConfigValueError(f"{family} bandwidth must be one of {list(self.BANDWIDTHS)} kbps, got {bandwidth!r}")
        self.bandwidth = float(bandwidth)
        bits_per_frame = bandwidth * 1000 / (self.sample_rate / self.hop)
        self._setup(f"{family}_{_kbps(bandwidth)}", round(bits_per_frame / math.log2(CODEBOOK_SIZE)))

    def _setup(self, name: str, levels: int) -> None:
        self.name, self.levels = name, levels
        self.codebooks = [Codebook(CODEBOOK_SIZE, self.sample_rate / self.hop)] * levels
        self.frames_per_level = (1,) * levels
        self.tokens_per_frame = levels
        self.eos_id = CODEBOOK_SIZE * levels
        self.vocab_size = self.eos_id + 1

    def _model_class(self) -> Any:
        return getattr(import_module("transformers"), self.model_class)

    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import try_to_load_from_cache

        model = self._model_class().from_pretrained(self.repo)
        for filename in WEIGHT_FILES:
            path = try_to_load_from_cache(self.repo, filename)
            if isinstance(path, str):
                return self._checked(model), hub_source(self.repo, filename, path)
        raise MissingFileError(f"{self.name}: loaded {self.repo} but found none of {WEIGHT_FILES} in the hub cache")

    def _load_local(self, path: Path) -> torch.nn.Module:
        if not (path / "config.json").is_file() or not any((path / f).is_file() for f in WEIGHT_FILES):
            raise MissingFileError(f"{self.name}: {path} lacks config.json or model weights; {self._local_format()}")
        return self._checked(self._model_class().from_pretrained(str(path)))

    def _local_format(self) -> str:
        return (f"a local {self.model_class} is a folder with config.json and model.safetensors (or "
                f"pytorch_model.bin), as {self.repo} ships them and save_pretrained writes them")

    def _build_random(self) -> torch.nn.Module:
        return self._checked(self._model_class()(self._random_config()))

    @abstractmethod
    def _random_config(self) -> Any:
        """The upstream checkpoint's architecture as a transformers config."""

    def _checked(self, model: torch.nn.Module) -> torch.nn.Module:
        """Refuse weights whose rate, hop, codebook size or level count differ from this representation's."""
        rate, hop, size, levels = self._model_shape(model.config)
        if (rate, hop, size) != (self.sample_rate, self.hop, CODEBOOK_SIZE) or levels < self.levels:
            raise ConfigValueError(f"{self.name}: weights {self.weights!r} are a {rate} Hz model with hop {hop}, "
                                   f"{levels} levels of {size}; {self.name} needs {self.sample_rate} Hz, hop "
                                   f"{self.hop}, at least {self.levels} levels of {CODEBOOK_SIZE}. Use {self.repo} or "
                                   "a checkpoint of the same shape")
        return model

    @abstractmethod
    def _model_shape(self, config: Any) -> tuple[int, int, int, int]:
        """(sampling rate, hop, codebook size, levels) of a loaded model's config."""

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        codes = torch.as_tensor(np.stack(levels), device=self.device)[None]  # [1, levels, frames]
        return self._decode_codes(codes).reshape(-1).float().cpu().numpy()

    @abstractmethod
    def _decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Audio [1, 1, samples] (or [1, samples]) from codes [1, levels, frames]."""


def _fit_euclidean_rvq(layers: list[torch.nn.Module], residual: torch.Tensor, generator: torch.Generator) -> None:
    """EnCodec / X-Codec RVQ: each level's codebook ``embed`` <- Gaussian fitted to that level's residual [B, D, T]."""
    for layer in layers:
        book = layer.codebook
        book.embed.copy_(gaussian_codebook(residual.transpose(1, 2).reshape(-1, book.embed.shape[1]),
                                           book.codebook_size, generator))
        book.embed_avg.copy_(book.embed)
        residual = residual - layer.decode(layer.encode(residual))


class EncodecRepresentation(TransformersCodec):
    """EnCodec 24 kHz at ``bandwidth`` kbps: 2 levels per 1.5 kbps, 75 frames/s, causal."""

    repo = "facebook/encodec_24khz"
    model_class = "EncodecModel"
    sample_rate = 24000
    hop = 320
    encoder_name = "encodec_24khz"
    BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)

    def __init__(self, bandwidth: float = 6.0, weights: str = "pretrained", device: str = "cpu",
                 seed: int = 0) -> None:
        self._setup_bandwidth("encodec", bandwidth)
        super().__init__(weights, device, seed)

    def _random_config(self) -> Any:
        from transformers import EncodecConfig

        return EncodecConfig()  # its defaults are facebook/encodec_24khz's architecture

    def _model_shape(self, config: Any) -> tuple[int, int, int, int]:
        return config.sampling_rate, config.hop_length, config.codebook_size, config.num_quantizers

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        _fit_euclidean_rvq(list(model.quantizer.layers), model.encoder(probe), generator)

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        codes = self.model.encode(x, bandwidth=self.bandwidth, return_dict=True).audio_codes[0]  # [B, levels, T]
        return [codes[:, k] for k in range(self.levels)]

    def _decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes[None], [None], return_dict=True).audio_values


DAC_VARIANTS = {  # kHz -> (sampling rate, downsampling ratios, levels) of descript/dac_<kHz>khz
    16: (16000, [2, 4, 5, 8], 12),
    24: (24000, [2, 4, 5, 8], 32),
    44: (44100, [2, 4, 8, 8], 9),
}


class DacRepresentation(TransformersCodec):
    """Descript Audio Codec (``descript/dac_<khz>khz``), its first ``n_quantizers`` levels."""

    model_class = "DacModel"

    def __init__(self, khz: int = 16, n_quantizers: int | None = None, weights: str = "pretrained",
                 device: str = "cpu", seed: int = 0) -> None:
        if khz not in DAC_VARIANTS:
            raise ConfigValueError(f"dac khz must be one of {sorted(DAC_VARIANTS)}, got {khz!r}")
        self.sample_rate, ratios, most = DAC_VARIANTS[khz]
        n_quantizers = most if n_quantizers is None else n_quantizers
        if not 1 <= n_quantizers <= most:
            raise ConfigValueError(f"dac_{khz}khz has {most} levels: n_quantizers must be in [1, {most}], "
                                   f"got {n_quantizers}")
        self.khz, self.ratios, self.hop = khz, ratios, int(np.prod(ratios))
        self.repo, self.encoder_name = f"descript/dac_{khz}khz", f"dac_{khz}khz"
        self._setup(f"dac_{khz}khz_{n_quantizers}q", n_quantizers)
        super().__init__(weights, device, seed)

    def _random_config(self) -> Any:
        from transformers import DacConfig

        return DacConfig(encoder_hidden_size=64, downsampling_ratios=self.ratios, decoder_hidden_size=1536,
                         n_codebooks=DAC_VARIANTS[self.khz][2], codebook_size=CODEBOOK_SIZE, codebook_dim=8,
                         sampling_rate=self.sample_rate)

    def _model_shape(self, config: Any) -> tuple[int, int, int, int]:
        return config.sampling_rate, config.hop_length, config.codebook_size, config.n_codebooks

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """Each level's codebook <- Gaussian fitted to its L2-normalized projected residual (DAC codes by cosine)."""
        residual = model.encoder(probe)
        for vq in model.quantizer.quantizers:
            latents = F.normalize(vq.in_proj(residual).transpose(1, 2).reshape(-1, vq.codebook_dim), dim=1)
            vq.codebook.weight.copy_(gaussian_codebook(latents, vq.codebook.num_embeddings, generator))
            residual = residual - vq(residual)[0]

    def batch_key(self, num_samples: int) -> int:
        return -(-num_samples // self.hop) * self.hop  # the length its input is padded to

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.pad(x, (0, -x.shape[-1] % self.hop))  # members share a batch_key: padded alike
        codes = self.model.encode(x, n_quantizers=self.levels, return_dict=True).audio_codes
        return [codes[:, k] for k in range(self.levels)]

    def _decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(audio_codes=codes, return_dict=True).audio_values


class XcodecRepresentation(TransformersCodec):
    """X-Codec (acoustic DAC encoder + HuBERT semantic features, one RVQ) at ``bandwidth`` kbps, 50 frames/s."""

    repo = "hf-audio/xcodec-hubert-librispeech"
    model_class = "XcodecModel"
    sample_rate = 16000
    hop = 320
    encoder_name = "xcodec_hubert_librispeech"
    BANDWIDTHS = (0.5, 1.0, 1.5, 2.0, 4.0)

    def __init__(self, bandwidth: float = 4.0, weights: str = "pretrained", device: str = "cpu",
                 seed: int = 0) -> None:
        self._setup_bandwidth("xcodec", bandwidth)
        super().__init__(weights, device, seed)

    def _random_config(self) -> Any:
        from transformers import XcodecConfig

        return XcodecConfig()  # defaults: the HuBERT-base + DAC architecture of hf-audio/xcodec-hubert-librispeech

    def _model_shape(self, config: Any) -> tuple[int, int, int, int]:
        return config.sample_rate, config.hop_length, config.codebook_size, config.num_quantizers

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        semantic = model.encoder_semantic(model._extract_semantic_features(probe).transpose(1, 2))
        acoustic = model.acoustic_encoder(probe)
        if acoustic.shape[2] != semantic.shape[2]:  # as XcodecModel.encode lines them up
            acoustic = model.acoustic_encoder(F.pad(probe[:, 0], (model.pad, model.pad))[:, None])
        embeddings = model.fc(torch.cat([acoustic, semantic], dim=1).transpose(1, 2)).transpose(1, 2)
        _fit_euclidean_rvq(list(model.quantizer.quantizers), embeddings, generator)

    def batch_key(self, num_samples: int) -> int:
        return num_samples  # HuBERT sees the whole input: only equal lengths share a batch

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        codes = self.model.encode(x, bandwidth=self.bandwidth, return_dict=True).audio_codes  # [B, levels, T]
        return [codes[:, k] for k in range(self.levels)]

    def _decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model.decode(codes, return_dict=True).audio_values

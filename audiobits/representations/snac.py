"""``snac_orpheus``: SNAC 24 kHz (3 levels of 4096 at 11.72 / 23.44 / 46.875 Hz) in Orpheus order.

One coarse frame i (2048 samples) gives 7 tokens ``[L0[i], L1[2i], L2[4i], L2[4i+1], L1[2i+1], L2[4i+2], L2[4i+3]]``.
Offsets: ``"level"`` (the seed study: a token of level k gets ``code + 4096 k``, vocab 3·4096 + EOS) or
``"position"`` (Orpheus TTS: position p of the 7 gets ``code + 4096 p``, vocab 7·4096 + EOS).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audiobits.bins import Codebook
from audiobits.representations.codec import CodecRepresentation, gaussian_codebook, hub_source
from audiobits.errors import ConfigValueError, MissingFileError

REPO = "hubertsiuzdak/snac_24khz"
CODEBOOK_SIZE = 4096
# hubertsiuzdak/snac_24khz config.json (19.8 M parameters), used to build the random-weights model.
CONFIG_24KHZ = {"sampling_rate": 24000, "encoder_dim": 48, "encoder_rates": [2, 4, 8, 8], "decoder_dim": 1024,
                "decoder_rates": [8, 8, 4, 2], "attn_window_size": None, "codebook_size": 4096, "codebook_dim": 8,
                "vq_strides": [4, 2, 1], "noise": True, "depthwise": True}
LEVEL_OF_POSITION = np.array([0, 1, 2, 2, 1, 2, 2])  # which SNAC level each of the 7 Orpheus positions holds
OFFSETS = {"level": CODEBOOK_SIZE * LEVEL_OF_POSITION, "position": CODEBOOK_SIZE * np.arange(7)}
NAMES = {"level": "snac_orpheus", "position": "snac_orpheus_pos"}


class SnacRepresentation(CodecRepresentation):
    """SNAC 24 kHz codes flattened in Orpheus order, with per-level or per-position id offsets."""

    sample_rate = 24000
    hop = 2048  # hop_length 512 x coarsest stride 4
    frames_per_level = (1, 2, 4)
    package = "snac"
    encoder_name = "snac_24khz"
    tokens_per_frame = 7

    def __init__(self, offsets: str = "level", weights: str = "pretrained", device: str = "cpu", seed: int = 0) -> None:
        if offsets not in OFFSETS:
            raise ConfigValueError(f"offsets must be one of {sorted(OFFSETS)}, got {offsets!r}")
        self.offsets = offsets
        self.name = NAMES[offsets]
        self.flattening = f"orpheus_{offsets}_offsets"
        self.codebooks = [Codebook(CODEBOOK_SIZE, self.sample_rate / self.hop * m) for m in self.frames_per_level]
        self.eos_id = int(OFFSETS[offsets].max()) + CODEBOOK_SIZE
        self.vocab_size = self.eos_id + 1
        super().__init__(weights, device, seed)
        rates, strides = list(self.model.encoder_rates), list(self.model.vq_strides)
        if self.model.sampling_rate != self.sample_rate or math.prod(rates) * strides[0] != self.hop or \
                strides != [4, 2, 1] or self.model.codebook_size != CODEBOOK_SIZE:
            raise ConfigValueError(f"{self.name}: weights {self.weights!r} are not a 24 kHz SNAC with 3 levels of 4096 "
                                   f"(sampling_rate {self.model.sampling_rate}, encoder_rates {rates}, vq_strides "
                                   f"{strides}); use {REPO} or a checkpoint of the same shape")

    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import try_to_load_from_cache
        from snac import SNAC

        model = SNAC.from_pretrained(REPO)
        return model, hub_source(REPO, "pytorch_model.bin", try_to_load_from_cache(REPO, "pytorch_model.bin"))

    def _load_local(self, path: Path) -> torch.nn.Module:
        from snac import SNAC

        if not ((path / "config.json").is_file() and (path / "pytorch_model.bin").is_file()):
            raise MissingFileError(f"{self.name}: {path} lacks config.json or pytorch_model.bin; "
                                   f"{self._local_format()}")
        return SNAC.from_pretrained(str(path))

    def _local_format(self) -> str:
        return f"a local SNAC checkpoint is a folder with config.json and pytorch_model.bin, as {REPO} ships them"

    def _build_random(self) -> torch.nn.Module:
        from snac import SNAC

        return SNAC(**CONFIG_24KHZ)

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """Each level's codebook <- Gaussian fitted to its L2-normalized projected residual on ``probe``."""
        residual = model.encoder(model.preprocess(probe))
        for vq in model.quantizer.quantizers:
            pooled = F.avg_pool1d(residual, vq.stride, vq.stride) if vq.stride > 1 else residual
            latents = F.normalize(vq.in_proj(pooled).transpose(1, 2).reshape(-1, vq.codebook_dim), dim=1)
            vq.codebook.weight.copy_(gaussian_codebook(latents, vq.codebook_size, generator))
            residual = residual - vq(residual)[0]

    def batch_key(self, num_samples: int) -> int:
        return -(-num_samples // self.hop) * self.hop  # the length SNAC.preprocess pads to (a multiple of 2048)

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.encode(x)  # members share a batch_key: upstream pads them alike

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        codes = [torch.as_tensor(level, device=self.device)[None] for level in levels]
        return self.model.decode(codes)[0, 0].float().cpu().numpy()

    def flatten(self, levels: list[np.ndarray]) -> np.ndarray:
        l0, l1, l2 = levels
        frames = np.stack([l0, l1[0::2], l2[0::4], l2[1::4], l1[1::2], l2[2::4], l2[3::4]], axis=1)
        return (frames + OFFSETS[self.offsets]).reshape(-1)

    def unflatten(self, ids: np.ndarray) -> list[np.ndarray]:
        ids = np.asarray(ids)
        if ids.size % 7:
            raise ConfigValueError(f"{ids.size} ids are not whole Orpheus frames of 7")
        f = ids.reshape(-1, 7) - OFFSETS[self.offsets]
        if f.size and (f.min() < 0 or f.max() >= CODEBOOK_SIZE):
            raise ConfigValueError(f"ids outside their position's range for {self.flattening} (vocab "
                                   f"{self.vocab_size})")
        return [f[:, 0], f[:, [1, 4]].reshape(-1), f[:, [2, 3, 5, 6]].reshape(-1)]

"""``mimi_sem`` / ``mimi_all``: moshi's Mimi codec (24 kHz, 12.5 frames/s, residual codebooks of 2048; causal).

The first ``num_codebooks`` levels, frame-major: frame t gives ``[c0[t], c1[t] + 2048, ..., cK-1[t] + 2048(K-1)]``,
so each level owns its id range; EOS is ``2048 K``. ``num_codebooks=1`` is the semantic codebook alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiobits.bins import Codebook
from audiobits.representations.codec import CodecRepresentation, FrameMajorLevels, gaussian_codebook, hub_source
from audiobits.errors import ConfigValueError, MissingFileError

CODEBOOK_SIZE = 2048
NAMES = {1: "mimi_sem", 8: "mimi_all"}


class MimiRepresentation(FrameMajorLevels, CodecRepresentation):
    """The first ``num_codebooks`` Mimi levels, frame-major, with per-level id offsets."""

    sample_rate = 24000
    hop = 1920
    package = "moshi"
    encoder_name = "mimi"
    flattening = "frame_major_level_offsets"

    def __init__(self, num_codebooks: int = 8, weights: str = "pretrained", device: str = "cpu", seed: int = 0) -> None:
        if not 1 <= num_codebooks <= 32:
            raise ConfigValueError(f"num_codebooks must be in [1, 32] (Mimi has 32 levels), got {num_codebooks}")
        self.num_codebooks = num_codebooks
        self.name = NAMES.get(num_codebooks, f"mimi_{num_codebooks}")
        self.codebooks = [Codebook(CODEBOOK_SIZE, self.sample_rate / self.hop)] * num_codebooks
        self.tokens_per_frame = num_codebooks
        self.frames_per_level = (1,) * num_codebooks
        self.eos_id = CODEBOOK_SIZE * num_codebooks
        self.vocab_size = self.eos_id + 1
        super().__init__(weights, device, seed)
        self.model.set_num_codebooks(num_codebooks)

    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import hf_hub_download
        from moshi.models import loaders

        path = hf_hub_download(loaders.DEFAULT_REPO, loaders.MIMI_NAME)
        return loaders.get_mimi(path, device="cpu"), hub_source(loaders.DEFAULT_REPO, loaders.MIMI_NAME, path)

    def _load_local(self, path: Path) -> torch.nn.Module:
        from moshi.models import loaders

        if not path.is_file():
            raise MissingFileError(f"{self.name}: {path} is not a file; {self._local_format()}")
        return loaders.get_mimi(path, device="cpu")

    def _local_format(self) -> str:
        return ("a local Mimi checkpoint is one file: a .safetensors state dict as kyutai ships it "
                "(tokenizer-e351c8d8-checkpoint125.safetensors) or a torch file with a 'model' state dict")

    def _build_random(self) -> torch.nn.Module:
        from moshi.models import loaders

        return loaders.get_mimi(None, device="cpu")

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """Every level's codebook <- Gaussian fitted to that level's residual on ``probe`` (both RVQ halves)."""
        emb = model._encode_to_unquantized_latent(probe)
        for rvq in (model.quantizer.rvq_first, model.quantizer.rvq_rest):
            residual = rvq.input_proj(emb)
            for layer in rvq.vq.layers:
                book = layer._codebook
                vectors = layer.project_in(residual.transpose(1, 2)).reshape(-1, book.dim)
                book.embedding_sum.copy_(gaussian_codebook(vectors, book.codebook_size, generator))
                book.cluster_usage.fill_(1.0)
                book._initialized.fill_(1.0)
                book.register_buffer("_embedding", None, persistent=False)
                residual = residual - layer.decode(layer.encode(residual))

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        codes = self.model.encode(x)  # [B, K, frames]; causal: zeros after an utterance cannot change its frames
        return [codes[:, k] for k in range(self.num_codebooks)]

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        codes = torch.as_tensor(np.stack(levels), device=self.device)[None]  # [1, K, frames]
        return self.model.decode(codes)[0, 0].float().cpu().numpy()

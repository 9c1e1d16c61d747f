"""``speechtokenizer_<n>q``: SpeechTokenizer (fnlp, PyPI ``speechtokenizer``), 16 kHz, 50 frames/s, 8 RVQ levels of
1024 whose first is distilled from HuBERT (semantic), the rest acoustic; the first ``n`` levels, frame-major with
per-level offsets (EOS = 1024 n).

Weights: ``fnlp/SpeechTokenizer``'s ``speechtokenizer_hubert_avg/{config.json, SpeechTokenizer.pt}`` through
``SpeechTokenizer.load_from_checkpoint`` (the upstream loader), or a local folder holding those two files. Its
encoder has a bidirectional LSTM: every frame sees the whole input, so only equal lengths share a batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiobits.bins import Codebook
from audiobits.representations.codec import CodecRepresentation, FrameMajorLevels, gaussian_codebook, hub_source
from audiobits.errors import ConfigValueError, MissingFileError

REPO = "fnlp/SpeechTokenizer"
FOLDER = "speechtokenizer_hubert_avg"
CONFIG, CHECKPOINT = "config.json", "SpeechTokenizer.pt"
CODEBOOK_SIZE = 1024
# speechtokenizer_hubert_avg/config.json: the architecture (training keys left out)
ARCHITECTURE = {"n_filters": 64, "strides": [8, 5, 4, 2], "dimension": 1024, "semantic_dimension": 768,
                "bidirectional": True, "dilation_base": 2, "residual_kernel_size": 3, "n_residual_layers": 1,
                "lstm_layers": 2, "activation": "ELU", "codebook_size": CODEBOOK_SIZE, "n_q": 8,
                "sample_rate": 16000}


class SpeechTokenizerRepresentation(FrameMajorLevels, CodecRepresentation):
    """SpeechTokenizer's first ``n_q`` RVQ levels (1: the semantic level alone)."""

    sample_rate = 16000
    hop = 320
    package = "speechtokenizer"
    encoder_name = "speechtokenizer_hubert_avg"
    flattening = "frame_major_level_offsets"

    def __init__(self, n_q: int = 8, weights: str = "pretrained", device: str = "cpu", seed: int = 0) -> None:
        if not 1 <= n_q <= ARCHITECTURE["n_q"]:
            raise ConfigValueError(f"SpeechTokenizer has {ARCHITECTURE['n_q']} levels: n_q must be in [1, "
                                   f"8], got {n_q}")
        self.levels, self.name = n_q, f"speechtokenizer_{n_q}q"
        self.codebooks = [Codebook(CODEBOOK_SIZE, self.sample_rate / self.hop)] * n_q
        self.frames_per_level = (1,) * n_q
        self.tokens_per_frame = n_q
        self.eos_id = CODEBOOK_SIZE * n_q
        self.vocab_size = self.eos_id + 1
        super().__init__(weights, device, seed)

    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import hf_hub_download

        config = hf_hub_download(REPO, f"{FOLDER}/{CONFIG}")
        checkpoint = hf_hub_download(REPO, f"{FOLDER}/{CHECKPOINT}")
        return self._load(Path(config), Path(checkpoint)), hub_source(REPO, f"{FOLDER}/{CHECKPOINT}", checkpoint)

    def _load_local(self, path: Path) -> torch.nn.Module:
        if not ((path / CONFIG).is_file() and (path / CHECKPOINT).is_file()):
            raise MissingFileError(f"{self.name}: {path} lacks {CONFIG} or {CHECKPOINT}; {self._local_format()}")
        return self._load(path / CONFIG, path / CHECKPOINT)

    def _load(self, config: Path, checkpoint: Path) -> torch.nn.Module:
        from speechtokenizer import SpeechTokenizer

        model = SpeechTokenizer.load_from_checkpoint(str(config), str(checkpoint))
        if (model.sample_rate, int(model.downsample_rate), model.n_q) != (self.sample_rate, self.hop, 8):
            raise ConfigValueError(f"{self.name}: {checkpoint} is a {model.sample_rate} Hz model with hop "
                                   f"{model.downsample_rate} and {model.n_q} levels, not {REPO}'s 16 kHz, 320, 8")
        return model

    def _local_format(self) -> str:
        return f"a local SpeechTokenizer is a folder with {CONFIG} and {CHECKPOINT}, as {REPO}/{FOLDER} ships them"

    def _build_random(self) -> torch.nn.Module:
        from speechtokenizer import SpeechTokenizer

        return SpeechTokenizer(self._random_config())

    def _random_config(self) -> dict:
        """The upstream checkpoint's architecture (its config.json without the training keys)."""
        return dict(ARCHITECTURE)

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """Each level's codebook <- Gaussian fitted to that level's residual on ``probe`` (Euclidean RVQ)."""
        residual = model.encoder(probe)
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            vectors = layer.project_in(residual.transpose(1, 2)).reshape(-1, book.embed.shape[1])
            book.embed.copy_(gaussian_codebook(vectors, book.codebook_size, generator))
            book.embed_avg.copy_(book.embed)
            book.inited.fill_(1.0)
            residual = residual - layer.decode(layer.encode(residual))

    def batch_key(self, num_samples: int) -> int:
        return num_samples  # a bidirectional LSTM sees the whole input: only equal lengths share a batch

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        codes = self.model.encode(x, n_q=self.levels)  # [levels, B, frames]
        return [codes[k] for k in range(self.levels)]

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        codes = torch.as_tensor(np.stack(levels), device=self.device)[:, None]  # [levels, 1, frames]
        return self.model.decode(codes).reshape(-1).float().cpu().numpy()

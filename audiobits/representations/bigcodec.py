"""``bigcodec``: BigCodec (Xin et al. 2024, arXiv 2409.05377), 16 kHz, one codebook of 8192 at 80 frames/s (hop
200): 1040 bit/s nominal; the ids are the codes, EOS 8192.

Weights: the authors' ``bigcodec.pt`` from ``Alethia/BigCodec`` (``{"CodecEnc": encoder state, "generator":
decoder state}``), loaded strictly into PyPI ``bigcodec``'s ``CodecEncoder()`` and ``CodecDecoder()`` exactly as
the authors' inference.py loads it into theirs, or a local copy of that file. The package's encoder, decoder,
quantizer and blocks are the authors' ``vq/`` code with the same defaults (159.4 M parameters); the one
difference, new-style weight norm, is bridged by torch on load (the file's ``weight_g``/``weight_v`` become the
parametrization's ``original0/1``). Not the package's ``BigCodec.from_pretrained`` (``intexcp/bigcodec``): a
third party's re-upload in the hub mixin's layout, which the authors do not point to; their file is the one
their README links and their inference.py loads, so it is what runs load and record.

Encoding follows inference.py: ``200 - n % 200`` zeros are appended (a whole hop when ``n`` is a multiple) and
the codes are the decoder's quantizer indices; the partial last frame is then dropped (the frames rule in
codec.py). The encoder's convolutions are centred, so only equal padded lengths share a batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from audiobits.bins import Codebook
from audiobits.representations.codec import CodecRepresentation, FrameMajorLevels, HubFileWeights, gaussian_codebook
from audiobits.errors import ConfigValueError

REPO, CHECKPOINT = "Alethia/BigCodec", "bigcodec.pt"
CODEBOOK_SIZE = 8192
PARTS = {"encoder": "CodecEnc", "decoder": "generator"}  # model part -> its state dict's key in bigcodec.pt


class BigCodecRepresentation(HubFileWeights, FrameMajorLevels, CodecRepresentation):
    """BigCodec's single 8192-code stream, one id per 12.5 ms frame."""

    name = "bigcodec"
    hub_file = (REPO, CHECKPOINT)
    sample_rate = 16000
    hop = 200
    frames_per_level = (1,)
    package = "bigcodec"
    encoder_name = "bigcodec"
    flattening = "frame_major_level_offsets"
    codebooks = [Codebook(CODEBOOK_SIZE, 80.0)]
    tokens_per_frame = 1
    eos_id = CODEBOOK_SIZE
    vocab_size = CODEBOOK_SIZE + 1

    def _load(self, checkpoint: Path) -> torch.nn.Module:
        """inference.py's loading: each part's state dict from the checkpoint, strictly."""
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not set(PARTS.values()) <= set(state):
            raise ConfigValueError(f"{self.name}: {checkpoint} lacks the keys {sorted(PARTS.values())}; "
                                   f"{self._local_format()}")
        model = self._build_random()
        for part, key in PARTS.items():
            try:
                model[part].load_state_dict(state[key])
            except RuntimeError as error:
                raise ConfigValueError(f"{self.name}: {checkpoint}'s {key!r} is not BigCodec's {part} ({REPO}'s "
                                       f"architecture): {error}") from error
        return model

    def _local_format(self) -> str:
        return (f"a local BigCodec checkpoint is {REPO}'s {CHECKPOINT} (a torch file with the state dicts "
                f"{PARTS['encoder']!r} and {PARTS['decoder']!r}), or a folder holding it")

    def _build_random(self) -> torch.nn.Module:
        return torch.nn.ModuleDict(dict(zip(PARTS, self._architecture())))

    def _architecture(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """Untrained encoder and decoder as inference.py builds them: the module defaults are bigcodec.pt's shape."""
        from bigcodec import CodecDecoder, CodecEncoder

        return CodecEncoder(), CodecDecoder()

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """The codebook <- Gaussian fitted to the L2-normalized projected latents of ``probe`` (cosine search)."""
        (vq,) = model["decoder"].quantizer.layers
        latents = vq.in_proj(model["encoder"](probe).transpose(1, 2)).reshape(-1, vq.codebook_dim)
        vq.codebook.weight.copy_(gaussian_codebook(F.normalize(latents, dim=1), vq.codebook_size, generator))

    def batch_key(self, num_samples: int) -> int:
        return num_samples + self.hop - num_samples % self.hop  # the length inference.py pads to

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.pad(x, (0, self.batch_key(x.shape[-1]) - x.shape[-1]))  # members share a batch_key: padded alike
        _, codes, _ = self.model["decoder"](self.model["encoder"](x), vq=True)  # codes [levels = 1, B, frames]
        return [codes[0]]

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        decoder = self.model["decoder"]
        codes = torch.as_tensor(levels[0], device=self.device)[None, :, None]  # [1, frames, levels = 1]
        return decoder(decoder.vq2emb(codes).transpose(1, 2), vq=False).reshape(-1).float().cpu().numpy()

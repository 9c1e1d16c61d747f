"""``s3tokenizer_v2``: CosyVoice 2's supervised semantic speech tokenizer (S3Tokenizer v2, PyPI ``s3tokenizer``),
16 kHz, 25 frames/s (hop 640), one FSQ stream of 3^8 = 6561 codes: 25 log2(6561) = 317.0 bit/s nominal; the ids
are the codes, EOS 6561. Encode-only: upstream ships no decoder for these tokens (CosyVoice's flow model and
vocoder turn them back into speech), so there is no decoded quality, only bits.

Weights: ``speech_tokenizer_v2.onnx`` from ``FunAudioLLM/CosyVoice2-0.5B`` (the hub copy of the file upstream's
``load_model("speech_tokenizer_v2_25hz")`` fetches from ModelScope, which is not reachable from here), or a local
copy, loaded as ``load_model`` loads it: ``S3TokenizerV2(name)`` then ``init_from_onnx`` (upstream's
``onnx2torch`` reads the ONNX graph's initializers by node name, strict ``load_state_dict``).

Encoding is upstream's: per utterance ``log_mel_spectrogram`` (128 mels, hop 160), ``padding``, ``quantize``
(utterances over 30 s in upstream's overlapping 30 s windows, merged). It gives ``ceil((n // 160) / 4)`` codes;
the frames rule keeps ``n // 640``. The encoder attends over the whole input, so only equal lengths share a batch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from audiobits.bins import Codebook
from audiobits.errors import ConfigValueError
from audiobits.representations.codec import CodecRepresentation, FrameMajorLevels, HubFileWeights

REPO, CHECKPOINT = "FunAudioLLM/CosyVoice2-0.5B", "speech_tokenizer_v2.onnx"
MODEL = "speech_tokenizer_v2_25hz"  # upstream's name for it (its S3TokenizerV2 checks the name says v2)
CODEBOOK_SIZE = 3 ** 8


class S3TokenizerRepresentation(HubFileWeights, FrameMajorLevels, CodecRepresentation):
    """S3Tokenizer v2's single 6561-code FSQ stream, one id per 40 ms frame; encode-only."""

    name = "s3tokenizer_v2"
    hub_file = (REPO, CHECKPOINT)
    sample_rate = 16000
    hop = 640
    frames_per_level = (1,)
    package = "s3tokenizer"
    encoder_name = MODEL
    flattening = "frame_major_level_offsets"
    codebooks = [Codebook(CODEBOOK_SIZE, 25.0)]
    tokens_per_frame = 1
    eos_id = CODEBOOK_SIZE
    vocab_size = CODEBOOK_SIZE + 1
    decode = _decode_levels = None  # encode-only (upstream's FSQCodebook.decode raises NotImplementedError)

    def _load(self, onnx_file: Path) -> torch.nn.Module:
        """upstream load_model's steps: the architecture, then init_from_onnx (onnx2torch + strict load)."""
        model = self._build_random()
        try:
            model.init_from_onnx(str(onnx_file))
        except Exception as error:  # onnx's DecodeError, the converter's KeyError/AttributeError, torch's RuntimeError
            raise ConfigValueError(f"{self.name}: {onnx_file} is not S3Tokenizer v2's ONNX model "
                                   f"({type(error).__name__}: {str(error)[:200]}); {self._local_format()}") from error
        return model

    def _local_format(self) -> str:
        return (f"a local S3Tokenizer v2 is {REPO}'s {CHECKPOINT} (the ONNX file CosyVoice 2 ships), or a folder "
                "holding it")

    def _build_random(self) -> torch.nn.Module:
        from s3tokenizer.model_v2 import S3TokenizerV2

        return S3TokenizerV2(MODEL, self._config())

    def _config(self):
        """Upstream's ModelConfig defaults: the released tokenizer's shape (6 blocks of 1280, 20 heads)."""
        from s3tokenizer.model_v2 import ModelConfig

        return ModelConfig()

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """FSQ has no codebook: standardize the 8 projected dims on ``probe`` so each rounds to -1/0/1 often."""
        import s3tokenizer

        mel, lengths = s3tokenizer.padding([s3tokenizer.log_mel_spectrogram(probe[0, 0])])
        hidden, _ = model.encoder(mel, lengths)
        down = model.quantizer._codebook.project_down
        projected = down(hidden.reshape(-1, hidden.shape[-1]))
        mean, std = projected.mean(0), projected.std(0).clamp(min=1e-6)
        down.weight.div_(std[:, None])
        down.bias.sub_(mean).div_(std)

    def batch_key(self, num_samples: int) -> int:
        return num_samples  # the encoder attends over the whole input: only equal lengths share a batch

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        import s3tokenizer

        mel, lengths = s3tokenizer.padding([s3tokenizer.log_mel_spectrogram(wav) for wav in x[:, 0]])
        codes, _ = self.model.quantize(mel.to(self.device), lengths.to(self.device))  # [B, ceil(mel frames / 4)]
        return [codes]

"""``spark_bicodec``: Spark-TTS's BiCodec (PyPI ``spark-tts-lib``), 16 kHz: per utterance 32 global tokens (FSQ,
4^6 = 4096 codes, from a 6 s reference clip of the utterance) then 50 Hz semantic tokens (one VQ codebook of 8192,
from wav2vec2-large-xlsr-53's hidden states 11, 14 and 16). The decoder needs both, so the stream carries both:

    ids = [g_0 … g_31, 4096 + s_0, 4096 + s_1, …]      global ids 0–4095, semantic ids 4096–12287, EOS 12288

Levels (meta.json ``codebooks``): the global prefix is ``Codebook(4096, 0.0)`` — it has no frame rate (32 tokens
per utterance, whatever its length), so it adds nothing to the nominal bitrate — and the semantic stream is
``Codebook(8192, 50.0)``: nominal 50 log2(8192) = 650 bit/s, plus 32 × 12 = 384 bits per utterance. The measured
bits/s (Σ bits ÷ Σ seconds) counts both by construction.

Weights: ``SparkAudio/Spark-TTS-0.5B`` (or a local copy) as upstream's ``BiCodecTokenizer`` reads it: the top
``config.yaml`` (sample rate, reference clip, volume normalization), ``BiCodec/config.yaml`` +
``BiCodec/model.safetensors``, and ``wav2vec2-large-xlsr-53/`` (transformers' files). Upstream loads the
checkpoint with ``strict=False`` and only prints missing keys; here a missing or unexpected key is an error.

Frames: wav2vec2 gives ``(n - 400) // 320 + 1`` frames for ``n`` samples (25 ms windows every 20 ms), one semantic
token each; the decoder turns each into 320 samples. wav2vec2 and the reference clip see the whole utterance, so
only equal lengths share a batch. Upstream normalizes each utterance's volume before encoding
(``volume_normalize``), so decoded audio has that level, not the input's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiobits.bins import Codebook
from audiobits.errors import ConfigValueError, MissingFileError
from audiobits.representations.codec import CodecRepresentation, gaussian_codebook

REPO = "SparkAudio/Spark-TTS-0.5B"
FILES = ("config.yaml", "BiCodec/config.yaml", "BiCodec/model.safetensors", "wav2vec2-large-xlsr-53/*")
WAV2VEC2 = "wav2vec2-large-xlsr-53"
GLOBAL_TOKENS, GLOBAL_SIZE, SEMANTIC_SIZE = 32, 4 ** 6, 8192
FEATURE_LAYERS = (11, 14, 16)  # wav2vec2 hidden states upstream averages
WINDOW = 400  # wav2vec2's receptive field in samples (its frames hop 320)

# The released files' settings (Spark-TTS-0.5B): the top config.yaml, BiCodec/config.yaml and wav2vec2-large-xlsr-53's
# config.json, used to build the architecture for weights="random".
RELEASED_TOP = {"sample_rate": 16000, "ref_segment_duration": 6, "latent_hop_length": 320, "volume_normalize": True}
RELEASED_BICODEC = {
    "mel_params": {"sample_rate": 16000, "n_fft": 1024, "win_length": 640, "hop_length": 320, "mel_fmin": 10,
                   "mel_fmax": None, "num_mels": 128},
    "encoder": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 12,
                "out_channels": 1024, "sample_ratios": [1, 1]},
    "decoder": {"input_channel": 1024, "channels": 1536, "rates": [8, 5, 4, 2], "kernel_sizes": [16, 11, 8, 4]},
    "quantizer": {"input_dim": 1024, "codebook_size": 8192, "codebook_dim": 8, "commitment": 0.25,
                  "codebook_loss_weight": 2.0, "use_l2_normlize": True, "threshold_ema_dead_code": 0.2},
    "speaker_encoder": {"input_dim": 128, "out_dim": 1024, "latent_dim": 128, "token_num": 32,
                        "fsq_levels": [4, 4, 4, 4, 4, 4], "fsq_num_quantizers": 1},
    "prenet": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 12,
               "out_channels": 1024, "condition_dim": 1024, "sample_ratios": [1, 1], "use_tanh_at_final": False},
    "postnet": {"input_channels": 1024, "vocos_dim": 384, "vocos_intermediate_dim": 2048, "vocos_num_layers": 6,
                "out_channels": 1024, "use_tanh_at_final": False},
}
RELEASED_WAV2VEC2 = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                     "intermediate_size": 4096, "feat_extract_norm": "layer", "do_stable_layer_norm": True,
                     "conv_bias": True, "feat_proj_dropout": 0.0, "mask_time_prob": 0.0}


class SparkBiCodecRepresentation(CodecRepresentation):
    """BiCodec's 32 global tokens then its 50 Hz semantic tokens, one id space (globals first)."""

    name = "spark_bicodec"
    sample_rate = 16000
    hop = 320
    frames_per_level = (0, 1)
    codes_per_utterance = (GLOBAL_TOKENS, 0)
    package = "spark-tts-lib"
    encoder_name = f"{REPO}/BiCodec"
    flattening = "global_prefix_then_semantic"
    codebooks = [Codebook(GLOBAL_SIZE, 0.0), Codebook(SEMANTIC_SIZE, 50.0)]
    tokens_per_frame = 1
    eos_id = GLOBAL_SIZE + SEMANTIC_SIZE
    vocab_size = eos_id + 1

    # -- weights ------------------------------------------------------------------------------------------
    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(REPO, allow_patterns=list(FILES)))
        return self._load_local(folder), f"{REPO}@{folder.name}"

    def _local_format(self) -> str:
        return (f"a local BiCodec is a copy of {REPO}'s config.yaml, BiCodec/ (config.yaml, model.safetensors) and "
                f"{WAV2VEC2}/ (transformers' files)")

    def _load_local(self, path: Path) -> torch.nn.Module:
        """upstream BiCodecTokenizer's files, read as it reads them, but every checkpoint key must match."""
        from spark_tts_lib.utils.file import load_config
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        for name in ("config.yaml", "BiCodec/config.yaml", "BiCodec/model.safetensors", WAV2VEC2):
            if not (path / name).exists():
                raise MissingFileError(f"{self.name}: {path / name} not found; {self._local_format()}")
        self.settings = dict(load_config(path / "config.yaml"))
        bicodec = self._bicodec(dict(load_config(path / "BiCodec/config.yaml")["audio_tokenizer"]))
        self._load_checkpoint(bicodec, path / "BiCodec/model.safetensors")
        self.processor = Wav2Vec2FeatureExtractor.from_pretrained(path / WAV2VEC2)
        return torch.nn.ModuleDict({"bicodec": bicodec, "wav2vec2": Wav2Vec2Model.from_pretrained(path / WAV2VEC2)})

    def _load_checkpoint(self, bicodec: torch.nn.Module, file: Path) -> None:
        """upstream load_from_checkpoint's load (safetensors, then weight norm removed), strict about keys."""
        from safetensors.torch import load_file

        try:
            state = load_file(file)
        except Exception as error:  # safetensors' SafetensorError, an OSError
            raise ConfigValueError(f"{self.name}: {file} is not a safetensors checkpoint ({error}); "
                                   f"{self._local_format()}") from error
        missing, unexpected = bicodec.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigValueError(f"{self.name}: {file} does not fit BiCodec/config.yaml: {len(missing)} missing "
                                   f"keys (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]}); "
                                   f"{self._local_format()}")
        bicodec.remove_weight_norm()

    def _build_random(self) -> torch.nn.Module:
        from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

        top, bicodec, wav2vec2 = self._configs()
        self.settings = dict(top)
        self.processor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
        model = self._bicodec(bicodec)
        model.remove_weight_norm()
        return torch.nn.ModuleDict({"bicodec": model, "wav2vec2": Wav2Vec2Model(Wav2Vec2Config(**wav2vec2))})

    def _configs(self) -> tuple[dict, dict, dict]:
        """(top config.yaml, BiCodec/config.yaml's audio_tokenizer, wav2vec2 config.json) of the released model."""
        return RELEASED_TOP, RELEASED_BICODEC, RELEASED_WAV2VEC2

    @staticmethod
    def _bicodec(config: dict[str, Any]) -> torch.nn.Module:
        """upstream load_from_checkpoint's architecture from BiCodec/config.yaml's ``audio_tokenizer`` section."""
        from spark_tts_lib.models.bicodec import BiCodec
        from spark_tts_lib.modules.encoder_decoder.feat_decoder import Decoder
        from spark_tts_lib.modules.encoder_decoder.feat_encoder import Encoder
        from spark_tts_lib.modules.encoder_decoder.wave_generator import WaveGenerator
        from spark_tts_lib.modules.speaker.speaker_encoder import SpeakerEncoder
        from spark_tts_lib.modules.vq.factorized_vector_quantize import FactorizedVectorQuantize

        return BiCodec(mel_params=config["mel_params"], encoder=Encoder(**config["encoder"]),
                       decoder=WaveGenerator(**config["decoder"]),
                       quantizer=FactorizedVectorQuantize(**config["quantizer"]),
                       speaker_encoder=SpeakerEncoder(**config["speaker_encoder"]),
                       prenet=Decoder(**config["prenet"]), postnet=Decoder(**config["postnet"]))

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """The semantic codebook drawn where the probe's projected latents lie; the FSQ input standardized on the
        probe (to 1.5 standard deviations) so its 6 dims spread over their 4 levels instead of one."""
        quantizer = model["bicodec"].quantizer
        features = self._features(model, probe[:, 0])
        latents = quantizer.in_project(model["bicodec"].encoder(features.transpose(1, 2)))
        quantizer.codebook.weight.copy_(gaussian_codebook(latents.transpose(1, 2).reshape(-1, latents.shape[1]),
                                                          SEMANTIC_SIZE, generator))
        speaker = model["bicodec"].speaker_encoder
        _, hidden = speaker.speaker_encoder(self._mel(model, probe[:, 0]).transpose(1, 2), True)
        latent = speaker.perceiver_sampler(hidden.transpose(1, 2)).transpose(1, 2)  # [1, latent_dim, 32]
        project = speaker.quantizer.project_in  # latent_dim -> the 6 FSQ dims
        projected = project(latent.transpose(1, 2).reshape(-1, latent.shape[1]))
        mean, std = projected.mean(0), projected.std(0).clamp(min=1e-6)
        project.weight.div_(std[:, None] / 1.5)
        project.bias.sub_(mean).div_(std / 1.5)

    # -- encoding -----------------------------------------------------------------------------------------
    def num_frames(self, num_samples: int) -> int:
        """wav2vec2's frames (one semantic token each): 400-sample windows every 320 samples."""
        return max(0, (num_samples - WINDOW) // self.hop + 1)

    def batch_key(self, num_samples: int) -> int:
        return num_samples  # wav2vec2 and the reference clip see the whole utterance: equal lengths only

    def _features(self, model: torch.nn.Module, wavs: torch.Tensor) -> torch.Tensor:
        """upstream extract_wav2vec2_features: the mean of wav2vec2's hidden states 11, 14, 16, [B, frames, D]."""
        inputs = self.processor(list(wavs.cpu().numpy()), sampling_rate=self.sample_rate, return_tensors="pt",
                                padding=True).input_values
        hidden = model["wav2vec2"](inputs.to(wavs.device), output_hidden_states=True).hidden_states
        return sum(hidden[layer] for layer in FEATURE_LAYERS) / len(FEATURE_LAYERS)

    def _mel(self, model: torch.nn.Module, wavs: torch.Tensor) -> torch.Tensor:
        """BiCodec's mel spectrogram of each utterance's reference clip (upstream get_ref_clip), [B, mels, T]."""
        length = int(self.sample_rate * self.settings["ref_segment_duration"]) // self.hop * self.hop
        reference = wavs.repeat(1, length // wavs.shape[1] + 1)[:, :length]
        return model["bicodec"].mel_transformer(reference[:, None]).squeeze(1)

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        from spark_tts_lib.utils.audio import audio_volume_normalize

        wavs = x[:, 0]
        if self.settings.get("volume_normalize"):
            wavs = torch.stack([torch.from_numpy(audio_volume_normalize(w.cpu().double().numpy())) for w in wavs]).to(x)
        bicodec = self.model["bicodec"]
        semantic = bicodec.quantizer.tokenize(bicodec.encoder(self._features(self.model, wavs).transpose(1, 2)))
        global_ = bicodec.speaker_encoder.tokenize(self._mel(self.model, wavs).transpose(1, 2))
        return [global_.reshape(len(wavs), GLOBAL_TOKENS), semantic]

    def flatten(self, levels: list[np.ndarray]) -> np.ndarray:
        global_, semantic = levels
        return np.concatenate([global_, semantic + GLOBAL_SIZE])

    def unflatten(self, ids: np.ndarray) -> list[np.ndarray]:
        ids = np.asarray(ids)
        global_, semantic = ids[:GLOBAL_TOKENS], ids[GLOBAL_TOKENS:] - GLOBAL_SIZE
        if len(global_) < GLOBAL_TOKENS or (global_ < 0).any() or (global_ >= GLOBAL_SIZE).any() or (
                semantic < 0).any() or (semantic >= SEMANTIC_SIZE).any():
            raise ConfigValueError(f"{self.name}: ids are not {GLOBAL_TOKENS} global ids (0–{GLOBAL_SIZE - 1}) then "
                                   f"semantic ids ({GLOBAL_SIZE}–{self.eos_id - 1})")
        return [global_, semantic]

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        """upstream BiCodecTokenizer.detokenize: semantic + global tokens -> 16 kHz audio."""
        global_, semantic = (torch.as_tensor(level, device=self.device)[None] for level in levels)
        audio = self.model["bicodec"].detokenize(semantic, global_[:, None])
        return audio.reshape(-1).float().cpu().numpy()

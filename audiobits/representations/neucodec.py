"""``neucodec``: NeuCodec FSQ codes (16 kHz input, 50 frames/s, one codebook of 65536; EOS 65536 -> uint32).

NeuCodec reads w2v-bert-2.0's hidden state 16 (plus its own acoustic encoder); the semantic model is cut to
those 16 layers after loading (the output is identical; upstream computes all 24). ``weights="precomputed"``
loads no model and takes ``Utterance.codes`` as they are (the Emilia-YODAS NeuCodec corpus ships them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from audiobits.bins import Codebook
from audiobits.representations.base import Utterance, UtteranceError
from audiobits.representations.codec import CodecRepresentation, hub_source
from audiobits.errors import ConfigValueError, MissingFileError

REPO = "neuphonic/neucodec"
SEMANTIC_REPO = "facebook/w2v-bert-2.0"  # hard-coded in NeuCodec.__init__
SEMANTIC_LAYER = 16  # encode_code uses hidden_states[16]
CODEBOOK_SIZE = 65536
PRECOMPUTED = "precomputed"
IGNORED_KEYS = ("fc_post_s", "SemanticDecoder")  # what upstream's loader drops for neuphonic/neucodec
ENCODER_PARTS = ("CodecEnc.", "SemanticEncoder_module.", "fc_prior.", "generator.quantizer.")


class NeuCodecRepresentation(CodecRepresentation):
    """NeuCodec's 50 Hz FSQ codes, one id per frame."""

    name = "neucodec"
    sample_rate = 16000
    hop = 320
    frames_per_level = (1,)
    package = "neucodec"
    encoder_name = "neucodec"
    codebooks = [Codebook(CODEBOOK_SIZE, 50.0)]
    vocab_size = CODEBOOK_SIZE + 1
    eos_id = CODEBOOK_SIZE
    flattening = "fsq"
    tokens_per_frame = 1

    def __init__(self, weights: str = "pretrained", device: str = "cpu", seed: int = 0) -> None:
        if str(weights) == PRECOMPUTED:
            self.weights, self.seed, self.checkpoint, self.model = PRECOMPUTED, seed, None, None
            self.device = torch.device("cpu")
            return
        super().__init__(weights, device, seed)
        layers = self.model.semantic_model.encoder.layers
        if len(layers) < SEMANTIC_LAYER:
            raise ConfigValueError(f"neucodec: the semantic model has {len(layers)} layers; NeuCodec reads layer "
                                   f"{SEMANTIC_LAYER} of {SEMANTIC_REPO}")
        self.model.semantic_model.encoder.layers = layers[:SEMANTIC_LAYER]

    # -- weights -------------------------------------------------------------------------------------------
    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import try_to_load_from_cache
        from neucodec import NeuCodec

        model = NeuCodec.from_pretrained(REPO)
        path = try_to_load_from_cache(REPO, "pytorch_model.bin")
        _check_covers_encoder(model, path)
        return model, hub_source(REPO, "pytorch_model.bin", path)

    def _load_local(self, path: Path) -> torch.nn.Module:
        from neucodec import NeuCodec

        file = path / "pytorch_model.bin" if path.is_dir() else path
        if not file.is_file():
            raise MissingFileError(f"neucodec: {file} not found; {self._local_format()}")
        model = NeuCodec(24_000, 480)  # as upstream's loader builds it (w2v-bert-2.0 comes from the hub cache)
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v for k, v in state.items() if not any(i in k for i in IGNORED_KEYS)}, strict=False)
        _check_covers_encoder(model, file)
        return model

    def _local_format(self) -> str:
        return (f"a local NeuCodec checkpoint is {REPO}'s pytorch_model.bin (or a folder holding it); "
                f"{SEMANTIC_REPO} must still be in the HF hub cache")

    def _build_random(self) -> torch.nn.Module:
        return _random_neucodec()

    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        fit_fsq_projection(model, probe)

    # -- encoding ------------------------------------------------------------------------------------------
    def batch_key(self, num_samples: int) -> int:
        return num_samples + self.hop - num_samples % self.hop  # the length NeuCodec._prepare_audio pads to

    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.model.encode_code(x)[:, 0]]  # members share a batch_key: upstream pads them alike

    def check(self, utterance: Utterance) -> None:
        if self.weights != PRECOMPUTED:
            return super().check(utterance)
        if utterance.codes is None:
            raise UtteranceError(utterance.id, "weights='precomputed' takes Utterance.codes, but it has none")
        codes = np.asarray(utterance.codes)
        if codes.ndim != 1 or codes.size == 0 or not np.issubdtype(codes.dtype, np.integer):
            raise UtteranceError(utterance.id, f"codes must be a non-empty 1-D int array, got {codes.dtype} "
                                               f"{codes.shape}")
        if codes.min() < 0 or codes.max() >= CODEBOOK_SIZE:
            raise UtteranceError(utterance.id, f"codes must lie in [0, {CODEBOOK_SIZE}), got [{codes.min()}, "
                                               f"{codes.max()}]")
        expected = utterance.duration * self.frame_rate
        if abs(codes.size - expected) > 2:
            raise UtteranceError(utterance.id, f"{codes.size} codes for {utterance.duration:.3f} s, expected "
                                               f"~{expected:.0f} at 50 frames/s: wrong codec or wrong duration")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        if self.weights != PRECOMPUTED:
            return super().encode(batch)
        for utterance in batch:
            self.check(utterance)
        return [np.asarray(u.codes, dtype=np.int64) for u in batch]

    @property
    def decoded_sample_rate(self) -> int:
        return 24_000  # NeuCodec's decoder upsamples its 50 Hz codes to 24 kHz

    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        if self.model is None:
            raise ConfigValueError("neucodec: weights='precomputed' loads no model, so it cannot decode; build it with "
                                   "weights='pretrained', a local checkpoint or 'random'")
        codes = torch.as_tensor(levels[0], device=self.device)[None, None]  # [1, 1, frames]
        return self.model.decode_code(codes)[0, 0].float().cpu().numpy()

    def flatten(self, levels: list[np.ndarray]) -> np.ndarray:
        return np.asarray(levels[0], dtype=np.int64)

    def unflatten(self, ids: np.ndarray) -> list[np.ndarray]:
        return [np.asarray(ids)]


def fit_fsq_projection(model: torch.nn.Module, probe: torch.Tensor) -> None:
    """FSQ has fixed levels, not a codebook: standardize an untrained model's FSQ input projection on ``probe``
    [1, 1, T] (16 kHz) so its outputs spread over every level and codes are diverse."""
    project_in = model.generator.quantizer.project_in
    seen: list[torch.Tensor] = []
    handle = project_in.register_forward_hook(lambda m, i, out: seen.append(out.reshape(-1, out.shape[-1])))
    try:
        model.encode_code(probe)
    finally:
        handle.remove()
    mean, std = seen[0].mean(0), seen[0].std(0).clamp(min=1e-6)
    project_in.weight.div_(std[:, None])
    project_in.bias.sub_(mean).div_(std)


def _check_covers_encoder(model: torch.nn.Module, checkpoint: str | Path | None) -> None:
    """Upstream loads with strict=False: make sure every encoder parameter really came from ``checkpoint``."""
    if checkpoint is None or not Path(checkpoint).is_file():
        raise MissingFileError(f"neucodec: checkpoint {checkpoint} not found after loading")
    try:  # mmap: only the key names are needed, not another copy of the weights
        keys = set(torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True))
    except RuntimeError:  # a legacy (non-zip) torch file cannot be memory-mapped
        keys = set(torch.load(checkpoint, map_location="cpu", weights_only=True))
    missing = [k for k, _ in model.named_parameters() if k.startswith(ENCODER_PARTS) and k not in keys]
    if missing:
        raise ConfigValueError(f"neucodec: {checkpoint} lacks {len(missing)} encoder weights (e.g. "
                               f"{missing[:3]}); upstream "
                         "would silently leave them random. Use the checkpoint neucodec 0.0.6 expects.")


def _random_neucodec() -> torch.nn.Module:
    """NeuCodec with untrained weights and no hub: upstream's __init__, w2v-bert-2.0 built from its config."""
    from neucodec import NeuCodec
    from neucodec.codec_decoder_vocos import CodecDecoderVocos
    from neucodec.codec_encoder import CodecEncoder
    from neucodec.module import SemanticEncoder
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    class RandomNeuCodec(NeuCodec):
        def __init__(self) -> None:
            torch.nn.Module.__init__(self)
            self.sample_rate, self.hop_length = 24_000, 480
            # transformers' Wav2Vec2BertConfig defaults are w2v-bert-2.0's architecture; only 16 layers are read
            config = Wav2Vec2BertConfig(num_hidden_layers=SEMANTIC_LAYER, output_hidden_states=True)
            self.semantic_model = Wav2Vec2BertModel(config)
            self.feature_extractor = SeamlessM4TFeatureExtractor(padding_value=1.0)  # w2v-bert-2.0's preprocessor
            self.SemanticEncoder_module = SemanticEncoder(1024, 1024, 1024)
            self.CodecEnc = CodecEncoder()
            self.generator = CodecDecoderVocos(hop_length=self.hop_length)
            self.fc_prior = torch.nn.Linear(2048, 2048)
            self.fc_post_a = torch.nn.Linear(2048, 1024)

    return RandomNeuCodec()

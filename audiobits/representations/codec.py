"""What the neural-codec representations share: weights, resampling, batching, trimming, flattening.

Frames (the rule every codec follows, tested): an utterance of ``n`` samples at rate ``sr`` is resampled to the
codec's rate (torchaudio, ``n' = ceil(n * sample_rate / sr)`` samples) and gets ``num_frames(n') = n' // hop``
coarse frames — whole frames only, each covering ``hop`` samples of real audio; the partial last frame, which
the codecs fill with padding (Mimi pads to a multiple of 1920, SNAC to 2048, NeuCodec emits ``n' // 320``), is
dropped, so no padding frame is counted and tokens/s never exceeds the nominal rate. Utterances shorter than one
frame are refused (UtteranceError).

Batching: a batch is zero-padded to its longest utterance. Extra zeros cannot change a causal codec's earlier
frames (Mimi). Non-causal codecs (SNAC, NeuCodec) see past an utterance's end, so padding would change its last
frames: they encode together only utterances whose upstream-padded inputs have the same length (``batch_key``;
sort a shard by duration to fill batches). Masking SNAC's convolutions beyond each utterance instead is exact in
arithmetic but not in floating point: kernels over a longer input round differently, and 0.3 % of codes flipped
at near-ties (measured with random codebooks), so it is not used. ``encode(batch)[i] == encode([batch[i]])[0]``,
tested.

Weights: ``"pretrained"`` (the upstream hub checkpoint through the upstream loader), a local path, or
``"random"`` (upstream architecture, seeded init, then every codebook refitted to the latents of a synthetic
probe signal so codes are diverse: untrained codebooks map everything to one code).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audiobits.representations.base import Representation, Utterance, UtteranceError
from audiobits.errors import ConfigValueError, MissingFileError


PROBE_FRAMES = 48  # coarse frames of synthetic signal the random-weights codebooks are fitted to


def probe_signal(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A deterministic speech-like test signal: gliding harmonic tones, noise bursts, pauses; float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 110 + 90 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 5) * t + rng.uniform(0, 2 * np.pi)), 0, None)
    noise = rng.standard_normal(n) * (syllables < 0.05) * 0.3
    x = voiced * syllables + noise
    x *= (np.sin(2 * np.pi * 0.4 * t) > -0.8)  # a pause now and then
    return (0.5 * x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def hub_source(repo_id: str, filename: str, path: str | Path) -> str:
    """``repo/file@revision`` of a file resolved from the HF hub cache (``.../snapshots/<revision>/<file>``)."""
    revision = Path(path).parents[len(Path(filename).parts) - 1].name
    return f"{repo_id}/{filename}@{revision}"


def gaussian_codebook(vectors: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` codes drawn from a diagonal Gaussian fitted to ``vectors`` [N, D]: random, but where latents lie."""
    mean, std = vectors.mean(0), vectors.std(0).clamp(min=1e-6)
    noise = torch.randn(size, vectors.shape[1], generator=generator, device="cpu").to(vectors)
    return mean + std * noise


class FramedRepresentation(Representation):
    """Audio cut into fixed frames of ``hop`` samples at ``sample_rate``, each giving codes on one or more levels
    (see the module docstring for the frames and batching rules). Neural codecs and Codec2 share it."""

    hop: int                          # samples per coarse frame at ``sample_rate``
    frames_per_level: tuple[int, ...]  # codes each level emits per coarse frame (SNAC (1, 2, 4); Mimi (1,) * K)
    codes_per_utterance: tuple[int, ...] = ()  # codes a level emits once per utterance (BiCodec's 32 global tokens)
    device = torch.device("cpu")

    @abstractmethod
    def _encode_padded(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Codes of a zero-padded batch ``x`` [B, 1, T] (one ``batch_key``): one [B, frames] int tensor per level,
        each row as the codec gives it for that utterance alone."""

    def batch_key(self, num_samples: int) -> int:
        """Utterances (lengths at the codec's rate) with equal keys may share a padded batch; 0: any may."""
        return 0

    @abstractmethod
    def flatten(self, levels: list[np.ndarray]) -> np.ndarray:
        """Per-level codes (level k holds ``frames * frames_per_level[k]`` codes) -> flat ids."""

    @abstractmethod
    def unflatten(self, ids: np.ndarray) -> list[np.ndarray]:
        """Flat ids (whole frames, no EOS) -> per-level codes; inverse of ``flatten``."""

    @abstractmethod
    def _decode_levels(self, levels: list[np.ndarray]) -> np.ndarray:
        """Per-level codes of one utterance -> its audio, float32 mono at ``decoded_sample_rate``."""

    # -- shared ------------------------------------------------------------------------------------------
    @property
    def decoded_sample_rate(self) -> int:
        """Rate of the audio ``decode`` returns (the codec's own rate unless its decoder says otherwise)."""
        return self.sample_rate

    def decode(self, ids: np.ndarray) -> np.ndarray:
        """The codec's reconstruction of one utterance from its flat ids (whole frames, no EOS): float32 mono at
        ``decoded_sample_rate``, exactly the frames' duration (``frames × hop`` samples at the codec's rate); a
        decoder that gives a few samples more or fewer (DAC 16 kHz: 8 fewer) is trimmed or zero-padded to it."""
        ids = np.asarray(ids, dtype=np.int64)
        with torch.inference_mode():
            audio = np.asarray(self._decode_levels(self.unflatten(ids)), np.float32)
        frames = (len(ids) - sum(self.codes_per_utterance)) // self.tokens_per_frame
        length = frames * self.hop * self.decoded_sample_rate // self.sample_rate
        return np.pad(audio[:length], (0, max(0, length - len(audio))))

    @property
    def frame_rate(self) -> float:
        """Coarse frames per second."""
        return self.sample_rate / self.hop

    def num_frames(self, num_samples: int) -> int:
        """Coarse frames an utterance of ``num_samples`` samples at the codec's rate gets: whole frames only."""
        return num_samples // self.hop

    def resampled_length(self, num_samples: int, sample_rate: int) -> int:
        """Samples an utterance of ``num_samples`` at ``sample_rate`` has after resampling to the codec's rate."""
        if sample_rate == self.sample_rate:
            return num_samples
        g = math.gcd(int(sample_rate), self.sample_rate)
        return -(-num_samples * (self.sample_rate // g) // (int(sample_rate) // g))

    def check(self, utterance: Utterance) -> None:
        audio, sr = utterance.audio, utterance.sample_rate
        lazy = audio is None and self.reads_blocks and utterance.source is not None  # blocks checked as read
        if audio is None and not lazy:
            raise UtteranceError(utterance.id, f"{self.name} needs audio, got none")
        if not lazy:
            audio = np.asarray(audio)
            if audio.ndim != 1:
                raise UtteranceError(utterance.id, f"audio must be 1-D mono, got shape {audio.shape}; mix it down "
                                                   "first")
            if not np.issubdtype(audio.dtype, np.floating):
                raise UtteranceError(utterance.id, f"audio must be float in [-1, 1], got {audio.dtype}; scale integer "
                                                   "PCM (e.g. int16 / 32768) first")
        if not sr or sr <= 0:
            raise UtteranceError(utterance.id, f"sample_rate must be a positive int, got {sr!r}")
        if not lazy and not np.isfinite(audio).all():
            raise UtteranceError(utterance.id, "audio holds NaN or inf samples")
        if self.num_frames(self.resampled_length(utterance.num_samples, sr)) < 1:
            raise UtteranceError(utterance.id, f"{len(audio) / sr:.4f} s is shorter than one {self.name} frame "
                                               f"({self.hop / self.sample_rate:.4f} s)")

    def _resample(self, utterance: Utterance) -> torch.Tensor:
        import torchaudio.functional as AF

        wav = torch.as_tensor(np.asarray(utterance.audio, dtype=np.float32), device=self.device)
        if utterance.sample_rate != self.sample_rate:
            wav = AF.resample(wav, int(utterance.sample_rate), self.sample_rate)
        return wav

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        """Flat ids per utterance (no EOS), ``num_frames`` whole frames each; equal to encoding one at a time."""
        for utterance in batch:
            self.check(utterance)
        out: list[np.ndarray] = [np.empty(0, np.int64)] * len(batch)
        with torch.inference_mode():
            wavs = [self._resample(u) for u in batch]
            groups: dict[int, list[int]] = defaultdict(list)
            for i, wav in enumerate(wavs):
                groups[self.batch_key(len(wav))].append(i)
            for members in groups.values():
                x = torch.nn.utils.rnn.pad_sequence([wavs[i] for i in members], batch_first=True)[:, None]
                levels = [lvl.cpu().numpy() for lvl in self._encode_padded(x)]
                for row, i in enumerate(members):
                    frames = self.num_frames(len(wavs[i]))
                    codes = []
                    once = self.codes_per_utterance or (0,) * len(levels)
                    for lvl, per_frame, fixed in zip(levels, self.frames_per_level, once):
                        if lvl.shape[1] < fixed + frames * per_frame:
                            raise RuntimeError(f"{self.name}: codec emitted {lvl.shape[1]} codes for utterance "
                                               f"{batch[i].id!r}, fewer than {fixed} + {frames} frames x {per_frame}")
                        codes.append(lvl[row, :fixed + frames * per_frame].astype(np.int64))
                    out[i] = self.flatten(codes)
        return out


class FrameMajorLevels:
    """Flattening shared by Mimi, EnCodec, DAC, X-Codec and Codec 2 (one code per level per frame): frame t gives
    ``[c0[t] + o0, c1[t] + o1, ...]`` with ``level_offsets`` o_k = Σ sizes of the levels before k, so each level owns
    its id range; EOS is Σ sizes."""

    codebooks: list
    name: str

    @property
    def level_offsets(self) -> np.ndarray:
        sizes = np.array([book.size for book in self.codebooks], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def flatten(self, levels: list[np.ndarray]) -> np.ndarray:
        return (np.stack(levels, axis=1) + self.level_offsets).reshape(-1)

    def unflatten(self, ids: np.ndarray) -> list[np.ndarray]:
        ids, k = np.asarray(ids), len(self.codebooks)
        if ids.size % k:
            raise ConfigValueError(f"{ids.size} ids are not whole {self.name} frames of {k}")
        codes = ids.reshape(-1, k) - self.level_offsets
        if codes.size and ((codes < 0).any() or (codes >= [book.size for book in self.codebooks]).any()):
            raise ConfigValueError(f"ids outside their level's range for {self.name} (offsets "
                                   f"{self.level_offsets.tolist()})")
        return [codes[:, level] for level in range(k)]


class HubFileWeights:
    """Weights that are one file of a hub repo (``hub_file``: repo, filename), or a local copy of it or a folder
    holding it; ``_load(file)`` reads it the upstream way. Put it before ``CodecRepresentation`` in the bases."""

    hub_file: tuple[str, str]
    name: str
    _local_format: Callable[[], str]  # CodecRepresentation's

    @abstractmethod
    def _load(self, file: Path) -> torch.nn.Module:
        """The model from the checkpoint file, read the upstream way."""

    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        from huggingface_hub import hf_hub_download

        repo, filename = self.hub_file
        path = hf_hub_download(repo, filename)
        return self._load(Path(path)), hub_source(repo, filename, path)

    def _load_local(self, path: Path) -> torch.nn.Module:
        file = path / self.hub_file[1] if path.is_dir() else path
        if not file.is_file():
            raise MissingFileError(f"{self.name}: {file} not found; {self._local_format()}")
        return self._load(file)


class CodecRepresentation(FramedRepresentation):
    """A neural codec: audio -> per-level codes -> one flat id stream (see the module docstring for the rules)."""

    encoder_name: str

    def __init__(self, weights: str = "pretrained", device: str = "cpu", seed: int = 0) -> None:
        self.weights = str(weights)
        self.seed = seed
        self.checkpoint: str | None = None  # what was loaded: repo/file@revision or a local path
        if self.weights == "pretrained":
            model, self.checkpoint = self._load_pretrained()
        elif self.weights == "random":
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = self._build_random()
            probe = torch.from_numpy(probe_signal(PROBE_FRAMES * self.hop / self.sample_rate, self.sample_rate,
                                                  seed))[None, None]
            with torch.inference_mode():
                self._fit_random_codebooks(model.eval(), probe, torch.Generator().manual_seed(seed))
        else:
            path = Path(self.weights).expanduser()
            if not path.exists():
                raise MissingFileError(f"{self.name}: weights={self.weights!r} is neither 'pretrained', 'random' "
                                       f"nor an existing path; {self._local_format()}")
            model, self.checkpoint = self._load_local(path.resolve()), str(path.resolve())
        self.model: torch.nn.Module | None = model.eval().requires_grad_(False)
        self.device = torch.device("cpu")
        self.to(device)

    # -- what each codec provides -------------------------------------------------------------------------
    @abstractmethod
    def _load_pretrained(self) -> tuple[torch.nn.Module, str]:
        """The upstream checkpoint through the upstream loader, and a string naming it (repo/file@revision)."""

    @abstractmethod
    def _load_local(self, path: Path) -> torch.nn.Module:
        """A checkpoint saved locally in the upstream format."""

    @abstractmethod
    def _local_format(self) -> str:
        """What a local ``weights`` path must hold (for error messages)."""

    @abstractmethod
    def _build_random(self) -> torch.nn.Module:
        """The upstream architecture with its default (untrained) init."""

    @abstractmethod
    def _fit_random_codebooks(self, model: torch.nn.Module, probe: torch.Tensor, generator: torch.Generator) -> None:
        """Refit an untrained model's codebooks to the latents of ``probe`` [1, 1, T] so codes are diverse."""

    def encoder_info(self) -> dict:
        info: dict[str, Any] = {"name": self.encoder_name, "package": self.package,
                                "version": self._package_version(), "weights": self.weights}
        if self.checkpoint:
            info["checkpoint"] = self.checkpoint
        if self.weights == "random":
            info["seed"] = self.seed
        return info

    def to(self, device: str | torch.device) -> CodecRepresentation:
        self.device = torch.device(device)
        if self.model is not None:
            self.model.to(self.device)
        return self

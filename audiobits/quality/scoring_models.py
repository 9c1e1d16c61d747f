"""Neural scoring models for decoded quality: a Whisper transcript of the original and of the decoded audio (for WER
against the corpus transcript) and WavLM speaker embeddings of both (for speaker similarity), loaded with
transformers' ``from_pretrained`` from a hub id or a local folder. A model whose weights cannot be loaded (not in
the hub cache with ``HF_HUB_OFFLINE=1``, no such folder) is left out and the reason recorded, never faked."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import uuid
from pathlib import Path

import numpy as np
import torch

from audiobits import metrics
from audiobits.files import read_json_lines, write_json_lines

WHISPER = "openai/whisper-large-v3-turbo"  # 809 M parameters: large-v3's encoder with 4 decoder layers
WAVLM_SV = "microsoft/wavlm-base-plus-sv"  # WavLM base+ with an x-vector head, trained for speaker verification
RATE = 16000  # both models take 16 kHz audio
WHISPER_SECONDS = 30.0  # Whisper hears one 30 s window: longer utterances get no transcript (WER undefined)
ASR_BATCH = 16  # Whisper pads every input to 30 s, so a batch costs the same per item whatever the lengths
UNSPACED = {"zh", "cmn", "yue", "ja", "th", "lo", "km", "my", "bo"}  # written without spaces between words: CER


WHISPER_CODES = {"cmn": "zh"}  # ISO 639-3 codes some corpora use (FLEURS cmn_hans_cn) -> Whisper's code


def base_language(language: str) -> str:
    """The base language of a code (``pt-BR``, ``es_MX``, ``cmn_hans_cn`` -> ``pt``, ``es``, ``zh``), the form
    Whisper's language takes."""
    base = language.strip().lower().replace("_", "-").split("-")[0]
    return WHISPER_CODES.get(base, base)


def error_unit(language: str) -> str:
    """What ``wer`` counts for ``language``: "characters" for languages written without spaces, else "words"."""
    return "characters" if base_language(language) in UNSPACED else "words"


class ScoringModels:
    """Whisper and a WavLM speaker-verification model that score decoded audio against the original.

    Args:
        asr_model: Whisper checkpoint (hub id or local folder) whose transcripts give WER; null leaves WER out.
        speaker_model: WavLMForXVector checkpoint (hub id or local folder) for speaker similarity; null leaves it out.
        language: Whisper's language code (multilingual checkpoints) for utterances whose corpus records none; an
            utterance's own language (`Utterance.language`) comes first. English selects Whisper's English text
            normalizer for WER, other languages its basic one; languages without spaces score characters (CER).
    """

    def __init__(self, asr_model: str | None = WHISPER, speaker_model: str | None = WAVLM_SV,
                 language: str = "en") -> None:
        self.asr_model, self.speaker_model, self.language = asr_model, speaker_model, language
        self.unavailable: dict[str, str] = {}  # score -> why its model could not be loaded
        self._asr = self._speaker = None
        self._loaded = False
        self.device = torch.device("cpu")

    def __getstate__(self) -> dict:
        """Pickled (to spawned ranks) without the loaded models: each process loads its own on first use."""
        return {**self.__dict__, "_asr": None, "_speaker": None, "_loaded": False, "unavailable": {}}

    def requested(self) -> dict[str, str | None]:
        """The models asked for (whether or not they load), the language, and what they hear of the original (the
        whole recording; rows scored on originals cut to the decoded length, before, are scored again)."""
        return {"asr_model": self.asr_model, "speaker_model": self.speaker_model, "language": self.language,
                "originals": "whole"}

    def transcript_key(self) -> dict[str, str | None]:
        """What a Whisper transcript depends on besides the audio: checkpoint, its revision, language and dtype."""
        model = self._asr[1]
        return {"asr_model": self.asr_model, "revision": getattr(model.config, "_commit_hash", None),
                "language": self.language, "dtype": str(model.dtype)}

    def identity(self) -> dict[str, str | None]:
        """The models that actually score (loaded; None for one left out or unavailable) and the language: rows
        scored by other models, or while a model did not load, are scored again once it does."""
        self.load()
        return {**self.requested(), "asr_model": self.asr_model if self._asr is not None else None,
                "speaker_model": self.speaker_model if self._speaker is not None else None}

    def load(self) -> None:
        """Load both models once (on this process's device); a model that cannot be loaded is recorded as
        unavailable with transformers' reason and its score left out."""
        if self._loaded:
            return
        self._loaded = True
        from transformers import (AutoFeatureExtractor, AutoProcessor, WavLMForXVector,
                                  WhisperForConditionalGeneration)

        self._asr = self._from_pretrained("wer", self.asr_model, AutoProcessor, WhisperForConditionalGeneration)
        self._speaker = self._from_pretrained("speaker_similarity", self.speaker_model, AutoFeatureExtractor,
                                              WavLMForXVector)
        self.to(self.device)

    def _from_pretrained(self, score: str, model_id: str | None, *classes: type) -> tuple | None:
        """``(preprocessor, model)`` from ``model_id`` (None when it is None or does not load: recorded)."""
        if model_id is None:
            return None
        try:
            return tuple(cls.from_pretrained(model_id) for cls in classes)  # models come back in eval mode
        except OSError as error:
            self.unavailable[score] = f"{model_id}: {_first_line(error)}"
            return None

    def to(self, device: str | torch.device) -> "ScoringModels":
        """Move the models to ``device``; Whisper runs in float16 on CUDA (as released), float32 elsewhere."""
        self.device = torch.device(device)
        if self._asr is not None:
            self._asr[1].to(self.device, torch.float16 if self.device.type == "cuda" else torch.float32)
        if self._speaker is not None:
            self._speaker[1].to(self.device)
        return self

    def score(self, originals: list[torch.Tensor], decoded: list[torch.Tensor], transcripts: list[str],
               known_transcripts: list[str | None] | None = None,
               languages: list[str | None] | None = None) -> list[dict]:
        """Per utterance (16 kHz original recordings, whole; their decoded audio; corpus transcripts; Whisper's
        transcripts of the originals where already known, e.g. from another representation's run; each utterance's
        language, None for ``language``): ``wer`` and ``wer_original`` (word error rates of Whisper's transcript
        of the decoded and of the original audio against the corpus transcript, both normalized; character error
        rates for a language without spaces, ``wer_unit`` says which), ``wer_words`` (reference words or
        characters, the weight that makes the mean a corpus WER), both ``transcript``s, and ``speaker_similarity``
        (cosine of the WavLM x-vectors of original and decoded). Models left out leave their keys out; undefined
        values are NaN."""
        self.load()
        rows: list[dict] = [{} for _ in originals]
        if self._asr is not None:
            known = list(known_transcripts) if known_transcripts is not None else [None] * len(originals)
            if not len(originals) == len(decoded) == len(transcripts) == len(known):
                raise ValueError("score needs one original, decoded clip, transcript (and earlier transcript) each")
            spoken = [language or self.language for language in (languages or [None] * len(originals))]
            unknown = [i for i, text in enumerate(known) if text is None]
            heard = self.transcribe([*(originals[i] for i in unknown), *decoded],
                                    [*(spoken[i] for i in unknown), *spoken])
            for i, text in zip(unknown, heard):
                known[i] = text
            for row, text, original, hyp, language in zip(rows, transcripts, known, heard[len(unknown):], spoken):
                row.update(self.error_rates(text, original, hyp, language))
        if self._speaker is not None:
            for row, ref, dec in zip(rows, originals, decoded):
                row["speaker_similarity"] = (metrics.cosine_similarity(self.speaker_embedding(ref),
                                                                       self.speaker_embedding(dec))
                                             if len(ref) >= self.shortest_for_speaker() else float("nan"))
        return rows

    def error_rates(self, text: str, original: str | None, hyp: str | None, language: str) -> dict:
        """One utterance's ``wer`` (decoded), ``wer_original``, ``wer_words`` (reference units) and ``wer_unit``,
        counted in :func:`error_unit` of ``language``, against the corpus transcript ``text``."""
        unit = error_unit(language)
        reference = self.normalize(text, language)
        count = len(reference.split()) if unit == "words" else len("".join(reference.split()))
        errors = metrics.word_errors if unit == "words" else metrics.character_errors
        row = {"transcript_original": original, "transcript": hyp, "wer_words": count, "wer_unit": unit}
        for key, said in (("wer_original", original), ("wer", hyp)):
            row[key] = (errors(reference, self.normalize(said, language)) / count if count and said is not None
                        else float("nan"))
        return row

    def normalize(self, text: str, language: str | None = None) -> str:
        """Whisper's text normalizer for ``language`` (default: ``language``): the English one (spellings,
        numbers, punctuation) or the basic one."""
        tokenizer = self._asr[0].tokenizer
        english = base_language(language or self.language) in ("en", "english")
        return tokenizer.normalize(text) if english else tokenizer.basic_normalize(text)

    def shortest_for_speaker(self) -> int:
        """Fewest 16 kHz samples that give an x-vector: its statistics pooling needs 2 TDNN frames (a standard
        deviation), so 2 + Σ (kernel − 1) × dilation WavLM frames (16 for wavlm-base-plus-sv), and each conv layer
        maps L samples to ⌊(L − k) / s⌋ + 1 frames (5200 samples, 0.33 s); shorter clips get NaN."""
        config = self._speaker[1].config
        samples = 2 + sum((k - 1) * d for k, d in zip(config.tdnn_kernel, config.tdnn_dilation))
        for kernel, stride in zip(reversed(config.conv_kernel), reversed(config.conv_stride)):
            samples = (samples - 1) * stride + kernel
        return samples

    @torch.inference_mode()
    def transcribe(self, audio: list[torch.Tensor], languages: list[str] | None = None) -> list[str | None]:
        """Whisper's greedy transcript of each 16 kHz clip in its language (default: ``language``; None for clips
        over 30 s, which it cannot hear whole)."""
        processor, model = self._asr
        fits = [i for i, a in enumerate(audio) if len(a) <= WHISPER_SECONDS * RATE]
        heard: list[str | None] = [None] * len(audio)
        multilingual = getattr(model.generation_config, "is_multilingual", False)
        languages = [base_language(language) for language in (languages or [self.language] * len(audio))]
        for start in range(0, len(fits), ASR_BATCH):
            picks = fits[start:start + ASR_BATCH]
            task = {"language": [languages[i] for i in picks], "task": "transcribe"} if multilingual else {}
            inputs = processor.feature_extractor([audio[i].numpy() for i in picks], sampling_rate=RATE,
                                                 return_attention_mask=True, return_tensors="pt")
            ids = model.generate(inputs.input_features.to(self.device, model.dtype),
                                 attention_mask=inputs.attention_mask.to(self.device), **task)
            for i, text in zip(picks, processor.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                heard[i] = text.strip()
        return heard

    @torch.inference_mode()
    def speaker_embedding(self, audio: torch.Tensor) -> np.ndarray:
        """WavLM x-vector of one 16 kHz clip (one at a time: padding would change the pooled statistics)."""
        extractor, model = self._speaker
        inputs = extractor([audio.numpy()], sampling_rate=RATE, return_tensors="pt").to(self.device)
        return model(**inputs).embeddings[0].float().cpu().numpy()


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class OriginalTranscripts:
    """Whisper's transcripts of original recordings, shared by every representation's quality run of a corpus
    split: ``<folder>/<key>/<host>-<pid>-<random>-<n>.jsonl``, one file per batch heard, one line ``{id, audio,
    text}`` per original (``audio``: a fingerprint of the 16 kHz samples heard), all files read once and the first
    entry of an id kept. ``key`` is what a transcript depends on besides the audio (corpus, split,
    `ScoringModels.transcript_key`); an entry is reused only for the very samples it was made from. Delete the folder to
    transcribe again."""

    def __init__(self, folder: str | os.PathLike, key: list) -> None:
        digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.folder = Path(folder) / digest
        self.mine = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this process's file names
        self._batches = 0
        self._known: dict[str, tuple[str, str]] | None = None

    @staticmethod
    def fingerprint(audio: torch.Tensor) -> str:
        return hashlib.sha1(audio.numpy().tobytes()).hexdigest()[:20]

    def lookup(self, uid: str, audio: torch.Tensor) -> str | None:
        """The transcript of ``uid``'s original when these very samples were heard before, else None."""
        entry = self._read().get(uid)
        return entry[1] if entry is not None and entry[0] == self.fingerprint(audio) else None

    def add(self, heard: list[tuple[str, torch.Tensor, str]]) -> None:
        """Record (id, 16 kHz original, transcript) entries in this process's file (and for its later lookups)."""
        if not heard:
            return
        known = self._read()
        rows = [{"id": uid, "audio": self.fingerprint(audio), "text": text} for uid, audio, text in heard]
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_lines(self.folder / f"{self.mine}-{self._batches:05d}.jsonl", rows)
        self._batches += 1
        for row in rows:
            known.setdefault(row["id"], (row["audio"], row["text"]))

    def _read(self) -> dict[str, tuple[str, str]]:
        if self._known is None:
            self._known = {}
            for path in sorted(self.folder.glob("*.jsonl")):
                for entry in read_json_lines(path):
                    with contextlib.suppress(KeyError, TypeError):  # not an entry
                        self._known.setdefault(entry["id"], (entry["audio"], entry["text"]))
        return self._known


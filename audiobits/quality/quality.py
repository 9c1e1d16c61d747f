"""Decoded quality: ``audiobits quality --config X.yaml`` decodes a bin directory's validation utterances and scores
them against the original recordings, so bits/sec can be set against how good the speech the tokens carry is.

Scores (both signals resampled to 16 kHz, the reference cut to the decoded duration — whole frames only):
``si_sdr`` (dB, torchmetrics), ``stoi`` (0–1, torchmetrics through pystoi), ``pesq_wb`` (MOS-LQO 1–4.6, wideband,
torchmetrics through pesq) and ``log_mel_distance`` (`metrics.log_mel_distance`, 80 mel bands, lower is better).
No alignment is done: a codec with a delay loses SI-SDR (Codec 2's is parametric, its SI-SDR is low anyway). With
`ScoringModels` (`audiobits.quality.scoring_models`; the command's default, when their weights load): ``wer`` and
``wer_original`` (Whisper's transcripts of decoded and original audio against the corpus transcript; the mean is
weighted by reference words, so it is the corpus WER) and ``speaker_similarity`` (WavLM x-vector cosine of original and
decoded).

``<bins>/quality.json``: per-utterance values and, per metric, the mean over utterances with a 95 % bootstrap
interval (`metrics.bootstrap_mean`). Scale: like encoding, a `audiobits.rank_jobs.RankJob` run through
`Trainer.predict` on the config's ``encode`` accelerator/devices/nodes — chunk k of corpus rows goes to rank k mod
world size; resumable: each chunk's scored utterances are written to a partial file of their own first
(``quality.partial.rank<r>.<position>.jsonl``, whole), a rerun scores only the missing ones, and global rank 0 writes
the final file to a temporary name and renames it. A quality.json
that already scores the same utterances of the same bins with the same scoring models is kept (delete it to rescore).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.cli import LightningArgumentParser
from tqdm import tqdm

from audiobits import metrics
from audiobits.bins import TokenBins
from audiobits.progress import progress_bar
from audiobits.rank_jobs import run_here, run_on_ranks
from audiobits.quality.quality_file import HIGHER_IS_BETTER, METRICS, QUALITY_FILE, read_quality_file
from audiobits.training.trainer_cli import AudiobitsCLI, lightning_cli
from audiobits.corpora import Corpus, Loaded, Unreadable
from audiobits.prepare.encode import EncodeOptions
from audiobits.errors import AudiobitsError
from audiobits.files import read_json_lines, write_json_lines, write_text_atomic
from audiobits.quality.scoring_models import OriginalTranscripts, ScoringModels
from audiobits.representations import Representation, can_decode
from audiobits.quality.samples import SAMPLE_UTTERANCES, write_sample

RATE = 16000  # every score is computed at 16 kHz (PESQ wideband's rate)
PARTIAL_GLOB = "quality.partial.rank*.jsonl"  # one per scored batch: quality.partial.rank<r>.<first position>.jsonl
WEIGHTS = {"wer": "wer_words", "wer_original": "wer_words"}  # a metric's mean is weighted by this row field
CHUNK_ROWS = 32  # corpus rows read (and scored by the scoring models) at a time


def to_16k(audio: np.ndarray, rate: int) -> torch.Tensor:
    """Mono float audio at ``rate`` -> float32 tensor at 16 kHz (torchaudio's band-limited resampling)."""
    import torchaudio.functional as AF

    wav = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    return wav if rate == RATE else AF.resample(wav, int(rate), RATE)


def log_mel(wav: torch.Tensor) -> np.ndarray:
    """80-band mel power spectrogram of 16 kHz audio (1024-point FFT, 16 ms hop)."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(RATE, n_fft=1024, hop_length=256, n_mels=80)
    return mel(wav).numpy()


def score(reference: np.ndarray, reference_rate: int, decoded: np.ndarray, decoded_rate: int) -> dict[str, float]:
    """Every signal score of one decoded utterance against its original, both at 16 kHz and cut to the shorter (the
    original loses its uncoded tail): `score_16k`."""
    return score_16k(*cut_to_shorter(to_16k(reference, reference_rate), to_16k(decoded, decoded_rate)))


def cut_to_shorter(original: torch.Tensor, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both clips cut to the shorter one: the original loses the tail its codec never coded (a partial frame)."""
    n = min(len(original), len(decoded))
    return original[:n], decoded[:n]


def score_16k(ref: torch.Tensor, dec: torch.Tensor) -> dict[str, float]:
    """SI-SDR, STOI, PESQ-wb and log-mel distance of an equal-length 16 kHz pair (NaN where a score is undefined:
    STOI on under ~30 non-silent frames, PESQ on an utterance without speech)."""
    from torchmetrics.functional.audio import (perceptual_evaluation_speech_quality,
                                               scale_invariant_signal_distortion_ratio,
                                               short_time_objective_intelligibility)

    ref, dec = ref.double(), dec.double()
    with warnings.catch_warnings(record=True) as caught:  # pystoi warns and returns 1e-5 on too little speech
        warnings.simplefilter("always")
        stoi = float(short_time_objective_intelligibility(dec, ref, RATE))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        stoi = float("nan")  # undefined (under ~30 non-silent 25.6 ms frames), not a score of zero
    out = {"si_sdr": float(scale_invariant_signal_distortion_ratio(dec, ref)), "stoi": stoi,
           "log_mel_distance": metrics.log_mel_distance(log_mel(ref.float()), log_mel(dec.float()))}
    try:
        out["pesq_wb"] = float(perceptual_evaluation_speech_quality(dec, ref, RATE, "wb"))
    except Exception:  # noqa: BLE001 - pesq raises its own NoUtterancesError (silence) and friends
        out["pesq_wb"] = float("nan")
    return out


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per metric: mean over the utterances where it is defined (weighted by `WEIGHTS`' field for WER: the corpus
    WER), its 95 % bootstrap interval and the count."""
    summary = {}
    for name in METRICS:
        field = WEIGHTS.get(name)
        values = np.array([r.get(name, np.nan) for r in rows], dtype=np.float64)
        weights = np.array([r.get(field, 0) if field else 1 for r in rows], dtype=np.float64)
        defined = np.isfinite(values) & (weights > 0)
        values, weights = values[defined], (weights[defined] if field else None)
        if values.size == 0:
            summary[name] = {"mean": None, "ci95": None, "n": 0}
            continue
        low, high = metrics.bootstrap_mean(values, weights=weights)
        summary[name] = {"mean": float(np.average(values, weights=weights)), "ci95": [low, high],
                         "n": int(values.size), "higher_is_better": HIGHER_IS_BETTER[name]}
    return summary


def _partial_rows(bins_dir: Path) -> list[dict]:
    """Every scored row in every rank's partial file, in file order."""
    return [row for path in sorted(bins_dir.glob(PARTIAL_GLOB)) for row in read_json_lines(path)
            if isinstance(row, dict) and "id" in row]


def _read_partial(bins_dir: Path, scoring_models: dict | None) -> dict[str, dict]:
    """Scored utterances of interrupted runs by these ``scoring_models`` (their identity) by id; a row other scoring
    models scored is scored again."""
    return {row["id"]: row for row in _partial_rows(bins_dir) if row.get("listeners") == scoring_models}


def _load_rows(corpus: Corpus, split: str, chunk: tuple[int, int]) -> Loaded:
    """The corpus rows ``start:stop`` of ``split`` with their audio: runs in dataloader workers."""
    return corpus.load(split, *chunk, audio=True)


class QualityJob:
    """Scoring one bin directory's ``split``: which corpus rows hold its utterances, what is done, the result; a
    `audiobits.rank_jobs.RankJob` whose items are chunks of corpus rows."""

    name = "quality"

    def __init__(self, corpus: Corpus, representation: Representation, bins_dir: str | os.PathLike,
                 split: str = "val", max_utterances: int | None = None, scoring_models: ScoringModels | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        if not can_decode(representation):
            raise AudiobitsError(f"{representation.name} cannot decode its tokens (no decode()), so it has no "
                                 "decoded quality; quality applies to codecs and mu-law")
        self.corpus, self.representation, self.split = corpus, representation, split
        self.scoring_models = scoring_models
        self.chunk_rows = chunk_rows
        self._transcripts: OriginalTranscripts | None = None
        self._bar: tqdm | None = None
        self._scored: set[str] | None = None  # ids in the partial files, scored with this process's scoring models
        self.bins_dir = Path(bins_dir)
        self.bins = TokenBins(self.bins_dir)
        if self.bins.meta.representation != representation.name:
            raise AudiobitsError(f"{self.bins_dir} holds {self.bins.meta.representation!r} bins, not "
                                 f"{representation.name!r}")
        self.part = self.bins.split(split)
        self.ids = [str(i) for i in self.part.ids][:max_utterances]
        self.position = {uid: i for i, uid in enumerate(self.ids)}

    def _original_transcripts(self) -> OriginalTranscripts | None:
        """The transcripts of the originals shared beside the bins, when Whisper scores this run (made on first use,
        once the scoring models are on their device: their dtype is part of the key)."""
        if self._transcripts is None and self.scored_with is not None and self.scored_with["asr_model"] is not None:
            key = [self.bins.meta.corpus, self.split, self.scoring_models.transcript_key()]
            self._transcripts = OriginalTranscripts(self.bins.directory.parent / "heard", key)
        return self._transcripts

    @property
    def scored_with(self) -> dict | None:
        """The scoring models that score in this process (loaded here: a rank whose models did not load differs)."""
        return self.scoring_models.identity() if self.scoring_models is not None else None

    def items(self) -> list[tuple[int, int]]:
        """The chunks of corpus rows of the split, ``chunk_rows`` each."""
        size = self.corpus.size(self.split)
        return [(start, min(start + self.chunk_rows, size)) for start in range(0, size, self.chunk_rows)]

    def unfinished(self, chunks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """All of ``chunks`` while any utterance is unscored (which rows hold it is known only once loaded), else
        none."""
        return list(chunks) if set(self.ids) - self._scored_ids() else []

    def _scored_ids(self) -> set[str]:
        """Ids in the partial files scored by this process's scoring models: the files are read once per process,
        then the set is kept up to date as chunks are written."""
        if self._scored is None:
            self._scored = set(_read_partial(self.bins_dir, self.scored_with))
        return self._scored

    def reader(self) -> Callable[[tuple[int, int]], Loaded]:
        """Loads a chunk's corpus rows with their audio in a dataloader worker."""
        return partial(_load_rows, self.corpus, self.split)

    def to(self, device: torch.device | str) -> None:
        """Move the decoder and the scoring models to this rank's device."""
        self.representation.to(str(device))
        if self.scoring_models is not None:
            self.scoring_models.to(device)

    def start(self, rank: int, chunks: list[tuple[int, int]]) -> None:
        """Open the bar over the corpus rows of this rank's pending chunks (each is loaded; those in the bins are
        scored)."""
        rows = sum(stop - start for start, stop in chunks)
        self._bar = progress_bar(rows, f"quality {self.representation.name} rank {rank}", "utt", position=rank)

    def run(self, chunk: tuple[int, int], items: Loaded, rank: int) -> int:
        """Score one chunk's unscored utterances into this rank's partial file; returns how many were scored."""
        scored = self.score_items(items, rank)
        self._bar.update(len(items))
        return scored

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def score_items(self, items: Loaded, rank: int = 0) -> int:
        """Decode and score the not yet scored utterances among ``items`` (the scoring models score them as one batch),
        written to a partial file of their own when the batch is done; returns how many were scored."""
        done = self._scored_ids()
        todo = [item for item in items
                if not isinstance(item, Unreadable) and item.id in self.position and item.id not in done]
        rate = self.representation.decoded_sample_rate
        rows, originals, decoded = [], [], []
        for item in todo:
            i = self.position[item.id]
            tokens = self.part.read(self.part.offsets[i], self.part.offsets[i + 1] - 1).astype(np.int64)
            audio = self.representation.decode(tokens)
            original, dec = to_16k(item.audio, item.sample_rate), to_16k(audio, rate)
            if i < SAMPLE_UTTERANCES:  # the report's page plays these beside each other
                write_sample(self.bins_dir, i, original.numpy(), dec.numpy())
            originals.append(original)  # the scoring models take the whole recording: the same for every codec
            decoded.append(dec)
            rows.append({"id": item.id, "seconds": len(audio) / rate, "listeners": self.scored_with,
                         **score_16k(*cut_to_shorter(original, dec))})
        if self.scoring_models is not None and rows:
            transcripts = self._original_transcripts()
            before = [transcripts.lookup(item.id, original) if transcripts else None
                      for item, original in zip(todo, originals)]
            scores = self.scoring_models.score(originals, decoded, [item.text for item in todo], before,
                                               [item.language for item in todo])
            for row, row_scores in zip(rows, scores):
                row.update(row_scores)
            if transcripts is not None:
                transcripts.add([(row["id"], original, row["transcript_original"])
                                 for row, original, known in zip(rows, originals, before)
                                 if known is None and row["transcript_original"] is not None])
        if rows:  # one file per scored batch, named by its first utterance's position: each written once, whole
            first = self.position[rows[0]["id"]]
            write_json_lines(self.bins_dir / f"quality.partial.rank{rank}.{first:08d}.jsonl", rows)
            self._scored |= {row["id"] for row in rows}
        return len(rows)

    def existing(self) -> dict | None:
        """quality.json when it already scores exactly these utterances of these bins with these scoring models, or with
        a requested model that did not load now (its earlier scores are kept, not lost); delete it to rescore."""
        result = read_quality_file(self.bins_dir)
        if result is None:
            return None
        same = (result.get("representation"), result.get("split"), result.get("encoder")) == (
            self.representation.name, self.split, self.bins.meta.encoder)
        ids = [r["id"] for r in result.get("per_utterance", [])] == self.ids
        return result if same and ids and self._same_scoring_models(result.get("listeners")) else None

    def requested_but_unloaded(self, recorded: dict | None) -> list[str]:
        """The models of ``recorded`` scoring models that this run asked for but could not load (their scores kept)."""
        now = self.scored_with
        if now is None or recorded is None:
            return []
        asked = self.scoring_models.requested()
        return [k for k in ("asr_model", "speaker_model")
                if now[k] is None and asked[k] is not None and recorded.get(k) == asked[k]]

    def _same_scoring_models(self, recorded: dict | None) -> bool:
        """Whether rows scored by ``recorded`` scoring models stand for this run's: the same models, or a model this run
        asked for but could not load (`requested_but_unloaded`)."""
        now = self.scored_with
        if now is None or recorded is None:
            return now == recorded
        kept = self.requested_but_unloaded(recorded)
        return recorded.keys() == now.keys() and all(recorded[k] == now[k] or k in kept for k in now)

    def unreadable(self, ids: list[str]) -> dict[str, str]:
        """Why the corpus cannot serve each of ``ids`` it lists (audio file deleted or broken), by id, in corpus
        order. Reads the split's headers only (no audio decoded), on the failure path."""
        wanted, found, size = set(ids), {}, self.corpus.size(self.split)
        for start in range(0, size, self.chunk_rows):
            for item in self.corpus.load(self.split, start, min(start + self.chunk_rows, size), audio=False):
                if isinstance(item, Unreadable) and item.id in wanted:
                    found[item.id] = item.reason
        return found

    def _unscored_error(self, missing: list[str]) -> AudiobitsError:
        """Why ``missing`` utterances of the bins were not scored: the corpus lists them but cannot read their audio
        (named, first few and the count, with the fix), or it does not hold them (bins of another corpus)."""
        unreadable = self.unreadable(missing)
        if not unreadable:
            return AudiobitsError(f"{len(missing)} {self.split} utterance(s) of {self.bins_dir} (e.g. {missing[0]}) "
                                  f"are not in corpus {self.corpus.name!r}: the bins come from another corpus")
        shown = "; ".join(list(unreadable.values())[:3]) + ("; ..." if len(unreadable) > 3 else "")
        others = len(missing) - len(unreadable)
        return AudiobitsError(
            f"{len(unreadable)} {self.split} utterance(s) of {self.bins_dir} cannot be read from corpus "
            f"{self.corpus.name!r}: {shown}" + (f" ({others} more are not in the corpus)" if others else "") +
            f". Restore the file(s) and run `audiobits quality` again (scored utterances are kept), or re-prepare "
            f"without them: delete {self.bins_dir.parent} and prepare every representation again, so all drop them.")

    def finish(self) -> dict:
        """Write quality.json from the partial files (atomically) and remove them; returns what was written."""
        done = _read_partial(self.bins_dir, self.scored_with)
        missing = [uid for uid in self.ids if uid not in done]
        others = {row["id"] for row in _partial_rows(self.bins_dir)} & set(missing)
        if others:
            raise AudiobitsError(f"{len(others)} {self.split} utterance(s) of {self.bins_dir} were scored by other "
                                 f"scoring models than this rank's {self.scored_with} (a model loaded on one rank but "
                                 "not another?): make the same models loadable on every node and run again")
        if missing:
            raise self._unscored_error(missing)
        rows = [done[uid] for uid in self.ids]
        result = {"representation": self.representation.name, "split": self.split, "sample_rate": RATE,
                  "decoded_sample_rate": self.representation.decoded_sample_rate, "encoder": self.bins.meta.encoder,
                  "utterances": len(rows), "seconds": float(sum(r["seconds"] for r in rows)),
                  "listeners": self.scored_with,
                  "unavailable": self.scoring_models.unavailable if self.scoring_models is not None else {},
                  "metrics": summarize(rows), "per_utterance": [{k: v for k, v in r.items() if k != "listeners"}
                                                                for r in rows]}
        write_text_atomic(self.bins_dir / QUALITY_FILE, json.dumps(result, indent=1) + "\n")
        for path in self.bins_dir.glob(PARTIAL_GLOB):
            path.unlink()
        return result


def score_bins(corpus: Corpus, representation: Representation, bins_dir: str | os.PathLike, split: str = "val",
               max_utterances: int | None = None, options: EncodeOptions | None = None,
               scoring_models: ScoringModels | None = None, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Decode ``split`` of ``bins_dir``, score it against ``corpus``'s audio (and with ``scoring_models``: WER and
    speaker similarity) and write ``quality.json``, resuming from the partial files. ``options`` unset: in this process;
    set: through `Trainer.predict` on its accelerator/devices/nodes (every rank takes its chunks, global rank 0
    writes the result)."""
    job = QualityJob(corpus, representation, bins_dir, split, max_utterances, scoring_models, chunk_rows)
    done = job.existing()
    if done is not None:
        for model in job.requested_but_unloaded(done.get("listeners")):
            print(f"audiobits quality: kept {job.bins_dir / QUALITY_FILE}: it was scored with "
                  f"{done['listeners'][model]}, which does not load now", file=sys.stderr)
        return done
    if options is None:
        run_here(job)
        return job.finish()
    return run_on_ranks(job, options, job.finish) or {}


def score_datamodule(data: object, max_utterances: int | None = None,
                     scoring_models: ScoringModels | None = None) -> dict:
    """`score_bins` for a config's codec DataModule (its corpus, representation and bin directory)."""
    for attribute in ("corpus", "representation", "bins_dir"):
        if not hasattr(data, attribute):
            raise AudiobitsError(f"{type(data).__name__} has no {attribute}: quality needs a codec DataModule "
                                 "(audiobits.datamodules.*) whose bins it can decode")
    return score_bins(data.corpus, data.representation, data.bins_dir, max_utterances=max_utterances,
                      options=getattr(data, "encode_options", EncodeOptions()), scoring_models=scoring_models)


class QualityCLI(AudiobitsCLI):
    """A fit config plus the quality arguments: ``--max_utterances N`` and the ``scoring_models`` section."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_argument("--max_utterances", type=int | None, default=None,
                            help="score only the first N validation utterances")
        parser.add_class_arguments(ScoringModels, "scoring_models")


def main(argv: list[str] | None = None) -> None:
    """`audiobits quality --config X.yaml [--max_utterances N] [--scoring_models.asr_model ID|null]
    [--scoring_models.speaker_model ID|null] [config overrides]` (LightningCLI on a fit config): prepare the config's
    bins if needed, then decode and score their validation utterances into ``<bins>/quality.json``."""
    cli = lightning_cli(list(argv or []), run=False, prog="audiobits quality", cli_class=QualityCLI)
    cli.datamodule.prepare_data()
    scoring_models = cli.config_init.scoring_models
    result = score_datamodule(cli.datamodule, cli.config.max_utterances, scoring_models)
    means = ", ".join(f"{k} {v['mean']:.3g}" for k, v in result["metrics"].items() if v["mean"] is not None)
    print(f"{result['representation']}: {result['utterances']} {result['split']} utterances, {means} -> "
          f"{Path(cli.datamodule.bins_dir) / QUALITY_FILE}")
    for name, why in result.get("unavailable", {}).items():
        print(f"audiobits quality: no {name}: its model did not load ({why}); pass a hub id or local folder, "
              f"or set it to null to leave it out", file=sys.stderr)

"""Decoded quality: ``audiobits quality --config X.yaml`` decodes a bin directory's validation utterances and scores
them against the original recordings, so bits/sec can be set against how good the speech the tokens carry is.

Scores (both signals resampled to 16 kHz, the reference cut to the decoded duration — whole frames only):
``si_sdr`` (dB, torchmetrics), ``stoi`` (0–1, torchmetrics through pystoi), ``pesq_wb`` (MOS-LQO 1–4.6, wideband,
torchmetrics through pesq) and ``log_mel_distance`` (`metrics.log_mel_distance`, 80 mel bands, lower is better).
No alignment is done: a codec with a delay loses SI-SDR (Codec 2's is parametric, its SI-SDR is low anyway).

``<bins>/quality.json``: per-utterance values and, per metric, the mean over utterances with a 95 % bootstrap
interval (`metrics.bootstrap_mean`). Resumable: each scored utterance is appended to ``quality.partial.jsonl``
first; a rerun scores only the missing ones, and the final file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from audiobits import metrics
from audiobits.bins import TokenBins
from audiobits.corpora import Corpus, Unreadable
from audiobits.errors import AudiobitsError
from audiobits.representations.base import Representation

RATE = 16000  # every score is computed at 16 kHz (PESQ wideband's rate)
QUALITY_FILE = "quality.json"
PARTIAL_FILE = "quality.partial.jsonl"
METRICS = ("si_sdr", "stoi", "pesq_wb", "log_mel_distance")
HIGHER_IS_BETTER = {"si_sdr": True, "stoi": True, "pesq_wb": True, "log_mel_distance": False}
LOAD_CHUNK = 32  # corpus rows read at a time


def can_decode(representation: Representation) -> bool:
    """True when the representation can turn its ids back into audio (``decode`` and ``decoded_sample_rate``)."""
    return callable(getattr(representation, "decode", None)) and hasattr(representation, "decoded_sample_rate")


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
    """Every score of one decoded utterance against its original (NaN where a score is undefined, e.g. PESQ on
    an utterance without speech)."""
    from torchmetrics.functional.audio import (perceptual_evaluation_speech_quality,
                                               scale_invariant_signal_distortion_ratio,
                                               short_time_objective_intelligibility)

    ref, dec = to_16k(reference, reference_rate), to_16k(decoded, decoded_rate)
    n = min(len(ref), len(dec))
    ref, dec = ref[:n].double(), dec[:n].double()
    out = {"si_sdr": float(scale_invariant_signal_distortion_ratio(dec, ref)),
           "stoi": float(short_time_objective_intelligibility(dec, ref, RATE)),
           "log_mel_distance": metrics.log_mel_distance(log_mel(ref.float()), log_mel(dec.float()))}
    try:
        out["pesq_wb"] = float(perceptual_evaluation_speech_quality(dec, ref, RATE, "wb"))
    except Exception:  # noqa: BLE001 - pesq raises its own NoUtterancesError (silence) and friends
        out["pesq_wb"] = float("nan")
    return out


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per metric: mean over the utterances where it is defined, its 95 % bootstrap interval and the count."""
    summary = {}
    for name in METRICS:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            summary[name] = {"mean": None, "ci95": None, "n": 0}
            continue
        low, high = metrics.bootstrap_mean(values)
        summary[name] = {"mean": float(values.mean()), "ci95": [low, high], "n": int(values.size),
                         "higher_is_better": HIGHER_IS_BETTER[name]}
    return summary


def _read_partial(path: Path) -> dict[str, dict]:
    """Scored utterances of an interrupted run (a torn last line is ignored: it is scored again)."""
    done = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                done[row["id"]] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
    return done


def score_bins(corpus: Corpus, representation: Representation, bins_dir: str | os.PathLike, split: str = "val",
               max_utterances: int | None = None) -> dict:
    """Decode ``split`` of ``bins_dir`` with ``representation``, score it against ``corpus``'s audio, and write
    ``quality.json`` (resuming from ``quality.partial.jsonl``); returns what was written."""
    bins_dir = Path(bins_dir)
    if not can_decode(representation):
        raise AudiobitsError(f"{representation.name} cannot decode its tokens (no decode()), so it has no decoded "
                             "quality; quality applies to codecs and mu-law")
    bins = TokenBins(bins_dir)
    if bins.meta.representation != representation.name:
        raise AudiobitsError(f"{bins_dir} holds {bins.meta.representation!r} bins, not {representation.name!r}")
    part = bins.split(split)
    ids = [str(i) for i in part.ids][:max_utterances]
    position = {uid: i for i, uid in enumerate(part.ids[: len(ids)].astype(str))}
    partial = bins_dir / PARTIAL_FILE
    done = _read_partial(partial)
    todo = set(ids) - done.keys()
    with open(partial, "a", encoding="utf-8") as log:
        for start in range(0, corpus.size(split), LOAD_CHUNK):
            if not todo:
                break
            for item in corpus.load(split, start, min(start + LOAD_CHUNK, corpus.size(split)), audio=True):
                if isinstance(item, Unreadable) or item.id not in todo:
                    continue
                i = position[item.id]
                tokens = np.asarray(part.tokens[part.offsets[i]:part.offsets[i + 1] - 1], dtype=np.int64)
                decoded = representation.decode(tokens)
                row = {"id": item.id, "seconds": len(decoded) / representation.decoded_sample_rate,
                       **score(item.audio, item.sample_rate, decoded, representation.decoded_sample_rate)}
                log.write(json.dumps(row) + "\n")
                log.flush()
                done[item.id] = row
                todo.discard(item.id)
    if todo:
        raise AudiobitsError(f"{len(todo)} {split} utterance(s) of {bins_dir} (e.g. {sorted(todo)[0]}) are not in "
                             f"corpus {corpus.name!r}: the bins come from another corpus")
    rows = [done[uid] for uid in ids]
    result = {"representation": representation.name, "split": split, "sample_rate": RATE,
              "decoded_sample_rate": representation.decoded_sample_rate, "encoder": bins.meta.encoder,
              "utterances": len(rows), "seconds": float(sum(r["seconds"] for r in rows)),
              "metrics": summarize(rows), "per_utterance": rows}
    tmp = bins_dir / f"{QUALITY_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(result, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    os.replace(tmp, bins_dir / QUALITY_FILE)
    partial.unlink()
    return result


def score_datamodule(data: object, max_utterances: int | None = None) -> dict:
    """`score_bins` for a config's codec DataModule (its corpus, representation and bin directory)."""
    for attribute in ("corpus", "representation", "bins_dir"):
        if not hasattr(data, attribute):
            raise AudiobitsError(f"{type(data).__name__} has no {attribute}: quality needs a codec DataModule "
                                 "(audiobits.datamodules.*) whose bins it can decode")
    return score_bins(data.corpus, data.representation, data.bins_dir, max_utterances=max_utterances)


def main(argv: list[str] | None = None) -> None:
    """`audiobits quality --config X.yaml [--max_utterances N] [config overrides]`: prepare the config's bins if
    needed, then decode and score their validation utterances into ``<bins>/quality.json``."""
    from audiobits.cli import lightning_cli

    args = list(argv or [])
    limit = None
    if "--max_utterances" in args:
        at = args.index("--max_utterances")
        limit = int(args[at + 1])
        del args[at:at + 2]
    cli = lightning_cli(args, run=False)
    cli.datamodule.prepare_data()
    result = score_datamodule(cli.datamodule, limit)
    means = ", ".join(f"{k} {v['mean']:.3g}" for k, v in result["metrics"].items() if v["mean"] is not None)
    print(f"{result['representation']}: {result['utterances']} {result['split']} utterances, {means} -> "
          f"{Path(cli.datamodule.bins_dir) / QUALITY_FILE}")


def read_quality(bins_dir: str | os.PathLike | None) -> dict[str, float | None]:
    """The mean of every score in ``<bins_dir>/quality.json`` (None for each when there is none)."""
    path = Path(bins_dir) / QUALITY_FILE if bins_dir is not None else None
    if path is None or not path.is_file():
        return {name: None for name in METRICS}
    summary = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    return {name: summary.get(name, {}).get("mean") for name in METRICS}

"""`audiobits calibrate --like RUN_DIR`: the recipe's slack on a source of known entropy matched to a run.

The source (:mod:`audiobits.scaling.hmm`) has the run's vocabulary size, its number of training utterances and val
utterances with lengths drawn from the run's length distribution (so about the same training tokens), and long-range
structure. It is written as bins (:class:`audiobits.bins.BinWriter`), trained with the run's exact recipe (its
config.yaml: model, batch, context, schedule, precision; only the data and the log dir change) and scored against
the source's exact per-token score on the same val split. Slack = model bits/token − true bits/token: how far one
epoch of this recipe at this vocab and data size lands above a truth it could in principle reach. A diagnostic for
the row, not a correction of it. Writes ``<out>/calibration.json`` and a copy beside the run's results.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import yaml

from audiobits import metrics
from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, check_output_file, write_text_atomic
from audiobits.scaling.hmm import HiddenMarkovSource, random_source, sample_states, sample_symbols, stream_bits
from audiobits.analysis.known_truth import TRUE_VAL_KEY
from audiobits.results import read_results
from audiobits.scaling.calibration_file import CALIBRATION_FILE
from audiobits.analysis.runs import load_run

FRAME_RATE = 50.0  # nominal frames per second of the synthetic stream (bits/sec is not what calibration is about)


def run_lengths(bins: TokenBins) -> dict[str, np.ndarray]:
    """Content tokens (EOS excluded) of every utterance, per split."""
    return {name: np.diff(split.offsets) - 1 for name, split in bins.splits.items() if name in ("train", "val")}


def write_source_bins(out: Path, source: HiddenMarkovSource, utterances: dict[str, int], seed: int) -> dict:
    """Sample the source into ``out`` (train then val, one continuous chain from a stationary start); returns the
    true bits/token of the val split's scored tokens (all but its first) and the token counts."""
    rng = np.random.default_rng(seed)
    max_len = len(source.length_probs) - 1
    eos = source.vocab
    meta = BinMeta(representation="hmm_calibration", corpus="synthetic",
                   encoder={"name": "hmm", "package": "audiobits", "version": "0", "weights": "synthetic"},
                   vocab_size=source.vocab + 1, eos_id=eos, codebooks=[Codebook(source.vocab, FRAME_RATE)],
                   flattening="none")
    state = int(rng.choice(len(source.transition), p=source.stationary))
    truth = {}
    with BinWriter(out, meta) as writer:
        for split, count in utterances.items():
            lengths = rng.choice(max_len + 1, size=count, p=source.length_probs)
            states = sample_states(source, int(lengths.sum()), rng, state)
            state = int(states[-1]) if len(states) else state
            symbols = sample_symbols(source, states, rng)
            ends = np.cumsum(lengths)
            for i, (stop, n) in enumerate(zip(ends, lengths)):
                writer.add(split, f"{split}-{i:06d}", symbols[stop - n:stop], seconds=(n + 1) / FRAME_RATE,
                           text_bytes=0)
            truth[split] = (lengths, symbols)
        lengths, symbols = truth["val"]
        bits = stream_bits(source, lengths, symbols)[1:]  # the split's first token is never a target
        meta.encoder[TRUE_VAL_KEY] = float(bits.mean())  # meta.json is written when the block closes
    return {"true_bits_per_token": float(bits.mean()), "val_scored_tokens": int(bits.size),
            "train_tokens": int(truth["train"][0].sum() + len(truth["train"][0]))}


def calibration_config(run_config: dict, bins_dir: Path, log_root: Path) -> dict:
    """The run's config with the data swapped for the calibration bins (same seq_len, batch, workers, seed) and
    its own log dir."""
    config = json.loads(json.dumps(run_config))
    data = config.get("data") or {}
    init = data.get("init_args", {}) if isinstance(data, dict) else {}
    keep = {k: init[k] for k in ("seq_len", "batch_size", "num_workers", "seed") if k in init}
    config["data"] = {"class_path": "audiobits.data.TokenBinDataModule",
                      "init_args": {**keep, "bins_dir": str(bins_dir)}}
    trainer = config.setdefault("trainer", {})
    trainer["logger"] = {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                         "init_args": {"save_dir": str(log_root), "name": "calibration", "version": "run"}}
    config.pop("ckpt_path", None)
    return config


def calibrate(run_dir: str | Path, out: str | Path, states: int = 256, emissions: int = 8, stay: float = 0.9,
              seed: int = 0) -> dict:
    """Build the matched source, train the run's recipe on it and return (and write) the calibration record."""
    from audiobits.training.trainer_cli import run_fit

    run = load_run(run_dir)
    bins_dir = run.bins_dir()
    if bins_dir is None or not (run.path / "config.yaml").is_file():
        raise AudiobitsError(f"{run.path}: calibration needs the run's config.yaml and its bins (data.init_args in "
                             "config.yaml must point at a prepared bin directory, relative to this directory).")
    out = Path(out).resolve()
    check_output_dir(out, "--out")
    check_output_file(run.path / CALIBRATION_FILE, "--like")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    lengths = run_lengths(TokenBins(bins_dir))
    pooled = np.concatenate(list(lengths.values()))
    length_probs = np.bincount(pooled) / len(pooled)
    vocab = run.results.vocab_size - 1  # content symbols; the EOS id is the last, as the run's vocab_size counts
    source = random_source(states, vocab, length_probs, min(emissions, vocab), min(4, states - 1), stay, seed)
    truth = write_source_bins(out / "bins", source, {k: len(v) for k, v in lengths.items()}, seed + 1)
    timings["source_seconds"] = time.perf_counter() - started
    print(f"[calibrate] source: {states} states × {vocab} symbols, {truth['train_tokens']:,} training tokens; true "
          f"val rate {truth['true_bits_per_token']:.4f} bits/token ({timings['source_seconds']:.1f} s)", flush=True)
    config = calibration_config(run.config, out / "bins", out / "runs")
    write_text_atomic(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    run_fit(["--config", str(out / "config.yaml")])
    timings["fit_seconds"] = time.perf_counter() - started - timings["source_seconds"]
    model = read_results(out / "runs" / "calibration" / "run")
    slack = metrics.calibration_slack(model.headline.bits_per_token, truth["true_bits_per_token"])
    record = {
        "diagnostic": "slack of the run's recipe on a matched synthetic source; not a correction of the run's numbers",
        "run": str(run.path), "representation": run.representation, "vocab_size": vocab + 1,
        "source": {"kind": "sparse hidden Markov model", "states": states, "emissions_per_state": emissions,
                   "stay": stay, "seed": seed},
        "run_train_tokens": run.results.train_tokens, **truth,
        "model_bits_per_token": model.headline.bits_per_token, "slack_bits_per_token": slack,
        "slack_relative": slack / truth["true_bits_per_token"], **timings,
    }
    text = json.dumps(record, indent=2) + "\n"
    for path in (out / CALIBRATION_FILE, run.path / CALIBRATION_FILE):
        write_text_atomic(path, text)
    print(f"[calibrate] model {model.headline.bits_per_token:.4f} vs true {truth['true_bits_per_token']:.4f} "
          f"bits/token: slack {slack:+.4f} bits/token ({100 * record['slack_relative']:+.1f} %) — a diagnostic of "
          f"the recipe at this vocab and data size, not a correction. Source {timings['source_seconds']:.1f} s, fit "
          f"{timings['fit_seconds']:.1f} s.", flush=True)
    return record


def main(*, like: str, out: str | None = None, states: int = 256, emissions: int = 8, stay: float = 0.9,
         seed: int = 0) -> None:
    """A run's recipe on a matched source of known entropy: its slack.

    Args:
        like: the finished run to match (its log dir).
        out: bins, run and calibration.json (default calibration/<run's representation>).
        states: hidden states of the source.
        emissions: symbols each state emits.
        stay: probability a state persists for the next token.
        seed: random seed of the source.
    """
    try:
        representation = read_results(like).representation
    except FileNotFoundError as error:
        raise AudiobitsError(str(error)) from error
    calibrate(like, out or Path("calibration") / representation, states, emissions, stay, seed)

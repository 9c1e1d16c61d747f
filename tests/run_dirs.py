"""Real run directories with chosen numbers, for the report, plot and sanity tests.

Each run gets a real bin directory (BinWriter), a results.json from the real ``compute_results`` on validation
sums chosen so bits/token is known exactly, a config.yaml pointing at the bins as LightningCLI writes it, and
TensorBoard event files written by ``SummaryWriter``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml
from torch.utils.tensorboard import SummaryWriter

from audiobits.bins import BinMeta, BinWriter, Codebook, TokenBins
from audiobits.results import ModelShape, TrainerRecord, ValidationSums, compute_results, write_val_utterances

MIMI_SEM = [Codebook(2048, 12.5)]
STUDY_TRAINER = TrainerRecord(max_steps=-1, limit_train_batches=1.0, accumulate_grad_batches=1, gradient_clip_val=None,
                              precision="bf16-mixed", device="cuda", limit_val_batches=1.0, val_check_interval=0.1)
TEXT = [Codebook(50257, None)]


def utterance_buckets(offset_nats: np.ndarray, offset_tokens: np.ndarray, utterances: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each context bucket's tokens and nats shared out over ``utterances`` at random (some utterances harder than
    others), summing exactly to the per-offset sums: what LossSums records per utterance and bucket."""
    buckets = [slice(2**k - 1, 2 ** (k + 1) - 1) for k in range(len(offset_tokens).bit_length())]
    tokens = np.stack([rng.multinomial(offset_tokens[b].sum(), np.full(utterances, 1 / utterances)) for b in buckets],
                      axis=1)
    weights = tokens * rng.uniform(0.5, 1.5, size=(utterances, 1))
    nats = weights / weights.sum(axis=0) * np.array([offset_nats[b].sum() for b in buckets])
    return nats, tokens


def make_run(root: Path, name: str, *, codebooks: list[Codebook] = MIMI_SEM, vocab_size: int | None = None,
             bits_per_token: float = 2.0, utterances: int = 40, seconds: float = 2.0, tokens_per_utt: int = 25,
             tokens_per_frame: int = 1, distinct: int | None = None, corpus: str = "demo", weights: str = "pretrained",
             representation: str | None = None, results_overrides: dict | None = None, curve: bool = True,
             seed: int = 0, speakers: int = 0, non_embedding_params: int = 10_000) -> Path:
    """A run dir ``root/runs/<name>/version_0`` whose val split has ``utterances`` × ``tokens_per_utt`` content
    tokens (+1 EOS each), ids drawn uniformly from ``distinct`` ids, and a model at exactly ``bits_per_token``;
    ``speakers`` > 0: utterance i is spoken by ``speaker<i mod speakers>``."""
    vocab_size = vocab_size or sum(c.size for c in codebooks) + 1
    eos = vocab_size - 1
    distinct = distinct or min(eos, 64)
    rng = np.random.default_rng(seed)
    bins = root / "bins" / corpus / name
    meta = BinMeta(representation=representation or name, corpus=corpus,
                   encoder={"name": name, "package": "test", "version": "0", "weights": weights},
                   vocab_size=vocab_size, eos_id=eos, codebooks=codebooks, flattening="frame_major_level_offsets",
                   tokens_per_frame=tokens_per_frame)
    with BinWriter(bins, meta) as writer:
        for split, count in (("train", utterances * 4), ("val", utterances)):
            for i in range(count):
                writer.add(split, f"{split}-{i}", rng.integers(0, distinct, tokens_per_utt), seconds,
                           text_bytes=30, speaker=f"speaker{i % speakers}" if speakers else None)
    val = TokenBins(bins).split("val")
    per_utt = np.full(utterances, tokens_per_utt + 1, dtype=np.int64)
    per_utt[0] -= 1  # the split's first token is never a target
    phases = np.zeros(tokens_per_frame + 1, dtype=np.int64)
    phases[:tokens_per_frame] = (per_utt.sum() - utterances) // tokens_per_frame
    phases[-1] = utterances
    offset_tokens = np.full(64, 10, dtype=np.int64)  # a model that gains from context: (1 + 1/context) × b
    offset_nats = bits_per_token * (1 + 1 / np.arange(1, 65)) * offset_tokens * math.log(2.0)
    sums = ValidationSums(per_utt * bits_per_token * math.log(2.0), per_utt,
                          np.arange(1, tokens_per_frame + 2) * phases * math.log(2.0), phases, offset_nats,
                          offset_tokens, *utterance_buckets(offset_nats, offset_tokens, utterances, rng))
    model = ModelShape(non_embedding_params=non_embedding_params, vocab_size=vocab_size, n_layer=2, n_embd=32,
                       seq_len=64)
    results = compute_results(meta, val, sums, model, train_tokens=4 * utterances * (tokens_per_utt + 1),
                              finished=True, bootstrap_resamples=200, trainer=STUDY_TRAINER)
    results.global_step = 40  # as ResultsWriter sets it
    run_dir = root / "runs" / name / "version_0"
    results.write(run_dir)
    if results_overrides:  # keys of the file set as given (an old or edited results.json)
        path = run_dir / "results.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **results_overrides}, indent=2) + "\n")
    write_val_utterances(val, sums, run_dir)
    config = {"seed_everything": 0, "model": {"n_layer": 2},
              "data": {"class_path": "audiobits.data.TokenBinDataModule", "init_args": {"bins_dir": str(bins)}}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if curve:
        writer = SummaryWriter(str(run_dir))
        for step in (10, 20, 30, 40):
            bits = bits_per_token * (1 + 40 / step) / 2  # falls to bits_per_token at the last step
            writer.add_scalar("val/loss", bits * math.log(2.0), step)
            writer.add_scalar("val/bits_per_sec", bits * results.headline.tokens_per_sec, step)
            writer.add_scalar("train/loss", bits * math.log(2.0) * 1.1, step)
        writer.close()
    return run_dir

"""Proof by compression: ``audiobits compress RUN_DIR`` range-codes a split with the run's final weights into a file
that ``audiobits decompress FILE RUN_DIR`` turns back into the exact ids.

Every utterance is coded on its own context (after one EOS token), so any utterance decodes alone; utterances run
in lockstep lanes for speed (:mod:`audiobits.compress.range_coder`). ``compress`` also writes ``RUN_DIR/compress.json``:
the file's bits/sec beside the cross-entropy of the same logits over exactly the coded tokens, and zstd / xz (and, for
waveform streams, FLAC) on the same utterances. docs/compress.md has the format and what decodes where.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import platform
import sys
import time
import zlib
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from audiobits import metrics
from audiobits.bins import SplitBins, TokenBins
from audiobits.training.checkpoint import read_checkpoint
from audiobits.compress.compress_summary import COMPRESS_FILE
from audiobits.compress.compressed_file import (MAX_LANES, CompressedFile, CompressedFileError, Entry,
                                       ids_checksum)
from audiobits.errors import MissingFileError
from audiobits.files import check_output_file, write_atomic, write_text_atomic
from audiobits.model import GPTConfig, TinyGPT
from audiobits.progress import progress_bar, step_reporter
from audiobits.compress.range_coder import FORMATS, WRITTEN, CachedPredictor, decode_lanes, encode_lanes
from audiobits.compress.segments import block_rows, encode_segments
from audiobits.analysis.runs import load_run

ZSTD_LEVEL = 19
DEFAULT_MEMORY_GIB = 2.0  # compress's lanes by default: as many utterances as fit this (`default_lanes`)
SUSPICIOUS_GAP = 0.25  # payload this much above the run's reported bits/sec: say the score is not achievable
CHECKPOINT = Path("checkpoints") / "last.ckpt"
RUN_DIR_FIX = ("Pass a finished run directory (Lightning's log dir runs/<name>/version_N, holding results.json, "
               "config.yaml and checkpoints/last.ckpt).")
FINAL_WEIGHTS_FIX = ("The run {run} has no complete final weights (it crashed, is still running or was copied in "
                     "part): finish it (`audiobits fit --config <its config.yaml> --ckpt_path <its newest complete "
                     "checkpoint>`) or pass a finished run directory.")


def check_run_dir(run_dir: Path) -> None:
    """Refuse a RUN_DIR that is no folder, or a folder holding no run (neither checkpoints/ nor results.json), as
    the input it is: checked first, so a mistyped one is not reported as a missing output folder or checkpoint."""
    if not run_dir.is_dir():
        problem = "is a file, not a run directory" if run_dir.exists() else "no such folder"
        raise MissingFileError(f"RUN_DIR {run_dir}: {problem}. {RUN_DIR_FIX}")
    if not (run_dir / CHECKPOINT.parent).is_dir() and not (run_dir / "results.json").is_file():
        raise MissingFileError(f"RUN_DIR {run_dir} holds no run (no checkpoints/ folder, no results.json). "
                               f"{RUN_DIR_FIX}")


def output_file(out: str | Path | None, default: Path) -> tuple[Path, str]:
    """The output file and how messages name it: ``--out`` when the user gave one, else the default location
    (checked by `check_output_file` under that name, so a refusal never blames an option the user did not pass)."""
    return (Path(out), "--out") if out else (default, "the default output (--out names another)")


def load_model(run_dir: Path) -> TinyGPT:
    """The run's final weights (``checkpoints/last.ckpt``: Lightning's hyper_parameters and ``model.*`` state) as a
    float32 TinyGPT on the CPU, in eval mode; no Trainer or LightningModule involved. A run without a complete
    last.ckpt (crashed, still running, cut short) is refused naming it (`read_checkpoint`)."""
    checkpoint = read_checkpoint(run_dir / CHECKPOINT, FINAL_WEIGHTS_FIX.format(run=run_dir))
    hp = checkpoint.get("hyper_parameters", {})
    defaults = GPTConfig(vocab_size=0)
    config = GPTConfig(vocab_size=hp["vocab_size"], **{k: hp.get(k, getattr(defaults, k))
                                                       for k in ("seq_len", "n_layer", "n_embd", "n_head")})
    model = TinyGPT(config)
    model.load_state_dict({k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")})
    return model.float().eval()


def weights_sha256(model: TinyGPT) -> str:
    """sha256 over every tensor of the model (name, dtype, shape, bytes) in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def environment(threads: int) -> dict:
    """What the logits' bits depend on besides the weights (docs/compress.md, "Determinism")."""
    return {"device": "cpu", "dtype": "float32", "threads": threads, "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "mkl_cbwr": os.environ.get("MKL_CBWR"),
            "machine": platform.machine()}


@contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` intra-op threads (part of the computation the file depends on), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def lane_bytes(config: GPTConfig, steps: int) -> int:
    """Memory one lane takes while coding: its key/value cache (fp32), about a dozen bytes of coder temporaries
    per vocabulary id (logits, counts, their running sum, the softmax), and per step its ids and fed tokens (int64)
    and the encoder's intervals (three uint64, `segments.encode_segments`)."""
    return 2 * config.n_layer * config.seq_len * config.n_embd * 4 + 48 * config.vocab_size + 40 * steps


def default_lanes(config: GPTConfig, counts: list[int], memory_gib: float) -> int:
    """As many lanes as fit ``memory_gib`` at the longest utterance's length, at most one per utterance: each
    coding step pays its Python and per-call costs once for all lanes, so few passes are fastest."""
    fit = int(memory_gib * 2**30) // lane_bytes(config, max(counts, default=1))
    return max(1, min(fit, len(counts), MAX_LANES))


def lane_plan(counts: list[int], lanes: int) -> list[list[int | None]]:
    """Passes of ``lanes`` utterance indices: longest first (lanes of a pass end close together), utterance k of
    that order in lane ``k % lanes``; the last pass is padded with None."""
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], i))
    order += [None] * (-len(order) % lanes)
    return [order[k:k + lanes] for k in range(0, len(order), lanes)]


def pass_steps(counts: list[list[int]]) -> list[int]:
    """Model steps of each coding pass: its lanes run in lockstep, so as many as its longest utterance."""
    return [max(lane_counts, default=0) for lane_counts in counts]


def decoding_bar(steps: list[int]) -> tqdm:
    """The progress bar of a whole `decompress`: model steps over all passes, rate and ETA."""
    return progress_bar(sum(steps), "[decompress] range coding", "step")


def _utterance(split: SplitBins, i: int) -> np.ndarray:
    return split.read(split.offsets[i], split.offsets[i + 1]).astype(np.int64)


def compress_split(model: TinyGPT, split: SplitBins, eos_id: int, lanes: int, keep: int, header: dict,
                   memory_gib: float = DEFAULT_MEMORY_GIB, log=print) -> tuple[CompressedFile, np.ndarray, float]:
    """Code every utterance of ``split`` (the written format, `encode_segments`); returns the file, each utterance's
    cross-entropy (nats) and the coding seconds. ``lanes`` is the decoder's: each pass of the lane plan is coded
    together, its utterances recorded in the lanes `decompress` steps them in."""
    count = len(split.offsets) - 1
    counts = np.diff(split.offsets).tolist()
    payloads: list[bytes] = [b""] * count
    entries: list[Entry | None] = [None] * count
    nats = np.zeros(count)
    steps = WRITTEN.steps(model)
    rows = block_rows(model.config, keep, int(memory_gib * 2**30))
    started = time.perf_counter()
    plan = lane_plan(counts, lanes)
    with progress_bar(sum(counts), "[compress] range coding", "id") as bar:
        for k, members in enumerate(plan):
            ids = [None if i is None else _utterance(split, i) for i in members]
            if steps.rows_independent:
                coded, lane_nats = encode_segments(steps, ids, eos_id, keep, rows, step_reporter(bar))
            else:  # an earlier format, in lockstep (written by tests of its reader)
                coded, lane_nats = encode_lanes(CachedPredictor(steps, keep), ids, eos_id, coding=WRITTEN)
                bar.update(sum(len(x) for x in ids if x is not None))
            for lane, (i, payload) in enumerate(zip(members, coded)):
                if i is not None:
                    payloads[i], nats[i] = payload, lane_nats[lane]
                    entries[i] = Entry(len(payload), counts[i], lane, zlib.crc32(payload), ids_checksum(ids[lane]))
            log(f"[compress] pass {k + 1}/{len(plan)}: {sum(len(x) for x in ids if x is not None):,} tokens, "
                f"{time.perf_counter() - started:.1f} s")
    return CompressedFile(header, entries, payloads), nats, time.perf_counter() - started


def decompress_file(file: CompressedFile, model: TinyGPT, only: list[int] | None = None, log=print
                    ) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Decode the utterances of ``file`` (all, or the indices ``only``), each in the lane it was coded in.

    Returns the restored ids by index and, for every utterance that could not be restored, why.
    """
    header, entries = file.header, file.entries
    wanted = range(len(entries)) if only is None else only
    failed: dict[int, str] = {}
    for i in wanted:
        if not 0 <= i < len(entries):
            raise CompressedFileError(f"utterance index {i} out of range: the file holds {len(entries)}.")
        if not file.payload_ok(i):
            failed[i] = "payload checksum mismatch: the file is corrupted in this utterance's bytes"
    by_lane: dict[int, list[int]] = defaultdict(list)
    for i in sorted((i for i in wanted if i not in failed), key=lambda i: (-entries[i].tokens, i)):
        by_lane[entries[i].lane].append(i)
    coding = FORMATS[header["format_version"]]
    predictor = CachedPredictor(coding.steps(model), header["context_keep"])
    restored: dict[int, np.ndarray] = {}
    passes = max((len(v) for v in by_lane.values()), default=0)
    plan = [[by_lane[lane][k] if k < len(by_lane[lane]) else None for lane in range(header["lanes"])]
            for k in range(passes)]
    steps = pass_steps([[entries[i].tokens for i in members if i is not None] for members in plan])
    with decoding_bar(steps) as bar:
        for k, members in enumerate(plan):
            payloads = [None if i is None else file.payloads[i] for i in members]
            counts = [0 if i is None else entries[i].tokens for i in members]
            report = step_reporter(bar)
            decoded = decode_lanes(predictor, payloads, counts, header["eos_id"], report, coding)
            report(steps[k], steps[k])
            for i, ids in zip(members, decoded):
                if i is None:
                    continue
                if ids is None or ids_checksum(ids) != entries[i].ids_crc:
                    failed[i] = ("decoded ids differ from the checksum written with them: this machine computes "
                                 "other logits than the one that compressed the file (docs/compress.md, "
                                 "Determinism), or the model is not causal")
                else:
                    restored[i] = ids
            log(f"[decompress] pass {k + 1}/{passes}")
    return restored, failed


def check_run(file: CompressedFile, model: TinyGPT, run_dir: Path, path: Path) -> None:
    """Refuse a run whose weights differ from the ones the file was coded with."""
    header = file.header
    found = weights_sha256(model)
    if found != header["weights_sha256"]:
        raise CompressedFileError(
            f"{path} was coded with weights sha256 {header['weights_sha256'][:16]}… (run {header['run']}), but "
            f"{run_dir / CHECKPOINT} has {found[:16]}…: the probabilities would differ and no id would decode. Pass "
            "the run directory (and checkpoint) that compressed the file.")
    if model.config.vocab_size != header["vocab_size"]:
        raise CompressedFileError(f"{path}: vocab_size {header['vocab_size']}, the run's model "
                                  f"{model.config.vocab_size}.")


def check_bins(file: CompressedFile, bins: TokenBins, path: Path) -> None:
    """Refuse to compare against bins other than the ones the file coded."""
    header, meta = file.header, bins.meta
    split = meta.splits.get(header["split"])
    if split is None or split.sha256 != header["bins_sha256"]:
        raise CompressedFileError(
            f"{path} codes {header['corpus']}/{header['representation']} {header['split']}.bin with sha256 "
            f"{header['bins_sha256'][:16]}…, but the run's bins {bins.directory} are {meta.corpus}/"
            f"{meta.representation} with {header['split']} sha256 "
            f"{split.sha256[:16] if split else 'missing'}…: bins of another corpus or a re-prepared directory. "
            "Pass --check_bins false to decode anyway (the restored ids are checked against the file's own "
            "checksums).")


def baselines(split: SplitBins, meta, seconds: float) -> dict:
    """General-purpose compressors on the same utterances (the stored token bytes, EOS included, one stream),
    and FLAC of the same audio for waveform streams."""
    import zstandard

    raw = np.asarray(split.tokens).tobytes()
    sizes = {"zstd": (len(zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw)), f"level {ZSTD_LEVEL}"),
             "xz": (len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)), "preset 9e")}
    if meta.representation == "mulaw":
        import soundfile as sf

        levels = np.asarray(split.tokens, dtype=np.int64)
        signed = (levels[levels != meta.eos_id] - 128).astype(np.int16) * 256  # 8-bit samples, exactly
        buffer = io.BytesIO()
        sf.write(buffer, signed, int(meta.codebooks[0].frame_rate), format="FLAC", subtype="PCM_S8")
        sizes["flac"] = (len(buffer.getvalue()), "the μ-law levels as 8-bit samples, one file")
    return {name: {"bytes": size, "bits_per_sec": metrics.file_bits_per_second(size, seconds), "settings": how}
            for name, (size, how) in sizes.items()}


def compress_run(run_dir: str | Path, split_name: str = "val", out: str | Path | None = None,
                 lanes: int | None = None, threads: int = 1, verify: bool = True, log=print,
                 memory_gib: float = DEFAULT_MEMORY_GIB) -> dict:
    """Compress one split of a finished run; writes the file and RUN_DIR/compress.json, returns the latter. The
    run (the input: its folder, final weights and results) and then both outputs' folders are checked before
    anything is coded or written. ``lanes`` None: `default_lanes` within ``memory_gib``."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    model = load_model(run_dir)
    run = load_run(run_dir)
    out, out_name = output_file(out, run_dir / f"{split_name}.abz")
    check_output_file(out, out_name)
    check_output_file(run_dir / COMPRESS_FILE, "RUN_DIR")
    bins_dir = run.bins_dir()
    if bins_dir is None:
        raise CompressedFileError(f"{run_dir / 'config.yaml'}: its data section names no prepared bin directory; "
                                  "compress codes the run's own bins.")
    bins = TokenBins(bins_dir)
    meta = bins.meta
    if (meta.corpus, meta.representation) != (run.results.corpus, run.representation):
        raise CompressedFileError(f"{bins_dir} holds {meta.corpus}/{meta.representation}, but the run was trained "
                                  f"and scored on {run.results.corpus}/{run.representation} "
                                  f"({run_dir / 'results.json'}): bins of another corpus. Point the config at the "
                                  "run's own bins.")
    split = bins.split(split_name)
    if model.config.vocab_size != meta.vocab_size:
        raise CompressedFileError(f"{run_dir / CHECKPOINT}: vocab_size {model.config.vocab_size}, {bins_dir} "
                                  f"{meta.vocab_size}: the weights were not trained on these bins.")
    keep = model.config.seq_len - max(model.config.seq_len // 4, 1)
    if lanes is None:
        lanes = default_lanes(model.config, np.diff(split.offsets).tolist(), memory_gib)
    header = {"representation": meta.representation, "corpus": meta.corpus, "split": split_name,
              "bins_sha256": meta.splits[split_name].sha256, "dtype": meta.dtype, "vocab_size": meta.vocab_size,
              "eos_id": meta.eos_id, "utterances": len(split.offsets) - 1, "run": str(run_dir),
              "weights_sha256": weights_sha256(model), "seq_len": model.config.seq_len, "context_keep": keep,
              "lanes": lanes, "format_version": WRITTEN.version, "quantization": WRITTEN.quantization,
              "environment": environment(threads)}
    with torch_threads(threads):
        file, nats, encode_seconds = compress_split(model, split, meta.eos_id, lanes, keep, header, memory_gib, log)
        size = file.write(out)
        decode_seconds = None
        if verify:
            started = time.perf_counter()
            _, failed = decompress_file(CompressedFile.read(out), model, log=log)
            decode_seconds = time.perf_counter() - started
            if failed:
                raise CompressedFileError(f"{out}: {len(failed)} utterance(s) did not decode right after coding "
                                          f"({_describe(failed)}). The model is not causal or not deterministic "
                                          "on this machine; the file is not a proof.")
    summary = summarize(out, size, file, nats, split, encode_seconds, decode_seconds)
    summary["baselines"] = baselines(split, meta, summary["seconds"])
    if split_name == "val":
        summary["reported_bits_per_sec"] = run.results.headline.bits_per_sec
        summary["above_reported"] = summary["compressed_bits_per_sec"] / run.results.headline.bits_per_sec - 1.0
    write_text_atomic(run_dir / COMPRESS_FILE, json.dumps(summary, indent=2) + "\n")
    return summary


def summarize(out: Path, size: int, file: CompressedFile, nats: np.ndarray, split: SplitBins,
              encode_seconds: float, decode_seconds: float | None) -> dict:
    """compress.json's numbers (docs/compress.md)."""
    payload = sum(e.payload_bytes for e in file.entries)
    tokens = int(split.num_tokens)
    seconds = float(np.sum(split.seconds))
    ce_bits = float(nats.sum() / metrics.LN2)
    return {
        "file": str(out), "split": file.header["split"], "utterances": len(file.entries), "tokens": tokens,
        "seconds": seconds, "file_bytes": size, "payload_bytes": payload, "container_bytes": size - payload,
        "cross_entropy_bits": ce_bits,
        "utterance_reset_bits_per_sec": metrics.bits_per_second(float(nats.sum()), seconds),
        "compressed_bits_per_sec": metrics.file_bits_per_second(payload, seconds),
        "overhead": metrics.compression_overhead(8 * payload, ce_bits),
        "file_bits_per_sec": metrics.file_bits_per_second(size, seconds),
        "file_overhead": metrics.compression_overhead(8 * size, ce_bits),
        "encode_tokens_per_sec": tokens / encode_seconds,
        "decode_tokens_per_sec": tokens / decode_seconds if decode_seconds else None,
        "verified": decode_seconds is not None, "lanes": file.header["lanes"],
        "context_keep": file.header["context_keep"], "environment": file.header["environment"],
    }


def _describe(failed: dict[int, str]) -> str:
    return "; ".join(f"#{i}: {why}" for i, why in sorted(failed.items())[:5]) + (" ..." if len(failed) > 5 else "")


def decompress(path: str | Path, run_dir: str | Path, out: str | Path | None = None, only: list[int] | None = None,
               check_bins_: bool = True, log=print) -> dict[int, np.ndarray]:
    """Restore the ids of a compressed file with the run that wrote it; writes ``out`` (npz: ``ids`` concatenated,
    ``offsets``, ``index``) and raises CompressedFileError naming every utterance that could not be restored.
    The inputs (``path``, then the run) are checked first, then ``out``'s folder (it must exist and be writable),
    all before decoding; the file is written whole or not at all."""
    path, run_dir = Path(path), Path(run_dir)
    file = CompressedFile.read(path)
    check_run_dir(run_dir)
    model = load_model(run_dir)
    out, out_name = output_file(out, path.with_suffix(".ids.npz"))
    check_output_file(out, out_name)
    check_run(file, model, run_dir, path)
    bins_dir = load_run(run_dir).bins_dir() if (run_dir / "results.json").is_file() else None
    if check_bins_ and bins_dir is not None:
        check_bins(file, TokenBins(bins_dir), path)
    env, here = file.header["environment"], environment(file.header["environment"]["threads"])
    coder = FORMATS[file.header["format_version"]].quantization["coder"]
    if file.header["quantization"]["coder"] != coder:
        print(f"[decompress] note: coded with {file.header['quantization']['coder']}, decoding with {coder}; if "
              "its quantization changed, utterances fail their checksums", file=sys.stderr)
    if env != here:
        print(f"[decompress] note: coded on {env}, decoding on {here}; where the logits differ by an ULP an "
              f"utterance fails its checksum. To run the encoder's kernels: torch {env['torch']}, "
              f"ATEN_CPU_CAPABILITY={env['cpu_capability'].lower()}"
              + (f" MKL_CBWR={env['mkl_cbwr']}" if env.get("mkl_cbwr") else "")
              + " (docs/compress.md, Determinism)", file=sys.stderr)
    with torch_threads(env["threads"]):
        restored, failed = decompress_file(file, model, only, log)
    order = sorted(restored)
    ids = np.concatenate([restored[i] for i in order]) if order else np.zeros(0, dtype=np.int64)
    write_atomic(out, lambda f: np.savez(f, ids=ids.astype(file.header["dtype"]), index=np.asarray(order, np.int64),
                                         offsets=np.cumsum([0] + [len(restored[i]) for i in order])))
    if only is None and not failed:
        same = hashlib.sha256(ids.astype(file.header["dtype"]).tobytes()).hexdigest() == file.header["bins_sha256"]
        log(f"[decompress] {len(order)} utterances restored to {out}; sha256 of the ids "
            f"{'equals' if same else 'DIFFERS from'} the coded {file.header['split']}.bin's")
    if failed:
        raise CompressedFileError(f"{path}: {len(failed)} of {len(failed) + len(restored)} utterance(s) could not "
                                  f"be restored ({_describe(failed)}); the other {len(restored)} are in {out}.")
    return restored


def main(run: str, split: str = "val", out: str | None = None, lanes: int | None = None,
         memory_gib: float = DEFAULT_MEMORY_GIB, threads: int = 1, verify: bool = True) -> None:
    """Range-code a run's validation split with its model, decode and check it.

    Args:
        run: a finished run directory (results.json, config.yaml, checkpoints/last.ckpt).
        split: which split of the run's bins to code.
        out: the file to write (RUN_DIR/<split>.abz).
        lanes: utterances coded side by side (fixed in the file; decompress runs as many). Default: as many as fit
            --memory_gib, at most one per utterance.
        memory_gib: memory the default lanes may take (key/value caches and coder buffers).
        threads: torch threads while coding (fixed in the file).
        verify: decode the file again and check every id.
    """
    summary = compress_run(run, split, out, lanes, threads, verify, memory_gib=memory_gib)
    print(f"{summary['file']}: coded {summary['compressed_bits_per_sec']:,.1f} bits/s, {summary['overhead']:+.2%} "
          f"over the cross-entropy {summary['utterance_reset_bits_per_sec']:,.1f} bits/s (whole file with header and "
          f"index: {summary['file_bytes']:,} bytes, {summary['file_bits_per_sec']:,.1f} bits/s); "
          + ", ".join(f"{k} {v['bits_per_sec']:,.1f}" for k, v in summary["baselines"].items())
          + f" bits/s. {'Decoded and checked.' if summary['verified'] else 'Not verified.'}")
    if summary.get("above_reported", 0.0) > SUSPICIOUS_GAP:
        print(f"audiobits compress: the run reports {summary['reported_bits_per_sec']:,.1f} bits/s but its decodable "
              f"code needs {summary['compressed_bits_per_sec']:,.1f} ({summary['above_reported']:+.0%}). Coding each "
              "utterance alone costs a few percent of context; far more means the reported score saw tokens it "
              "should not have (a model that peeks at the future cannot be decoded).", file=sys.stderr)

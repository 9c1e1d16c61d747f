"""Cost of writing a rank's quality partial file whole after every chunk (`files.append_json_lines`) against the
in-place append it replaced, for a corpus split scored on one rank; and, for scale, one read of every row, which
`QualityJob.score_items` does before each chunk (before and after this change).

Rows are shaped like `audiobits quality`'s (id, seconds, the four signal scores, the listeners' record, the two
transcripts: ~600 bytes); a chunk is 32 rows, as `quality.CHUNK_ROWS`. Both writers go to a temporary folder that is
deleted afterwards.

    python benchmarks/partial_file_writes.py                  # 20,000 utterances (a 60 h split) on one rank
    python benchmarks/partial_file_writes.py --utterances 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from audiobits.files import append_json_lines, read_json_lines


def row(i: int) -> dict:
    return {"id": f"speaker_{i % 40:03d}/utterance_{i:06d}.flac", "seconds": 10.8, "si_sdr": -3.2, "stoi": 0.81,
            "log_mel_distance": 1.2, "pesq_wb": 2.4, "wer_words": 22, "wer_original": 0.04, "wer": 0.09,
            "speaker_similarity": 0.71, "transcript": "the quick brown fox jumps over the lazy dog " * 3,
            "transcript_original": "the quick brown fox jumps over the lazy dog " * 3,
            "listeners": {"asr_model": "openai/whisper-large-v3-turbo", "speaker_model": "microsoft/wavlm-base-plus-sv",
                          "language": "en", "originals": "whole"}}


def append_in_place(path: Path, rows: list[dict]) -> None:
    """The baseline: what quality did before (a torn last line possible on a crash)."""
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def timed(write, path: Path, utterances: int, chunk: int) -> float:
    started = time.perf_counter()
    for start in range(0, utterances, chunk):
        write(path, [row(i) for i in range(start, min(start + chunk, utterances))])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        baseline = timed(append_in_place, Path(folder) / "in_place.jsonl", args.utterances, args.chunk)
        whole = timed(append_json_lines, Path(folder) / "whole.jsonl", args.utterances, args.chunk)
        size = (Path(folder) / "whole.jsonl").stat().st_size
        assert size == (Path(folder) / "in_place.jsonl").stat().st_size
        started = time.perf_counter()
        read_json_lines(Path(folder) / "whole.jsonl")
        read = time.perf_counter() - started
    chunks = -(-args.utterances // args.chunk)
    print(f"{args.utterances} utterances in {chunks} chunks of {args.chunk}; final file {size / 1e6:.1f} MB")
    print(f"append in place (before) : {baseline:8.2f} s  ({baseline / chunks * 1e3:.2f} ms per chunk)")
    print(f"written whole (now)      : {whole:8.2f} s  ({whole / chunks * 1e3:.2f} ms per chunk, "
          f"{size * (chunks + 1) / 2 / 1e9:.1f} GB written in all)")
    print(f"for scale: reading every row once, which scoring does before each chunk (unchanged): {read * 1e3:.0f} ms "
          "at the end")


if __name__ == "__main__":
    main()

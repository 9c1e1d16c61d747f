"""Cost of writing a rank's quality scores as one partial file per chunk, each whole (`files.write_json_lines`), against
the in-place append of one partial file per rank it replaced (which a crash could leave with half a row), for a corpus
split scored on one rank; and one read of every row, which `QualityJob` now does once per process (before: before
each chunk).

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

from audiobits.files import read_json_lines, write_json_lines


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


def file_per_chunk(folder: Path, rows: list[dict]) -> None:
    """Now: each chunk's rows in a file of their own, written whole."""
    write_json_lines(folder / f"quality.partial.rank0.{int(rows[0]['id'][-11:-5]):08d}.jsonl", rows)


def timed(write, target: Path, utterances: int, chunk: int) -> float:
    started = time.perf_counter()
    for start in range(0, utterances, chunk):
        write(target, [row(i) for i in range(start, min(start + chunk, utterances))])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        appended, parts = Path(folder) / "in_place.jsonl", Path(folder) / "parts"
        parts.mkdir()
        baseline = timed(append_in_place, appended, args.utterances, args.chunk)
        now = timed(file_per_chunk, parts, args.utterances, args.chunk)
        size = appended.stat().st_size
        assert size == sum(p.stat().st_size for p in parts.iterdir())
        started = time.perf_counter()
        rows = [r for p in sorted(parts.iterdir()) for r in read_json_lines(p)]
        read = time.perf_counter() - started
        assert rows == read_json_lines(appended)
    chunks = -(-args.utterances // args.chunk)
    print(f"{args.utterances} utterances in {chunks} chunks of {args.chunk}; {size / 1e6:.1f} MB of rows")
    print(f"append in place, one file per rank (before): {baseline:7.2f} s  "
          f"({baseline / chunks * 1e3:.2f} ms per chunk)")
    print(f"one file per chunk, written whole (now)    : {now:7.2f} s  ({now / chunks * 1e3:.2f} ms per chunk)")
    print(f"reading every row (once per process now; before: before each chunk): {read * 1e3:.0f} ms")


if __name__ == "__main__":
    main()

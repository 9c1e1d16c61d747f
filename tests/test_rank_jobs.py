"""The rank-job runner: every item done by exactly one rank, finished items skipped on a rerun, the merge on global
rank 0 through `Trainer.predict`, and a rank's partial file never seen half-written."""

import json
import os
from pathlib import Path

import pytest

from audiobits.files import read_json, read_json_lines, write_text_atomic
from audiobits.rank_jobs import items_of_rank, run_here, run_on_ranks

def _square(item: int) -> int:
    return item * item


class SquaresJob:
    """Items 0..n-1; doing item i writes ``<folder>/<i>.json`` with i², the rank that did it, and the call count."""

    name = "squares"

    def __init__(self, folder: Path, n: int) -> None:
        self.folder, self.n = folder, n
        self.done: list[int] = []
        self.started: list[tuple[int, list[int]]] = []
        self.stopped = 0

    def items(self) -> list[int]:
        return list(range(self.n))

    def unfinished(self, items):
        return [i for i in items if not (self.folder / f"{i}.json").is_file()]

    def reader(self):
        return _square

    def to(self, device) -> None:
        self.device = str(device)

    def start(self, rank, items) -> None:
        self.started.append((rank, list(items)))

    def run(self, item, loaded, rank) -> int:
        self.done.append(item)
        write_text_atomic(self.folder / f"{item}.json", json.dumps({"item": item, "square": loaded, "rank": rank}))
        return 1

    def stop(self) -> None:
        self.stopped += 1

    def merge(self) -> dict[int, dict]:
        return {i: read_json(self.folder / f"{i}.json", fix="") for i in range(self.n)}


@pytest.mark.parametrize("n", [0, 1, 5, 12, 13])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_the_ranks_shares_cover_every_item_exactly_once(n, world_size):
    shares = [items_of_rank(list(range(n)), rank, world_size) for rank in range(world_size)]
    assert sorted(i for share in shares for i in share) == list(range(n))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1  # balanced: no rank holds two more than another


def test_a_rank_outside_the_world_is_refused():
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        items_of_rank([1, 2, 3], 2, 2)


def test_every_item_is_done_once_by_its_rank_and_a_rerun_does_only_the_missing_ones(tmp_path):
    job = SquaresJob(tmp_path, 11)
    for rank in range(3):
        assert run_here(job, rank, 3) == len(range(rank, 11, 3))
    assert sorted(job.done) == list(range(11)) and job.stopped == 3
    merged = job.merge()
    assert all(merged[i] == {"item": i, "square": i * i, "rank": i % 3} for i in range(11))
    for gone in (4, 7):  # as if a crash lost these two items' files
        (tmp_path / f"{gone}.json").unlink()
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    job.done, job.started = [], []
    assert run_here(job, 1, 3) == 2  # both are rank 1's (k mod 3 == 1)
    assert job.done == [4, 7] and job.started == [(1, [4, 7])]
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name in before} == before  # untouched
    job.done = []
    assert run_here(job, 0, 1) == 0 and job.done == []  # all finished: a rerun does nothing


def test_through_the_trainer_every_item_is_done_and_global_rank_0_merges(tmp_path):
    from audiobits.prepare.encode import EncodeOptions

    job = SquaresJob(tmp_path, 7)
    (tmp_path / "3.json").write_text(json.dumps({"item": 3, "square": 9, "rank": "earlier run"}))
    placement = EncodeOptions(accelerator="cpu", devices=1, num_workers=1)
    merged = run_on_ranks(job, placement, job.merge)
    assert sorted(job.done) == [0, 1, 2, 4, 5, 6] and job.device == "cpu" and job.started == [(0, [0, 1, 2, 4, 5, 6])]
    assert merged[3]["rank"] == "earlier run" and [merged[i]["square"] for i in range(7)] == [0, 1, 4, 9, 16, 25, 36]


class _Interrupted:
    """A file whose write stores the first half of what it is given, then the process is interrupted."""

    def __init__(self, file) -> None:
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()

    def write(self, data: bytes) -> None:
        self.file.write(data[:len(data) // 2])
        raise KeyboardInterrupt


def test_a_partial_file_is_never_seen_half_written_when_its_writer_is_interrupted_mid_write(tmp_path, monkeypatch):
    """A rank stopped half-way through writing a chunk's rows: no row of that chunk is there (an append in place
    would leave half a row), the earlier chunk's file is whole, and no temporary file is left."""
    from audiobits import files

    first = tmp_path / "quality.partial.rank0.00000000.jsonl"
    files.write_json_lines(first, [{"id": "0", "stoi": 0.5}])
    monkeypatch.setattr(files, "open", lambda *args, **kwargs: _Interrupted(open(*args, **kwargs)), raising=False)
    second = tmp_path / "quality.partial.rank0.00000001.jsonl"
    with pytest.raises(KeyboardInterrupt):
        files.write_json_lines(second, [{"id": "1", "stoi": 0.25}, {"id": "2", "stoi": 0.75}])
    assert os.listdir(tmp_path) == [first.name] and read_json_lines(first) == [{"id": "0", "stoi": 0.5}]
    monkeypatch.undo()
    files.write_json_lines(second, [{"id": "1", "stoi": 0.25}])  # the rerun writes the chunk whole
    assert read_json_lines(second) == [{"id": "1", "stoi": 0.25}]
    files.write_json_lines(tmp_path / "none.jsonl", [])  # a chunk with nothing newly scored writes nothing
    assert sorted(os.listdir(tmp_path)) == [first.name, second.name]


def test_a_torn_line_left_by_an_older_release_is_skipped(tmp_path):
    path = tmp_path / "quality.partial.rank0.jsonl"
    path.write_text('{"id": "0"}\n{"id": "to')  # releases before 2026-12-07 appended in place and could be cut off
    assert read_json_lines(path) == [{"id": "0"}]

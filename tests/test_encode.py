"""Encoding a corpus into bins: exact bookkeeping, resume after a crash, iso-data drops, ranks and Lightning."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_builders import encoded, speech_rows, tone, write_audio_folder

from audiobits.bins import TokenBins, is_complete
from audiobits.corpora import AudioFolder
from audiobits.errors import AudiobitsError
from audiobits.prepare.encode import EncodeJob, EncodeOptions
from audiobits.prepare.common_utterances import read_dropped, stale_utterances
from audiobits.prepare.merge import merge_shards
from audiobits.prepare.prepare import prepare_bins, refresh_bins
from audiobits.representations import build
from audiobits.representations.mulaw import MuLawRepresentation

OPTIONS = EncodeOptions(shard_size=3, batch_size=2, num_workers=0)


class CountingMuLaw(MuLawRepresentation):
    """μ-law that records which utterances it encoded and, like a node dying, raises after ``crash_after``."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        self.encoded: list[str] = []
        self.crash_after = crash_after

    def encode(self, batch):
        if self.crash_after is not None and len(self.encoded) + len(batch) > self.crash_after:
            raise KeyboardInterrupt("simulated crash")
        self.encoded += [u.id for u in batch]
        return super().encode(batch)


@pytest.fixture
def folder(tmp_path):
    return write_audio_folder(tmp_path / "corpus", {"train": speech_rows(10), "val": speech_rows(3, prefix="v")})


def sha(directory):
    return {name: split.sha256 for name, split in TokenBins(directory).meta.splits.items()}


def test_text_end_to_end_into_bins(folder, tmp_path):
    import tiktoken

    corpus = AudioFolder(str(folder))
    out = prepare_bins(corpus, build("text"), tmp_path / "bins", OPTIONS, device="cpu")
    assert out == tmp_path / "bins" / "corpus" / "text" and not (out.parent / "text.shards").exists()
    bins = TokenBins(out, verify_checksum=True)
    gpt2 = tiktoken.get_encoding("gpt2")
    for split, count, prefix in (("train", 10, "u"), ("val", 3, "v")):
        part = bins.split(split)
        assert list(part.ids) == [f"{prefix}{i:03d}.wav" for i in range(count)]  # corpus order, not length order
        for i in range(count):
            text = corpus.load(split, i, i + 1)[0].text
            tokens = part.tokens[part.offsets[i]:part.offsets[i + 1]]
            assert tokens.tolist() == gpt2.encode_ordinary(text) + [50256]
            assert part.text_bytes[i] == len(text.encode("utf-8"))
            assert part.seconds[i] == sf.info(folder / split / part.ids[i]).frames / 16000
    meta = bins.meta
    assert meta.representation == "text" and meta.corpus == "corpus" and meta.vocab_size == 50257
    assert meta.splits["train"].seconds == pytest.approx(sum(0.2 + 0.05 * i for i in range(10)), abs=1e-12)
    assert meta.extra["dropped_utterances"] == {"train": 0, "val": 0}


def test_interrupted_encode_resumes_without_redoing_finished_shards(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    crashing = CountingMuLaw(crash_after=7)
    with pytest.raises(KeyboardInterrupt):
        prepare_bins(corpus, crashing, tmp_path / "bins", OPTIONS, device="cpu")
    shard_dir = tmp_path / "bins" / "corpus" / "mulaw.shards"
    # 3 + 3 utterances finished two shards; the third shard's second batch crashed before its file was written
    assert sorted(p.name for p in shard_dir.iterdir()) == ["plan.json", "train-000000.npz", "train-000001.npz"]
    assert not is_complete(tmp_path / "bins" / "corpus" / "mulaw")
    assert not (tmp_path / "bins" / "corpus" / "mulaw.lock").exists()  # released and removed by the crash

    resumed = CountingMuLaw()
    out = prepare_bins(corpus, resumed, tmp_path / "bins", OPTIONS, device="cpu")
    finished = {f"u{i:03d}.wav" for i in range(6)}
    assert sorted(resumed.encoded) == sorted({f"u{i:03d}.wav" for i in range(10)} - finished
                                             | {f"v{i:03d}.wav" for i in range(3)})

    fresh = CountingMuLaw()
    reference = prepare_bins(corpus, fresh, tmp_path / "reference", OPTIONS, device="cpu")
    assert len(fresh.encoded) == 13 and sha(out) == sha(reference)


def test_broken_audio_is_dropped_from_every_representation(tmp_path, caplog):
    nan_wav = encoded(np.concatenate([tone(0.3, 16000), [np.nan]]).astype(np.float32), 16000, subtype="FLOAT")
    rows = speech_rows(4)
    rows.insert(1, ("broken.wav", "never heard", b"RIFF$\x00\x00\x00WAVEfmt truncated"))
    rows.insert(3, ("nan.wav", "a header fine for text, samples not for audio codecs", nan_wav))
    folder = write_audio_folder(tmp_path / "corpus", {"train": rows, "val": speech_rows(2, prefix="v")})
    corpus, root = AudioFolder(str(folder)), tmp_path / "bins"

    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.encode"):
        text_dir = prepare_bins(corpus, build("text"), root, OPTIONS, device="cpu")
    assert any("broken.wav" in r.getMessage() and str(folder / "train" / "broken.wav") in r.getMessage()
               for r in caplog.records)
    assert list(TokenBins(text_dir).split("train").ids) == ["u000.wav", "u001.wav", "nan.wav", "u002.wav",
                                                           "u003.wav"]

    mulaw_dir = prepare_bins(corpus, MuLawRepresentation(), root, OPTIONS, device="cpu")
    dropped = read_dropped(root / "corpus")
    assert dropped.keys() == {("train", "broken.wav"), ("train", "nan.wav")}
    assert dropped["train", "broken.wav"]["representation"] == "text"
    assert "broken.wav" in dropped["train", "broken.wav"]["reason"]
    assert dropped["train", "nan.wav"]["representation"] == "mulaw"
    assert "finite" in dropped["train", "nan.wav"]["reason"]

    # the text bins were written before mulaw dropped nan.wav: detectably stale, then rewritten without re-encoding
    assert stale_utterances(text_dir, dropped) == {("train", "nan.wav")}
    before = TokenBins(text_dir).split("train")
    kept_tokens = np.array(before.tokens[before.offsets[3]:before.offsets[4]])  # u002.wav
    assert refresh_bins(corpus, text_dir)
    assert stale_utterances(text_dir, read_dropped(root / "corpus")) == set()
    text, mulaw = TokenBins(text_dir, verify_checksum=True), TokenBins(mulaw_dir)
    for split in ("train", "val"):
        assert list(text.split(split).ids) == list(mulaw.split(split).ids)
        assert list(text.split(split).seconds) == list(mulaw.split(split).seconds)
    after = text.split("train")
    assert list(after.ids) == ["u000.wav", "u001.wav", "u002.wav", "u003.wav"]
    np.testing.assert_array_equal(after.tokens[after.offsets[2]:after.offsets[3]], kept_tokens)
    assert text.meta.extra["dropped_utterances"] == {"train": 2, "val": 0}


def test_ranks_share_shards_and_merge_to_the_single_process_result(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    single = prepare_bins(corpus, MuLawRepresentation(), tmp_path / "single", OPTIONS, device="cpu")
    job = EncodeJob(corpus, MuLawRepresentation(), tmp_path / "ranks", OPTIONS)
    job.start_plan()
    names = [s.name for s in job.shards()]
    assert names == ["train-000000", "train-000001", "train-000002", "train-000003", "val-000000"]
    job.encode_pending(rank=1, world_size=2)
    assert sorted(p.stem for p in job.shard_dir.glob("*.npz")) == ["train-000001", "train-000003"]
    job.encode_pending(rank=0, world_size=2)
    merge_shards(job)
    assert sha(job.bins_dir) == sha(single)


def test_lightning_predict_loop_gives_the_same_bins(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    single = prepare_bins(corpus, MuLawRepresentation(), tmp_path / "single", OPTIONS, device="cpu")
    options = EncodeOptions(shard_size=3, batch_size=2, num_workers=1, accelerator="cpu", devices=1)
    through_trainer = prepare_bins(corpus, MuLawRepresentation(), tmp_path / "trainer", options)
    assert sha(through_trainer) == sha(single)


def test_changed_plan_discards_old_shards(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    job = EncodeJob(corpus, MuLawRepresentation(), tmp_path, OPTIONS)
    job.start_plan()
    job.encode_pending(rank=0, world_size=5)  # one shard
    assert len(list(job.shard_dir.glob("*.npz"))) == 1
    other = EncodeJob(corpus, MuLawRepresentation(), tmp_path, EncodeOptions(shard_size=4, num_workers=0))
    other.start_plan()
    assert list(other.shard_dir.glob("*.npz")) == []
    assert json.loads((other.shard_dir / "plan.json").read_text())["shard_size"] == 4


class BrokenEncoder(MuLawRepresentation):
    def encode(self, batch):
        raise RuntimeError("CUDA error: device-side assert triggered")


def test_an_encoder_failing_everywhere_stops_instead_of_dropping_everything(folder, tmp_path):
    with pytest.raises(RuntimeError, match="failed on every utterance.*device-side assert.*nothing was dropped"):
        prepare_bins(AudioFolder(str(folder)), BrokenEncoder(), tmp_path, OPTIONS, device="cpu")
    assert read_dropped(tmp_path / "corpus") == {}


def test_a_different_corpus_under_the_same_name_is_refused(folder, tmp_path):
    prepare_bins(AudioFolder(str(folder)), build("text"), tmp_path, OPTIONS, device="cpu")
    other = write_audio_folder(tmp_path / "elsewhere" / "corpus", {"train": speech_rows(2), "val": speech_rows(1)})
    with pytest.raises(ValueError, match="give the corpus another name"):
        prepare_bins(AudioFolder(str(other)), build("text"), tmp_path, OPTIONS, device="cpu")


class PidLoggingMuLaw(MuLawRepresentation):
    """μ-law that appends the ids it encodes to ``<folder>/<process id>.txt``."""

    def __init__(self, folder) -> None:
        super().__init__()
        self.folder = folder

    def encode(self, batch):
        with open(self.folder / f"{os.getpid()}.txt", "a") as f:
            f.writelines(f"{u.id}\n" for u in batch)
        return super().encode(batch)


@pytest.mark.slow
def test_two_processes_through_ddp_encode_their_own_shards(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    single = prepare_bins(corpus, MuLawRepresentation(), tmp_path / "single", OPTIONS, device="cpu")
    options = EncodeOptions(shard_size=3, batch_size=2, num_workers=0, accelerator="cpu", devices=2,
                            strategy="ddp_spawn")
    (tmp_path / "pids").mkdir()
    out = prepare_bins(corpus, PidLoggingMuLaw(tmp_path / "pids"), tmp_path / "ddp", options)
    assert sha(out) == sha(single)
    per_process = [set(p.read_text().split()) for p in (tmp_path / "pids").iterdir()]
    assert len(per_process) == 2 and not per_process[0] & per_process[1]
    shards = [{f"u{i:03d}.wav" for i in range(k, min(k + 3, 10))} for k in range(0, 10, 3)]
    rank0 = shards[0] | shards[2] | {f"v{i:03d}.wav" for i in range(3)}  # shards 0, 2, 4 of the global list
    assert sorted(per_process, key=len, reverse=True) == [rank0, shards[1] | shards[3]]


def test_records_name_the_corpus_kind_not_its_module(folder, tmp_path):
    corpus = AudioFolder(str(folder))
    job = EncodeJob(corpus, MuLawRepresentation(), tmp_path, OPTIONS)
    job.start_plan()
    prepare_bins(corpus, build("text"), tmp_path, OPTIONS, device="cpu")
    for record in (json.loads((tmp_path / "corpus" / "corpus.json").read_text()),
                   json.loads((job.shard_dir / "plan.json").read_text())["corpus"]):
        assert record == {"kind": "audio_folder", "root": str(folder)}


def test_records_written_with_the_class_path_still_match(folder, tmp_path):
    """corpus.json and plan.json of earlier versions named the class (`"class": "audiobits.corpora.AudioFolder"`):
    the same corpus is still accepted, and an interrupted encode keeps its shards."""
    corpus = AudioFolder(str(folder))
    job = EncodeJob(corpus, MuLawRepresentation(), tmp_path, OPTIONS)
    job.start_plan()
    job.encode_pending(rank=0, world_size=5)  # one finished shard
    old = {"class": "audiobits.corpora.AudioFolder", "root": str(folder)}
    (tmp_path / "corpus").mkdir(exist_ok=True)
    (tmp_path / "corpus" / "corpus.json").write_text(json.dumps(old))
    plan = json.loads((job.shard_dir / "plan.json").read_text())
    (job.shard_dir / "plan.json").write_text(json.dumps({**plan, "corpus": old}))

    counting = CountingMuLaw()
    prepare_bins(corpus, counting, tmp_path, OPTIONS, device="cpu")
    assert len(counting.encoded) == 13 - 3  # the finished shard was kept
    prepare_bins(corpus, build("text"), tmp_path, OPTIONS, device="cpu")  # not refused as another corpus

    other = {"class": "audiobits.corpora.AudioFolder", "root": str(tmp_path / "elsewhere")}
    (tmp_path / "corpus" / "corpus.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="give the corpus another name"):
        prepare_bins(corpus, build("text"), tmp_path, OPTIONS, device="cpu")


def test_a_corpus_class_must_declare_its_own_kind(folder):
    class MyFolder(AudioFolder):
        pass

    with pytest.raises(TypeError, match="MyFolder must declare its own `kind"):
        MyFolder(str(folder)).describe()

    class Declared(AudioFolder):
        kind = "my_folder"

    assert Declared(str(folder)).describe()["kind"] == "my_folder"


class Gated(MuLawRepresentation):
    """μ-law that signals when it starts encoding and then waits to be released (a long encode in progress)."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def encode(self, batch):
        self.started.set()
        assert self.release.wait(120)
        return super().encode(batch)


def in_thread(function, *args, **kwargs) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_second_prepare_of_the_same_bins_waits_for_the_first_and_leaves_nothing_behind(folder, tmp_path, caplog):
    """Two `audiobits prepare` of one corpus at once: the second waits (saying for whom) instead of racing the first
    into a half-merged, shard-less state; then it finds the bins complete and encodes nothing."""
    corpus = AudioFolder(str(folder))
    first_rep, second_rep = Gated(), CountingMuLaw()
    first, first_outcome = in_thread(prepare_bins, corpus, first_rep, tmp_path, OPTIONS, device="cpu")
    assert first_rep.started.wait(120)
    lock = tmp_path / "corpus" / "mulaw.lock"
    assert lock.read_text().startswith(f"pid {os.getpid()} on ")
    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.prepare"):
        second, second_outcome = in_thread(prepare_bins, corpus, second_rep, tmp_path, OPTIONS, device="cpu")
        deadline = time.monotonic() + 120
        while not any("waiting for it to finish" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline and second.is_alive(), second_outcome
            time.sleep(0.05)
        assert any(f"pid {os.getpid()}" in r.getMessage() and str(lock) in r.getMessage() for r in caplog.records)
        first_rep.release.set()
        first.join(120)
        second.join(120)
    assert "error" not in first_outcome and "error" not in second_outcome, (first_outcome, second_outcome)
    assert first_outcome["value"] == second_outcome["value"] == tmp_path / "corpus" / "mulaw"
    assert second_rep.encoded == []  # it found the first one's bins complete
    TokenBins(tmp_path / "corpus" / "mulaw", verify_checksum=True)
    # no stray shards, lock or temporary directory (train/ and val/ are the recordings: the root is their folder)
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == ["corpus.json", "mulaw", "train", "val"]


def test_finished_bins_are_read_without_the_lock(folder, tmp_path):
    """Fits on finished bins run side by side: only writing takes the lock."""
    corpus = AudioFolder(str(folder))
    out = prepare_bins(corpus, MuLawRepresentation(), tmp_path, OPTIONS, device="cpu")
    from audiobits.prepare.prepare import bins_lock

    with bins_lock(out):  # another process writing other bins of this name would hold it
        thread, outcome = in_thread(refresh_bins, corpus, out)
        thread.join(60)
    assert outcome == {"value": True}


WAITER = """
import logging, sys
from audiobits.prepare.prepare import bins_lock
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
with bins_lock(sys.argv[1]):
    print("locked", flush=True)
"""


def test_a_second_process_waits_for_the_lock_and_its_message_names_the_holder(tmp_path):
    """Another process (not a thread of this one) meets the lock: it says who holds it and where, waits until
    this process lets go, then takes the lock; the lock file is gone afterwards."""
    from audiobits.prepare.prepare import bins_lock

    bins = tmp_path / "corpus" / "mulaw"
    environment = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")}
    with bins_lock(bins):
        second = subprocess.Popen([sys.executable, "-c", WAITER, str(bins)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={**environment, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        said = second.stderr.readline()  # its first line: the warning (a crash would show its traceback here)
        assert said == (f"{bins} is being written by pid {os.getpid()} on {socket.gethostname()} (another "
                        f"`audiobits prepare` or `fit`); waiting for it to finish (lock {bins}.lock)\n")
        time.sleep(1.0)
        assert second.poll() is None  # still waiting
    out, err = second.communicate(timeout=120)
    assert (out, second.returncode) == ("locked\n", 0), err
    assert not (bins.parent / "mulaw.lock").exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, the kernel's always-full device")
def test_a_full_disk_while_writing_a_shard_names_the_file_and_leaves_no_partial_file(folder, tmp_path):
    """The shard's temporary file is a link to /dev/full, so the write fails with the kernel's own ENOSPC."""
    corpus = AudioFolder(str(folder))
    shard = tmp_path / "corpus" / "mulaw.shards" / "train-000001.npz"
    shard.parent.mkdir(parents=True)
    tmp = shard.with_name(f"{shard.name}.tmp-{os.getpid()}")
    tmp.symlink_to("/dev/full")
    with pytest.raises(AudiobitsError, match=f"cannot write {shard}: No space left on device. Free space"):
        prepare_bins(corpus, MuLawRepresentation(), tmp_path, OPTIONS, device="cpu")
    assert not os.path.lexists(tmp) and not shard.exists()
    assert sorted(p.name for p in shard.parent.iterdir()) == ["plan.json", "train-000000.npz"]  # finished work kept
    assert not (tmp_path / "corpus" / "mulaw.lock").exists()
    counting = CountingMuLaw()
    prepare_bins(corpus, counting, tmp_path, OPTIONS, device="cpu")  # space freed: the same command finishes
    assert len(counting.encoded) == 13 - 3


def test_a_long_recording_gets_a_warning_naming_it_and_the_memory_page(folder, tmp_path, caplog, monkeypatch):
    from audiobits.prepare import encode
    monkeypatch.setattr(encode, "LONG_RECORDING_SECONDS", 0.42)  # speech_rows' u00i.wav lasts 0.2 + 0.05 i s
    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.encode"):
        prepare_bins(AudioFolder(str(folder)), MuLawRepresentation(), tmp_path / "bins", OPTIONS, device="cpu")
    warnings = [r.getMessage() for r in caplog.records if "encodes each recording whole" in r.getMessage()]
    assert warnings and all("mulaw" in w and "docs/long_recordings.md" in w for w in warnings)
    named = {w.split("'")[1] for w in warnings}  # the longest of each shard of 3 that has one over 0.42 s
    assert named == {"u005.wav", "u008.wav", "u009.wav"}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.encode"):  # read block by block: no warning
        prepare_bins(AudioFolder(str(folder)), MuLawRepresentation(resampler="polyphase"), tmp_path / "bins1",
                     OPTIONS, device="cpu")
    assert not any("encodes each recording whole" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr(encode, "LONG_RECORDING_SECONDS", 1800.0)
    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.encode"):
        prepare_bins(AudioFolder(str(folder)), MuLawRepresentation(), tmp_path / "bins2", OPTIONS, device="cpu")
    assert not any("encodes each recording whole" in r.getMessage() for r in caplog.records)

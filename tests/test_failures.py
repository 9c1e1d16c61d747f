"""Every failure a user meets ends in one clear ``audiobits: error: ...`` line and leaves their files as they were.

Each test makes one failure happen for real (a rewritten bin directory, a full disk, a broken metadata.csv, ...),
asserts the message names the file/field and the fix, and compares a listing + sha256 of every file before and
after: a refusal must not have written, moved or deleted anything.
"""

import builtins
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from corpus_builders import encoded, speech_rows, tone, write_audio_folder

from audiobits import bins as bins_module
from audiobits.bins import BinFormatError, TokenBins
from audiobits.cli import main
from audiobits.corpora import AudioFolder
from audiobits.data import TokenBinDataModule
from audiobits.datamodules import CodecDataModule, TextDataModule
from audiobits.prepare.encode import EncodeOptions
from audiobits.prepare.common_utterances import read_dropped
from audiobits.errors import AudiobitsError
from audiobits.demo.synthetic import write_markov_bins
from disk_checks import error_line, snapshot
from run_dirs import make_run


# --- token bins ----------------------------------------------------------------------------------------------
def test_a_meta_json_dtype_that_is_no_numpy_type_names_the_file_and_field(tmp_path):
    out = tmp_path / "bins"
    write_markov_bins(out, train_utterances=4, val_utterances=2)
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps({**meta, "dtype": "uint17"}))
    before = snapshot(tmp_path)
    with pytest.raises(BinFormatError, match=r"meta.json: field dtype is 'uint17', not a numpy type.*prepare it "):
        TokenBins(out)
    assert snapshot(tmp_path) == before


def fill_the_disk(monkeypatch) -> None:
    """From now on writes to any ``val.bin`` go to /dev/full, which fails them with ENOSPC as a full disk does."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux) to fail writes with ENOSPC")

    def open_on_full_disk(path, mode="r", *args, **kwargs):
        if Path(path).name == "val.bin" and "w" in mode:
            return builtins.open("/dev/full", mode, *args, **kwargs)
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(bins_module, "open", open_on_full_disk, raising=False)


@pytest.mark.parametrize("val_utterances", [200, 2], ids=["fails-while-adding", "fails-when-flushed-at-close"])
def test_a_full_disk_while_writing_bins_names_the_path_and_keeps_the_old_bins(tmp_path, monkeypatch, val_utterances):
    out = tmp_path / "data" / "markov"
    write_markov_bins(out, train_utterances=4, val_utterances=2, seed=1)  # bins from an earlier run: kept
    before = snapshot(tmp_path)
    fill_the_disk(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        main(["synthetic", "--out", str(out), "--train_utterances", "20", "--val_utterances", str(val_utterances)])
    message = error_line(exit_info)
    written = f"{out}.tmp-{os.getpid()}" + ("/val.bin" if val_utterances == 200 else "")  # the file, or its folder
    assert message == (f"audiobits: error: cannot write {written}: No space left on device. Free space on that disk "
                       "(or fix its permissions / quota), then run the same command again: finished work is kept.")
    assert snapshot(tmp_path) == before  # no <dir>.tmp-<pid> left behind, the earlier bins untouched
    monkeypatch.undo()
    TokenBins(out, verify_checksum=True)


# --- audiobits report over a glob that meets unfinished runs -------------------------------------------------
def test_report_over_a_glob_skips_crashed_running_and_empty_run_dirs_with_one_line_each(tmp_path, capsys):
    finished = make_run(tmp_path, "mimi_sem", curve=False)
    crashed = finished.parent / "version_1"  # config and a checkpoint, no results.json
    (crashed / "checkpoints").mkdir(parents=True)
    (crashed / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    (crashed / "config.yaml").write_text((finished / "config.yaml").read_text())
    empty = finished.parent / "version_2"
    empty.mkdir()
    cut_off = finished.parent / "version_3"  # results.json cut off mid-write (not by audiobits' atomic writer)
    cut_off.mkdir()
    (cut_off / "results.json").write_text((finished / "results.json").read_text()[:100])
    before = snapshot(tmp_path)
    main(["report", *map(str, sorted(finished.parent.glob("version_*"))), "--sanity", "false"])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("---"))  # the header may wrap over lines
    assert [line.split()[0] for line in lines[rule + 1:rule + 2]] == ["mimi_sem"] and "version_1" not in out
    notes = err.splitlines()
    assert len(notes) == 3 and all(n.startswith("audiobits report: skipped ") for n in notes), err
    assert f"{crashed}: no results.json in it or below it: the run crashed, is still running" in notes[0]
    assert f"{empty}: no results.json" in notes[1]
    assert f"{cut_off / 'results.json'}: not valid JSON (truncated?)" in notes[2]
    main(["sanity", *map(str, sorted(finished.parent.glob("version_*")))])  # the same glob, the same notes
    out, err = capsys.readouterr()
    assert out.startswith("mimi_sem (") and [n.split(":")[0] for n in err.splitlines()] == ["audiobits sanity"] * 3
    assert snapshot(tmp_path) == before
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(crashed), str(empty)])
    assert f"no finished run among ['{crashed}', '{empty}']" in error_line(exit_info)


def damage_runs(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """A good run beside runs whose results.json is truncated or random bytes, whose config.yaml is random bytes,
    and whose compress.json is truncated (the report reads it): the good run's dir and the damaged files by kind."""
    good = make_run(tmp_path, "good", curve=False)
    damaged = {kind: make_run(tmp_path, kind, curve=False, seed=i) for i, kind in
               enumerate(("truncated", "random", "config", "compress"), start=1)}
    random_bytes = np.random.default_rng(0).bytes(300)
    results = (damaged["truncated"] / "results.json")
    results.write_text(results.read_text()[:200])
    (damaged["random"] / "results.json").write_bytes(b"\x93" + random_bytes)
    (damaged["config"] / "config.yaml").write_bytes(b"\xff" + random_bytes)
    (damaged["compress"] / "compress.json").write_text('{"compressed_bits_per_sec": 1')
    return good, {"truncated": results, "random": damaged["random"] / "results.json",
                  "config": damaged["config"] / "config.yaml", "compress": damaged["compress"] / "compress.json"}


def test_report_and_sanity_over_a_folder_skip_each_damaged_run_with_one_line_and_report_the_rest(tmp_path, capsys):
    good, files = damage_runs(tmp_path)
    before = snapshot(tmp_path)
    main(["report", str(tmp_path / "runs"), "--sanity", "false", "--format", "csv", "--out", str(tmp_path / "rep")])
    out, err = capsys.readouterr()
    assert [line.split(",")[0] for line in out.splitlines()[1:]] == ["good"]
    assert [row["run"] for row in json.loads((tmp_path / "rep" / "report.json").read_text())["rows"]] == ["good"]
    notes = sorted(line for line in err.splitlines() if not line.startswith("wrote "))
    assert len(notes) == 4, err
    expected = {"compress": "not valid JSON (truncated?): Expecting ',' delimiter at line 1 column 30. Run "
                            "`audiobits compress` on the run again",
                "config": "not valid YAML (",
                "random": "not UTF-8 text (byte 0x93 at offset 0: overwritten with other data?). It was cut off or "
                          "overwritten after fit wrote it: rewrite it with `audiobits validate",
                "truncated": "not valid JSON (truncated?): "}
    for note, kind in zip(notes, sorted(expected)):
        assert note.startswith(f"audiobits report: skipped {files[kind]}: {expected[kind]}"), note
    main(["sanity", str(tmp_path / "runs")])  # sanity reads the runs the same way (it reads no compress.json)
    out, err = capsys.readouterr()
    assert sorted(line.split(" (")[0] for line in out.splitlines() if not line.startswith(" ")) == ["compress", "good"]
    assert [n.split(" skipped ")[1].split(":")[0] for n in sorted(err.splitlines())] == [
        str(files[k]) for k in ("config", "random", "truncated")]
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("rep")} == before
    shutil.rmtree(good)
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *(str(f.parent) for k, f in files.items() if k != "compress")])
    assert error_line(exit_info).startswith("audiobits: error: no finished run among [")


# --- AudioFolder input -----------------------------------------------------------------------------------------
def prepare_args(tmp_path: Path, recordings: Path) -> list[str]:
    """`audiobits prepare` of μ-law bins (no weights to load) of the AudioFolder ``recordings`` into tmp_path/data."""
    config = {
        "trainer": {"accelerator": "cpu", "devices": 1},
        "model": {"n_layer": 1, "n_embd": 32, "n_head": 2},
        "data": {"class_path": "audiobits.datamodules.CodecDataModule",
                 "init_args": {"representation_name": "mulaw", "root": str(tmp_path / "data"),
                               "corpus": {"class_path": "audiobits.corpora.AudioFolder",
                                          "init_args": {"root": str(recordings)}},
                               "encode": {"shard_size": 2, "batch_size": 2, "num_workers": 0, "accelerator": "cpu",
                                          "devices": 1}}},
    }
    path = tmp_path / "mulaw.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["prepare", "--config", str(path)]


def test_a_missing_audio_file_is_dropped_as_missing_and_a_rerun_says_it_stays_dropped(tmp_path, caplog):
    late = ("late.wav", "recorded later", encoded(tone(0.3, 16000), 16000))
    recordings = write_audio_folder(tmp_path / "mine", {"train": [*speech_rows(3), late],
                                                        "val": speech_rows(1, prefix="v")})
    (recordings / "train" / "late.wav").unlink()
    main(prepare_args(tmp_path, recordings))
    corpus_dir = tmp_path / "data" / "mine"
    [record] = read_dropped(corpus_dir).values()
    assert record["id"] == "late.wav" and "System error" not in record["reason"]
    assert record["reason"] == f"audio file {recordings / 'train' / 'late.wav'} (named in metadata.csv) does not exist"
    (recordings / "train" / "late.wav").write_bytes(late[2])  # the user adds the file and prepares again
    before = snapshot(tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="audiobits.prepare.common_utterances"):
        main(prepare_args(tmp_path, recordings))
    assert snapshot(tmp_path / "data") == before
    assert (f"1 utterance(s) stay dropped from every representation of mine as {corpus_dir / 'dropped.jsonl'} lists "
            f"(e.g. train 'late.wav': audio file") in caplog.text
    assert f"To retry them once their files are fixed, delete {corpus_dir} and prepare every" in caplog.text
    shutil.rmtree(corpus_dir)  # following that advice brings the utterance back
    main(prepare_args(tmp_path, recordings))
    assert "late.wav" in TokenBins(corpus_dir / "mulaw").split("train").ids


def test_quality_names_deleted_val_audio_files_instead_of_blaming_another_corpus(tmp_path):
    pytest.importorskip("pesq", reason="quality scores PESQ (audiobits[quality])")
    pytest.importorskip("pystoi", reason="quality scores STOI (audiobits[quality])")
    val = speech_rows(5, prefix="v")
    recordings = write_audio_folder(tmp_path / "mine", {"train": speech_rows(3), "val": val})
    args = prepare_args(tmp_path, recordings)
    main(args)
    gone = [recordings / "val" / name for name in ("v001.wav", "v003.wav")]
    for path in gone:
        path.unlink()
    before = snapshot(tmp_path)
    quality = ["quality", "--config", args[-1], "--scoring_models.asr_model", "null",
               "--scoring_models.speaker_model", "null"]
    with pytest.raises(SystemExit) as exit_info:
        main(quality)
    bins = tmp_path / "data" / "mine" / "mulaw"
    assert error_line(exit_info) == (
        f"audiobits: error: 2 val utterance(s) of {bins} cannot be read from corpus 'mine': "
        + "; ".join(f"audio file {p} (named in metadata.csv) does not exist" for p in gone) + ". Restore the "
        f"file(s) and run `audiobits quality` again (scored utterances are kept), or re-prepare without them: delete "
        f"{bins.parent} and prepare every representation again, so all drop them.")
    after = snapshot(tmp_path)  # every file as it was; only the other 3's resumable scores and samples were added
    added = [k for k in after if k not in before]
    assert {k: v for k, v in after.items() if k not in added} == before
    assert added == ["data/mine/mulaw/quality.partial.rank0.00000000.jsonl", "data/mine/mulaw/samples",
                     *(f"data/mine/mulaw/samples/{i:03d}.{kind}.wav" for i in (0, 2)
                       for kind in ("decoded", "original"))]
    for path, (name, _, data) in zip(gone, (val[1], val[3])):  # following the fix: restored, the run completes
        path.write_bytes(data)
    main(quality)
    assert json.loads((bins / "quality.json").read_text())["utterances"] == 5


def test_a_metadata_csv_with_a_byte_order_mark_simply_works(tmp_path):
    recordings = write_audio_folder(tmp_path / "mine", {"train": speech_rows(2), "val": speech_rows(1, prefix="v")})
    metadata = recordings / "train" / "metadata.csv"
    metadata.write_text(metadata.read_text(encoding="utf-8"), encoding="utf-8-sig")  # as spreadsheet programs save
    assert metadata.read_bytes().startswith(b"\xef\xbb\xbf")
    items = AudioFolder(str(recordings)).load("train", 0, 2)
    assert [(u.id, u.text) for u in items] == [(name, text) for name, text, _ in speech_rows(2)]


METADATA_PROBLEMS = {
    "no text column": ("train", "file_name,transcript\nu000.wav,hello\n".encode(),
                       r"train/metadata.csv: header is \['file_name', 'transcript'\], without the column\(s\) "
                       r"\['text'\]; its first line must name the columns file_name,text"),
    "a header-only val split": ("val", b"file_name,text\n",
                                r"val/metadata.csv names no audio file \(a header only\); the val split needs at "
                                "least one row"),
    "not UTF-8": ("train", "file_name,text\nu000.wav,hello\nu001.wav,café\n".encode("latin-1"),
                  r"train/metadata.csv, line 3: not UTF-8 text \(byte 0xe9: invalid continuation byte\)\. Save it as "
                  "UTF-8"),
}


@pytest.mark.parametrize("problem", METADATA_PROBLEMS)
def test_a_broken_metadata_csv_is_one_error_line_before_anything_is_encoded(tmp_path, problem):
    split, content, message = METADATA_PROBLEMS[problem]
    recordings = write_audio_folder(tmp_path / "mine", {"train": speech_rows(2), "val": speech_rows(1, prefix="v")})
    (recordings / split / "metadata.csv").write_bytes(content)
    before = snapshot(recordings)
    with pytest.raises(SystemExit) as exit_info:
        main(prepare_args(tmp_path, recordings))
    assert re.search(message, error_line(exit_info))
    assert snapshot(recordings) == before
    # train was not encoded first: no shard, no bins; only the corpus record (what selects the utterances) exists
    assert set(snapshot(tmp_path / "data")) <= {"mine", "mine/corpus.json"}


# --- fit: resuming onto other data, and failed runs --------------------------------------------------------------
TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")


def fit(tmp_path: Path, bins_dir: Path, *extra: str, subcommand: str = "fit") -> None:
    """`audiobits fit` (or ``subcommand``) of the tiny config on ``bins_dir``, logging under
    tmp_path/runs/tiny/version_N."""
    main([subcommand, "--config", TINY, "--data.init_args.bins_dir", str(bins_dir),
          "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false",
          "--trainer.enable_model_summary", "false", "--checkpoint.every_n_train_steps", "2", *extra])


def test_a_resume_onto_rewritten_bins_or_another_global_batch_is_refused_and_the_run_dir_stays_as_it_was(tmp_path):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=100, val_utterances=4)  # 5 steps of 16
    with pytest.raises(RuntimeError, match="simulated crash at step 3"):
        fit(tmp_path, bins, "--trainer.callbacks+=recorders.CrashAt", "--trainer.callbacks.step=3")
    [run] = (tmp_path / "runs" / "tiny").glob("version_*")
    before = snapshot(run)
    assert "checkpoints/last.ckpt" in before and "config.yaml" in before

    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--ckpt_path", "last", "--data.init_args.batch_size", "8")
    assert ("cannot resume from this checkpoint: its global batch is 16 windows, this run's 8 (data.batch_size) × 1 "
            "devices. Resume with the same bins") in error_line(exit_info)
    assert snapshot(run) == before  # config.yaml not overwritten by the refused settings, no new events file

    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=100, val_utterances=4, seed=1)  # re-prepared
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    message = error_line(exit_info)
    assert re.search(r"it trained on train bins of sha256 [0-9a-f]{12}… \(5100 tokens\), but .*bins/meta.json now "
                     r"records [0-9a-f]{12}… \(5100 tokens\): the bins were rewritten since", message), message
    assert snapshot(run) == before
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [run.name]  # no new version_N either
    main(["validate", "--config", TINY, "--data.init_args.bins_dir", str(bins), "--data.init_args.batch_size", "8",
          "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--trainer.logger.init_args.save_dir",
          str(tmp_path / "eval"), "--trainer.enable_progress_bar", "false"])  # scoring other bins is no resume


def test_the_datamodule_itself_refuses_a_checkpoint_of_other_bins_when_lightning_restores_it(tmp_path):
    """The check also runs in load_state_dict: bins a fit prepares itself are only there by then."""
    write_markov_bins(tmp_path / "bins", vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    state = TokenBinDataModule(str(tmp_path / "bins"), seq_len=64, batch_size=4).state_dict()
    assert state["bins"]["train"]["tokens"] == 40 * 51 and state["global_batch"] == 4 and state["seed"] == 0
    TokenBinDataModule(str(tmp_path / "bins"), seq_len=64, batch_size=4).load_state_dict(state)  # the same: fine
    write_markov_bins(tmp_path / "bins", vocab=16, utterance_len=50, train_utterances=41, val_utterances=4)
    with pytest.raises(AudiobitsError, match=r"train bins of sha256 .* \(2040 tokens\), .* \(2091 tokens\)"):
        TokenBinDataModule(str(tmp_path / "bins"), seq_len=64, batch_size=4).load_state_dict(state)
    with pytest.raises(AudiobitsError, match="its data.seed is 0, this run's 3"):
        TokenBinDataModule(str(tmp_path / "bins"), seq_len=64, batch_size=4, seed=3).load_state_dict(
            {**state, "bins": None})


def test_a_fit_that_fails_on_bins_too_short_leaves_no_run_directory(tmp_path):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=10, train_utterances=2, val_utterances=2)  # 22 tokens
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins)
    assert "train.bin holds fewer than seq_len+1 = 65 tokens: lower data.seq_len" in error_line(exit_info)
    assert not list((tmp_path / "runs").rglob("version_*"))


@pytest.mark.parametrize("subcommand", ["fit", "validate", "test"])
def test_a_missing_truncated_or_foreign_checkpoint_is_one_line_and_creates_no_run_directory(tmp_path, subcommand):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    whole = tmp_path / "whole.ckpt"
    torch.save({"state_dict": {"model.w": torch.zeros(1000)}, "pytorch-lightning_version": "2"}, whole)
    (tmp_path / "cut.ckpt").write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])  # a copy cut short
    torch.save({"w": torch.zeros(3)}, tmp_path / "weights.pt")  # loads, but Lightning did not save it
    (tmp_path / "empty.ckpt").touch()
    before = snapshot(tmp_path)
    for name, problem in (("missing.ckpt", r": no such checkpoint\."),
                          ("bins", r" is not a regular file \(a folder\?\)"),
                          ("cut.ckpt", r" \(2,\d\d\d bytes\) does not load as a checkpoint: it is truncated"),
                          ("empty.ckpt", r" \(0 bytes\) does not load as a checkpoint"),
                          ("weights.pt", " loads, but is not a checkpoint Lightning saved")):
        with pytest.raises(SystemExit) as exit_info:
            fit(tmp_path, bins, "--ckpt_path", str(tmp_path / name), subcommand=subcommand)
        message = error_line(exit_info)
        assert re.search(re.escape(str(tmp_path / name)) + problem, message), message
        assert message.endswith("Pass --ckpt_path a complete checkpoint file (a finished run's checkpoints/last.ckpt, "
                                "or another checkpoints/*.ckpt of the run); fit without --ckpt_path starts anew.")
        assert snapshot(tmp_path) == before  # no runs/tiny/version_N, nothing else written


@pytest.mark.parametrize("subcommand", ["validate", "test"])
def test_validate_or_test_that_fails_on_the_users_input_leaves_no_new_run_directory(tmp_path, subcommand):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--trainer.callbacks+=recorders.RefuseAtEvaluation", subcommand=subcommand)
    assert error_line(exit_info) == "audiobits: error: refused the user's input at evaluation start"
    assert not (tmp_path / "runs").exists()  # runs/tiny/version_0 was made by the logger, then removed whole


@pytest.mark.parametrize("field, value, low", [("batch_size", "0", 1), ("batch_size", "-4", 1), ("seq_len", "0", 1),
                                               ("num_workers", "-1", 0)])
def test_a_batch_size_seq_len_or_num_workers_out_of_range_is_one_line_naming_the_field(tmp_path, field, value, low):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=20, val_utterances=2)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, f"--data.init_args.{field}", value)
    message = error_line(exit_info)
    assert message.startswith(f"audiobits: error: data.{field} is {value}, but it counts ")
    assert f"must be at least {low}: set data.init_args.{field} in the config" in message
    assert snapshot(tmp_path) == before  # no run directory, the bins untouched


@pytest.mark.parametrize("workers", ["0", "2"], ids=["in-process", "in-dataloader-workers"])
def test_an_id_at_or_above_vocab_size_in_foreign_bins_is_one_line_naming_file_utterance_and_id(tmp_path, workers):
    """Bins another tool wrote (meta.json as ours) with one id past the vocab: the window holding it is refused before
    the embedding sees it, also when a DataLoader worker read it (torch re-raises it with the worker's traceback)."""
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=20, val_utterances=2)
    tokens = np.memmap(bins / "train.bin", dtype=np.uint16, mode="r+")
    tokens[3 * 51 + 7] = 40  # utterance 3 of 51 tokens each (50 + EOS), 8th token
    tokens.flush()
    del tokens
    before = snapshot(bins)
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--data.init_args.num_workers", workers, "--trainer.num_sanity_val_steps", "0")
    assert error_line(exit_info) == (
        f"audiobits: error: {bins / 'train.bin'}: utterance 'train-000003' holds token id 40 (position 160), but "
        "meta.json's vocab_size is 17: the bins were written by another tool or with another vocabulary. Fix the "
        "tool's ids or vocab_size in meta.json, or prepare the bins again with `audiobits prepare`.")
    assert snapshot(bins) == before and not list((tmp_path / "runs").rglob("version_*"))  # no run directory left


def test_a_resume_onto_stale_bins_is_refused_before_fit_would_rewrite_them(tmp_path):
    """Stale: another representation dropped an utterance the bins hold, so fit's prepare_data would rewrite them."""
    nan_wav = encoded(np.append(tone(0.3, 16000), np.nan).astype(np.float32), 16000, subtype="FLOAT")
    recordings = write_audio_folder(tmp_path / "mine", {"train": [*speech_rows(3), ("nan.wav", "bad samples", nan_wav)],
                                                        "val": speech_rows(1, prefix="v")})
    corpus, root = AudioFolder(str(recordings)), str(tmp_path / "data")
    options = EncodeOptions(shard_size=4, batch_size=4, num_workers=0, accelerator="cpu", devices=1)
    text = TextDataModule(corpus, root=root, encode=options, seq_len=8, batch_size=2)
    text.prepare_data()
    state = text.state_dict()  # what a checkpoint of a run on these text bins records
    CodecDataModule(corpus, representation_name="mulaw", root=root, encode=options).prepare_data()  # drops nan.wav
    before = snapshot(tmp_path / "data")
    with pytest.raises(AudiobitsError, match=r"text holds 1 utterance\(s\) dropped since it trained on them \(e\.g\. "
                                             r"\('train', 'nan.wav'\)\).*Start a new run without --ckpt_path"):
        TextDataModule(corpus, root=root, encode=options, seq_len=8, batch_size=2).check_resume(state, world_size=1)
    assert snapshot(tmp_path / "data") == before


# --- one error type through every layer ----------------------------------------------------------------------------
def test_a_config_error_inside_a_nested_class_is_one_line_not_jsonargparses_traceback(tmp_path):
    """jsonargparse wraps what a corpus's __init__ raises; main still finds the AudiobitsError behind it."""
    config = {"trainer": {"accelerator": "cpu"}, "model": {"n_layer": 1, "n_embd": 32, "n_head": 2},
              "data": {"class_path": "audiobits.datamodules.TextDataModule",
                       "init_args": {"root": str(tmp_path / "data"),
                                     "corpus": {"class_path": "audiobits.corpora.HFCorpus",
                                                "init_args": {"path": "x", "name": "x", "val_fraction": 0.1,
                                                              "splits": {"train": ["a"], "val": ["b"]}}}}}}
    (tmp_path / "text.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exit_info:
        main(["prepare", "--config", str(tmp_path / "text.yaml")])
    assert error_line(exit_info) == ("audiobits: error: HFCorpus: give either splits['val'] or val_fraction > 0 (a "
                                     "held-out share of train), not both")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.yaml"]


def test_a_bad_representation_setting_is_a_user_error_not_a_traceback():
    """Representations raise the user-error type for config values (and stay ValueErrors for callers)."""
    from audiobits.errors import AudiobitsError
    from audiobits.representations import build

    with pytest.raises(AudiobitsError, match="unknown representation 'mimi_99'") as raised:
        build("mimi_99")
    assert isinstance(raised.value, ValueError)


UNSAVED = {"best": "audiobits keeps no best checkpoint (its ModelCheckpoint has save_top_k 0: it ranks none",
           "hpc": "that names the hpc_ckpt_*.ckpt Lightning saves when SLURM requeues a job"}


@pytest.mark.parametrize("subcommand", ["validate", "test"])
@pytest.mark.parametrize("name", UNSAVED)
def test_ckpt_path_best_or_hpc_is_one_line_saying_what_to_pass_instead(tmp_path, subcommand, name):
    """Lightning would raise a ValueError on them: audiobits' runs keep no best checkpoint and no hpc one."""
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--ckpt_path", name, subcommand=subcommand)
    message = error_line(exit_info)
    assert message.startswith(f"audiobits: error: --ckpt_path {name}: {UNSAVED[name]}"), message
    assert message.endswith("Pass --ckpt_path a checkpoint file (e.g. runs/<name>/version_N/checkpoints/last.ckpt), "
                            "or last (the newest last.ckpt of this config's runs).")
    assert snapshot(tmp_path) == before


def test_validate_or_test_last_without_a_run_to_find_is_refused_instead_of_scoring_an_untrained_model(tmp_path):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        fit(tmp_path, bins, "--ckpt_path", "last", subcommand="validate")
    assert error_line(exit_info) == (
        f"audiobits: error: --ckpt_path last: no {tmp_path / 'runs' / 'tiny'}/version_*/checkpoints/last.ckpt to "
        "validate: no run of this config (its trainer.logger save_dir and name) has saved one. Fit it first, or pass "
        "--ckpt_path a checkpoint file.")
    with pytest.raises(SystemExit) as exit_info:  # no logger section: no runs to look in, rather than Lightning's guess
        fit(tmp_path, bins, "--ckpt_path", "last", "--trainer.logger", "false", subcommand="test")
    assert error_line(exit_info) == (
        "audiobits: error: --ckpt_path last: test finds this config's runs through its TensorBoard logger "
        "(trainer.logger save_dir and name), and the config has none. Pass --ckpt_path a checkpoint file.")
    assert snapshot(tmp_path) == before


def test_validate_last_evaluates_the_newest_run_of_the_config_and_writes_its_results_there(tmp_path):
    bins = tmp_path / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=40, val_utterances=4)
    fit(tmp_path, bins)
    [run] = (tmp_path / "runs" / "tiny").glob("version_*")
    fitted = json.loads((run / "results.json").read_text())
    (run / "results.json").unlink()  # validate then records what it evaluated, not what fit wrote
    fit_config = (run / "config.yaml").read_text()
    fit(tmp_path, bins, "--ckpt_path", "last", subcommand="validate")
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == [run.name]  # logged into that run
    assert (run / "config.yaml").read_text() == fit_config  # still the config `audiobits fit --config` resumes with
    validated = json.loads((run / "results.json").read_text())
    assert validated["global_step"] == fitted["global_step"] > 0
    assert validated["train_tokens"] == fitted["train_tokens"] > 0
    assert validated["bits_per_sec"] == pytest.approx(fitted["bits_per_sec"], rel=1e-6)  # the same weights

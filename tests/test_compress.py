"""`audiobits compress` / `decompress` on real runs: bit-exact round trips, size, checks, corruption, processes."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from audiobits.compress import compress as compress_module
from audiobits import model as model_lib
from audiobits.bins import TokenBins
from audiobits.cli import main
from audiobits.compress.compress import compress_run, decompress
from audiobits.compress.compress_summary import COMPRESS_FILE
from audiobits.compress.compressed_file import CompressedFile, CompressedFileError
from results_file import results_json
from audiobits.demo.synthetic import write_markov_bins
from disk_checks import error_line, snapshot

REPO = Path(__file__).resolve().parents[1]
TINY = str(REPO / "configs" / "tiny.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def fit_run(root: Path, bins_dir: Path, *extra: str) -> Path:
    main(["fit", "--config", TINY, "--data.init_args.bins_dir", str(bins_dir),
          "--trainer.logger.init_args.save_dir", str(root / "runs"), *QUIET, *extra])
    return sorted((root / "runs" / "tiny").glob("version_*"))[-1]


@pytest.fixture(scope="module")
def markov_run(tmp_path_factory):
    """A real finished run (20 steps of TinyGPT on Markov bins) and its val split compressed with 4 lanes."""
    root = tmp_path_factory.mktemp("compress")
    bins = root / "bins"
    write_markov_bins(bins, vocab=16, utterance_len=50, train_utterances=400, val_utterances=20)
    run = fit_run(root, bins)
    summary = compress_run(run, lanes=4, out=root / "val.abz", log=lambda *a: None)
    return run, root / "val.abz", summary


def val_utterances(run: Path) -> list[np.ndarray]:
    split = TokenBins(_bins_dir(run)).split("val")
    return [np.asarray(split.tokens[a:b], dtype=np.int64) for a, b in zip(split.offsets[:-1], split.offsets[1:])]


def _bins_dir(run: Path) -> Path:
    from audiobits.analysis.runs import load_run

    return load_run(run).bins_dir()


def test_round_trip_restores_the_val_bin_bit_exactly(markov_run, tmp_path):
    run, path, summary = markov_run
    assert summary["verified"] and summary["utterances"] == 20
    restored = decompress(path, run, out=tmp_path / "ids.npz", log=lambda *a: None)
    for i, want in enumerate(val_utterances(run)):
        assert np.array_equal(restored[i], want)
    with np.load(tmp_path / "ids.npz") as saved:  # the concatenated ids are val.bin, byte for byte
        assert saved["ids"].tobytes() == (_bins_dir(run) / "val.bin").read_bytes()


def test_file_size_is_the_cross_entropy_plus_the_container(markov_run):
    _, path, s = markov_run
    file = CompressedFile.read(path)
    assert s["file_bytes"] == path.stat().st_size == s["payload_bytes"] + s["container_bytes"]
    ce_bits = s["cross_entropy_bits"]
    # Each utterance is sealed to whole bytes: a few bits per utterance above (or, the decoder supplying the last
    # byte's zero bits, below) its share of the cross-entropy.
    utterances = s["utterances"]
    assert ce_bits - 8 * utterances <= 8 * s["payload_bytes"] <= 1.01 * ce_bits + 16 * utterances
    assert s["container_bytes"] <= 1024 + 18 * len(file.entries)  # header JSON + 18 bytes of index per utterance
    assert s["tokens"] == sum(e.tokens for e in file.entries) == TokenBins(_bins_dir(markov_run[0])).split(
        "val").num_tokens
    # The cross-entropy of the coded tokens is the run's own val score, utterance by utterance from an EOS.
    assert s["utterance_reset_bits_per_sec"] == pytest.approx(results_json(markov_run[0])["bits_per_sec"], rel=0.05)
    assert set(s["baselines"]) == {"zstd", "xz"} and s["baselines"]["xz"]["bits_per_sec"] > s["compressed_bits_per_sec"]


def test_another_process_decodes_a_different_batch_of_utterances(markov_run, tmp_path):
    """Encoded here with 4 full lanes; decoded in a fresh process with 2 utterances in the batch, 2 threads asked."""
    run, path, _ = markov_run
    out = tmp_path / "two.npz"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "-m", "audiobits", "decompress", str(path), str(run), "--out", str(out),
                    "--only", "[3, 17]"], check=True, env=env, cwd=tmp_path, capture_output=True)
    utterances = val_utterances(run)
    with np.load(out) as saved:
        assert saved["index"].tolist() == [3, 17]
        assert np.array_equal(saved["ids"], np.concatenate([utterances[3], utterances[17]]))


def test_a_flipped_payload_byte_spoils_only_its_own_utterance(markov_run, tmp_path):
    run, path, _ = markov_run
    file = CompressedFile.read(path)
    data = bytearray(path.read_bytes())
    start = len(data) - sum(e.payload_bytes for e in file.entries) + sum(e.payload_bytes for e in file.entries[:5])
    data[start + 1] ^= 0x40
    broken = tmp_path / "broken.abz"
    broken.write_bytes(bytes(data))
    with pytest.raises(CompressedFileError, match=r"1 of 20 utterance\(s\) could not be restored \(#5: payload "
                                                  r"checksum mismatch"):
        decompress(broken, run, out=tmp_path / "ids.npz", log=lambda *a: None)
    with np.load(tmp_path / "ids.npz") as saved:
        assert 5 not in saved["index"] and len(saved["index"]) == 19
        utterances = val_utterances(run)
        kept = [utterances[i] for i in saved["index"]]
        assert np.array_equal(saved["ids"], np.concatenate(kept))


def test_truncated_or_foreign_files_are_refused(markov_run, tmp_path):
    run, path, _ = markov_run
    cut = tmp_path / "cut.abz"
    cut.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(CompressedFileError, match="truncated"):
        decompress(cut, run, log=lambda *a: None)
    header_hit = bytearray(path.read_bytes())
    header_hit[20] ^= 1
    cut.write_bytes(bytes(header_hit))
    with pytest.raises(CompressedFileError, match="header's checksum does not match"):
        decompress(cut, run, log=lambda *a: None)
    cut.write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(CompressedFileError, match="not an audiobits compressed file"):
        CompressedFile.read(cut)


def test_a_wrong_checkpoint_is_named(markov_run, tmp_path):
    run, path, _ = markov_run
    other = tmp_path / "other_run"
    shutil.copytree(run, other)
    ckpt = torch.load(other / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    ckpt["state_dict"]["model.norm.weight"] += 0.01
    torch.save(ckpt, other / "checkpoints" / "last.ckpt")
    with pytest.raises(SystemExit, match=r"audiobits: error: .*coded with weights sha256 \w+… .* but "
                                         r".*other_run/checkpoints/last.ckpt has \w+…"):
        main(["decompress", str(path), str(other)])


CRASHES = {"no last.ckpt": ("last.ckpt", r"checkpoints/last\.ckpt: no such checkpoint\. The run .*crashed has no "
                                          r"complete final weights"),
           "truncated last.ckpt": ("cut", r"checkpoints/last\.ckpt \([\d,]+ bytes\) does not load as a checkpoint: it "
                                          r"is truncated .* The run .*crashed has no complete final weights"),
           "no results.json": ("results.json", r"crashed/results\.json not found: the run did not finish fit")}


@pytest.mark.parametrize("crash", CRASHES)
def test_compress_on_a_run_that_crashed_before_its_last_checkpoint_names_it_and_writes_nothing(markov_run, tmp_path,
                                                                                                crash):
    run, _, _ = markov_run
    crashed = tmp_path / "crashed"
    shutil.copytree(run, crashed, ignore=shutil.ignore_patterns(COMPRESS_FILE, "*.abz"))
    cut, expected = CRASHES[crash]
    ckpt = crashed / "checkpoints" / "last.ckpt"
    if cut == "cut":
        ckpt.write_bytes(ckpt.read_bytes()[:ckpt.stat().st_size // 3])  # killed while saving
    else:
        next(crashed.rglob(cut)).unlink()
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["compress", str(crashed)])
    assert re.search(expected, error_line(exit_info)), error_line(exit_info)
    assert snapshot(tmp_path) == before  # no val.abz, no compress.json, no temporary file


OUTPUTS = {  # option, its value under tmp_path ({t}), the error line after "audiobits: error: "
    "--out in a missing folder": ("--out", "out/ids.npz", "--out {t}/out/ids.npz: the folder {t}/out does not exist. "
                                  "Create it first (mkdir -p {t}/out) or name a file in an existing folder."),
    "--out in a read-only folder": ("--out", "read-only/ids.npz", "--out {t}/read-only/ids.npz: cannot write into "
                                    "{t}/read-only (read-only or not yours). Name a location you can write to, or "
                                    "make it writable (chmod u+w {t}/read-only)."),
    "--audio under a file": ("--audio", "a_file/wav", "--audio {t}/a_file/wav: {t}/a_file is a file, not a folder. "
                             "Name another folder."),
}


@pytest.mark.parametrize("case", OUTPUTS)
def test_decompress_into_a_missing_or_read_only_folder_is_refused_before_decoding(markov_run, tmp_path, case,
                                                                                  monkeypatch):
    run, path, _ = markov_run
    option, value, expected = OUTPUTS[case]
    if "read-only" in case and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders: needs an unprivileged user")
    (tmp_path / "read-only").mkdir(mode=0o555)
    (tmp_path / "a_file").write_text("not a folder")
    monkeypatch.setattr(compress_module, "decompress_file", lambda *a, **k: pytest.fail("decoded before the check"))
    before, beside_the_file = snapshot(tmp_path), snapshot(path.parent)
    with pytest.raises(SystemExit) as exit_info:
        main(["decompress", str(path), str(run), option, str(tmp_path / value)])
    assert error_line(exit_info) == "audiobits: error: " + expected.format(t=tmp_path)
    assert snapshot(tmp_path) == before and snapshot(path.parent) == beside_the_file


RUN_DIR_FIX = ("Pass a finished run directory (Lightning's log dir runs/<name>/version_N, holding results.json, "
               "config.yaml and checkpoints/last.ckpt).")
MISTYPED_INPUTS = {  # the arguments (FILE, RUN_DIR: {file}, {run}; under tmp_path: {t}), the error line's message
    "compress: RUN_DIR missing": (["compress", "{t}/nosuch_run"], "RUN_DIR {t}/nosuch_run: no such folder. "),
    "compress: RUN_DIR a file": (["compress", "{file}"], "RUN_DIR {file}: is a file, not a run directory. "),
    "compress: the folder above the run": (["compress", "{t}"], "RUN_DIR {t} holds no run (no checkpoints/ folder, no "
                                                                "results.json). "),
    "decompress: FILE missing": (["decompress", "{t}/nodir/x.abz", "{run}"],
                                 "{t}/nodir/x.abz: no such file. Pass a file written by `audiobits compress`."),
    "decompress --audio: FILE missing": (["decompress", "{t}/nodir/x.abz", "{run}", "--audio", "{t}/a_file/wav"],
                                         "{t}/nodir/x.abz: no such file. Pass a file written by `audiobits compress`."),
    "decompress: RUN_DIR missing": (["decompress", "{file}", "{t}/nosuch_run"], "RUN_DIR {t}/nosuch_run: no such "
                                                                                "folder. "),
}


@pytest.mark.parametrize("case", MISTYPED_INPUTS)
def test_a_mistyped_input_path_is_named_as_the_input_not_as_a_missing_out_folder(markov_run, tmp_path, case):
    run, path, _ = markov_run
    (tmp_path / "a_file").write_text("not a folder")  # an --audio that would be refused too: the input comes first
    args, expected = MISTYPED_INPUTS[case]
    fill = {"t": tmp_path, "file": path, "run": run}
    before, beside_the_run = snapshot(tmp_path), snapshot(run.parent)
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(**fill) for arg in args])
    message = error_line(exit_info)
    assert message.startswith("audiobits: error: " + expected.format(**fill)), message
    assert "--out" not in message and message.endswith(RUN_DIR_FIX if "RUN_DIR" in expected else "compress`.")
    assert snapshot(tmp_path) == before and snapshot(run.parent) == beside_the_run


def test_a_default_output_in_the_way_is_named_as_the_default_not_as_out(markov_run, tmp_path):
    run, path, _ = markov_run
    copied = tmp_path / "run"
    shutil.copytree(run, copied, ignore=shutil.ignore_patterns(COMPRESS_FILE, "*.abz"))
    shutil.copy(path, tmp_path / "val.abz")
    for blocked in (copied / "val.abz", tmp_path / "val.ids.npz"):
        blocked.mkdir()
    before = snapshot(tmp_path)
    for args, blocked in ((["compress", str(copied)], copied / "val.abz"),
                          (["decompress", str(tmp_path / "val.abz"), str(copied)], tmp_path / "val.ids.npz")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert error_line(exit_info) == (f"audiobits: error: the default output (--out names another) {blocked} is a "
                                         f"folder: name a file to write, e.g. {blocked / 'out'}.")
    assert snapshot(tmp_path) == before


def test_decompress_writes_its_ids_whole_or_not_at_all(markov_run, tmp_path, monkeypatch):
    run, path, _ = markov_run
    out = tmp_path / "ids.npz"
    out.write_bytes(b"an earlier decode")

    def interrupted(file, **arrays):
        file.write(b"half an npz")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        decompress(path, run, out=out, log=lambda *a: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.npz"] and out.read_bytes() == b"an earlier decode"


def test_bins_of_another_corpus_are_named(markov_run, tmp_path):
    run, path, _ = markov_run
    other_bins = tmp_path / "other_bins"
    write_markov_bins(other_bins, vocab=16, utterance_len=50, train_utterances=10, val_utterances=20, seed=7)
    other = tmp_path / "other_run"
    shutil.copytree(run, other)
    config = (other / "config.yaml").read_text().replace(str(_bins_dir(run)), str(other_bins))
    (other / "config.yaml").write_text(config)
    with pytest.raises(CompressedFileError, match=r"codes synthetic/markov val.bin with sha256 \w+…, but the run's "
                                                  r"bins .*other_bins are synthetic/markov with val sha256 \w+…"):
        decompress(path, other, log=lambda *a: None)
    restored = decompress(path, other, out=tmp_path / "ids.npz", check_bins_=False, log=lambda *a: None)
    assert len(restored) == 20  # the weights are the same: the ids still decode


def test_cli_compress_writes_compress_json_and_prints_the_comparison(markov_run, tmp_path, capsys):
    run, _, _ = markov_run
    out = tmp_path / "cli.abz"
    main(["compress", str(run), "--out", str(out), "--lanes", "8"])
    printed, bars = capsys.readouterr()
    assert f"{out}: " in printed and "Decoded and checked." in printed and "xz" in printed
    for tool, unit in (("compress", "id"), ("decompress", "step")):  # a bar with count, ETA and rate, both ways
        assert re.search(rf"\[{tool}\] range coding: 100%.*\[\d\d:\d\d<00:00, *[\d.]+({unit}/s|s/{unit})\]", bars), bars
    summary = json.loads((run / COMPRESS_FILE).read_text())
    assert summary["lanes"] == 8 and summary["file"] == str(out)
    assert CompressedFile.read(out).header["lanes"] == 8


@pytest.mark.slow
def test_a_model_that_saw_the_future_scores_below_the_entropy_but_codes_above_it(tmp_path, monkeypatch, capsys):
    """Trained and scored with the causal mask removed, the run 'beats' the source's entropy rate; its file cannot:
    coding only has the past, so the decodable rate lands above the entropy and the tool says the score is not
    achievable."""
    bins = tmp_path / "bins"
    source = write_markov_bins(bins, vocab=32, utterance_len=400, train_utterances=150, val_utterances=10)

    def leaky(q, k, v):
        return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2)
    monkeypatch.setattr(model_lib, "causal_attention", leaky)
    run = fit_run(tmp_path, bins)
    monkeypatch.undo()
    reported = results_json(run)["bits_per_token"]
    assert reported < source.entropy_rate - 0.5
    main(["compress", str(run)])
    summary = json.loads((run / COMPRESS_FILE).read_text())
    coded_bits_per_token = 8 * summary["payload_bytes"] / summary["tokens"]
    assert coded_bits_per_token > source.entropy_rate - 0.05
    assert "saw tokens it should not have" in capsys.readouterr().err


def test_the_report_shows_the_coded_rate_and_the_baselines(markov_run):
    from audiobits.analysis.report import build_table
    from audiobits.analysis.runs import load_runs

    run, _, _ = markov_run
    summary = json.loads((run / COMPRESS_FILE).read_text())  # whichever compress of this run wrote it last
    table = build_table(load_runs([run]), sanity=False)
    [row] = table.rows
    assert row["compressed_bits_per_sec"] == summary["compressed_bits_per_sec"]
    assert row["compression_overhead"] == summary["overhead"] > 0
    assert row["coded_utterance_reset_bits_per_sec"] == summary["utterance_reset_bits_per_sec"]  # what it is against
    assert row["xz_bits_per_sec"] == summary["baselines"]["xz"]["bits_per_sec"] and row["flac_bits_per_sec"] is None
    markdown = table.markdown("compression")
    assert "| coded b/s | coded vs CE |" in markdown and f"| {summary['overhead']:+.1%} |" in markdown
    assert "| utt-reset CE b/s | coded b/s |" in markdown


@pytest.mark.slow
def test_round_trip_on_random_weight_mimi_bins(tmp_path):
    """mimi_all bins from Mimi with random weights (offline), a few steps of TinyGPT, then every id back."""
    pytest.importorskip("moshi", reason="needs the mimi extra (pip install audiobits[mimi])")
    from corpus_builders import speech_rows, write_audio_folder

    from audiobits.corpora import AudioFolder
    from audiobits.datamodules import MimiDataModule
    from audiobits.prepare.encode import EncodeOptions

    corpus = AudioFolder(str(write_audio_folder(tmp_path / "mine", {"train": speech_rows(6),
                                                                     "val": speech_rows(3, prefix="v")})))
    data = MimiDataModule(corpus, weights="random", root=str(tmp_path / "data"),
                          encode=EncodeOptions(shard_size=4, batch_size=4, num_workers=0, accelerator="cpu",
                                               devices=1))
    data.prepare_data()
    run = fit_run(tmp_path, data.bins_dir, "--data.init_args.seq_len", "16", "--data.init_args.batch_size", "2")
    summary = compress_run(run, out=tmp_path / "mimi.abz", log=lambda *a: None)
    assert summary["verified"] and summary["utterances"] == 3
    restored = decompress(tmp_path / "mimi.abz", run, out=tmp_path / "ids.npz", log=lambda *a: None)
    split = TokenBins(data.bins_dir).split("val")
    assert np.array_equal(np.concatenate([restored[i] for i in range(3)]), np.asarray(split.tokens))
    assert int(np.asarray(split.tokens).max()) == 16384  # the flat Mimi-8 vocabulary and its EOS
    # the codec rebuilt from meta.json (random weights, their seed) decodes the restored ids as the encoder's own
    from audiobits.compress.decompress import write_audio

    wavs = write_audio(restored, TokenBins(data.bins_dir), "val", tmp_path / "wav", log=lambda *a: None)
    for i, path in enumerate(wavs):
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 24000 and np.array_equal(audio, data.representation.decode(restored[i][:-1]))


@pytest.mark.slow
def test_decompress_writes_the_audio_the_restored_ids_decode_to(demo_output, tmp_path, capsys):
    """The demo's Codec 2 700C file: `decompress --audio` writes one WAV per val utterance, Codec 2's decoding of
    the val bin's ids, named by utterance id. libcodec2 draws unvoiced excitation from a process-wide random
    generator, so two decodes of the same ids agree closely but not bit for bit (exactness: the Mimi test above)."""
    from audiobits.representations import build

    run = next((demo_output / "runs" / "codec2_700c").glob("version_*"))
    main(["decompress", str(run / "val.abz"), str(run), "--out", str(tmp_path / "ids.npz"),
          "--audio", str(tmp_path / "wav")])
    split = TokenBins(_bins_dir(run)).split("val")
    codec2 = build("codec2_700c")
    for uid, a, b in zip(split.ids, split.offsets[:-1], split.offsets[1:]):
        audio, rate = sf.read(tmp_path / "wav" / f"{uid}.wav", dtype="float32")
        again = codec2.decode(np.asarray(split.tokens[a:b - 1], np.int64))
        assert rate == 8000 and len(audio) == len(again) == (b - 1 - a) // codec2.tokens_per_frame * codec2.hop
        assert np.corrcoef(audio, again)[0, 1] > 0.9
    assert len(list((tmp_path / "wav").iterdir())) == len(split.ids)
    assert "decoded by codec2_700c" in capsys.readouterr().out


@pytest.mark.parametrize("tool", ["compress", "decompress"])
def test_each_tool_has_its_own_usage_line(tool, capsys):
    with pytest.raises(SystemExit):
        main([tool, "--help"])
    assert capsys.readouterr().out.startswith(f"usage: audiobits {tool} ")


def test_audio_names_that_clash_once_made_safe_are_kept_apart(tmp_path):
    """Utterance ids 'a b.wav' and 'a_b.wav' both become 'a_b.wav.wav': the second is written beside the first
    (with its index), not over it; each WAV is μ-law's decoding of its own ids."""
    from corpus_builders import speech_rows, write_audio_folder

    from audiobits.corpora import AudioFolder
    from audiobits.compress.decompress import write_audio
    from audiobits.prepare.encode import EncodeOptions
    from audiobits.prepare.prepare import prepare_bins
    from audiobits.representations.mulaw import MuLawRepresentation

    rows = speech_rows(4)
    val = [("a b.wav", *rows[2][1:]), ("a_b.wav", *rows[3][1:])]
    corpus = AudioFolder(str(write_audio_folder(tmp_path / "mine", {"train": rows[:2], "val": val})))
    mulaw = MuLawRepresentation()
    bins = TokenBins(prepare_bins(corpus, mulaw, tmp_path / "bins",
                                  EncodeOptions(num_workers=0, accelerator="cpu", devices=1), device="cpu"))
    split = bins.split("val")
    restored = {i: np.asarray(split.tokens[a:b], np.int64) for i, (a, b) in
                enumerate(zip(split.offsets[:-1], split.offsets[1:]))}
    paths = write_audio(restored, bins, "val", tmp_path / "wav", log=lambda *a: None)
    assert len(set(paths)) == 2 and sorted(p.name for p in (tmp_path / "wav").iterdir()) == sorted(
        p.name for p in paths)
    for i, path in enumerate(paths):
        audio, rate = sf.read(path, dtype="float32")
        assert rate == 8000 and np.array_equal(audio, mulaw.decode(restored[i][:-1]))


def test_default_lanes_fill_the_memory_budget_but_never_exceed_the_utterances():
    from audiobits.compress.compress import default_lanes, lane_bytes

    seed = model_lib.GPTConfig(vocab_size=16385, seq_len=1024, n_layer=6, n_embd=512, n_head=8)
    per_lane = lane_bytes(seed, 2000)
    assert per_lane == 2 * 6 * 1024 * 512 * 4 + 48 * 16385 + 40 * 2000  # its KV cache dominates: ~25 MB
    assert default_lanes(seed, [2000] * 1000, 2.0) == 2 * 2**30 // per_lane == 82
    assert default_lanes(seed, [2000] * 10, 2.0) == 10  # no empty lanes beyond the utterances
    assert default_lanes(seed, [2000] * 10, 0.001) == 1  # a budget below one lane still codes


def test_files_of_earlier_formats_written_by_their_own_coders_still_decode(markov_run, tmp_path, monkeypatch):
    """Files of the earlier formats (1: constriction, lane by lane; 2: the lane coder over `forward_cached`, in
    lockstep; 3: stretches side by side over torch's rms_norm) are read by today's decompress."""
    from audiobits.compress.range_coder import FORMATS

    run, new_path, _ = markov_run
    new = CompressedFile.read(new_path)
    assert new.header["format_version"] == 4
    for version in (1, 2, 3):
        path = tmp_path / f"v{version}.abz"
        with monkeypatch.context() as patch:
            patch.setattr(compress_module, "WRITTEN", FORMATS[version])
            compress_run(run, lanes=4, out=path, verify=False, log=lambda *a: None)
        old = CompressedFile.read(path)
        assert old.header["format_version"] == version
        if version == 1:  # another coder: other bytes
            assert old.header["quantization"]["coder"].startswith("constriction") and old.payloads != new.payloads
        restored = decompress(path, run, out=tmp_path / f"ids{version}.npz", log=lambda *a: None)
        assert all(np.array_equal(restored[i], want) for i, want in enumerate(val_utterances(run)))

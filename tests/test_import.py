"""`audiobits import`: precomputed tokens from a hub-layout `datasets` dataset, parquet files or a .npy folder become
bins byte-identical to the bins `prepare` writes for the same codes; keys are matched to the corpus (iso-data), and
an id out of range or a missing key each give one clear line."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from audiobits.bins import SPLITS, TokenBins
from audiobits.cli import main
from audiobits.errors import ConfigValueError
from audiobits.importing import TokenLayout
from audiobits.representations import build

pytest.importorskip("pycodec2", reason="pycodec2 (audiobits[codec2]) writes the reference bins")

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LAYOUT = {"codebooks": [{"size": 256, "frame_rate": 25.0}] * 3 + [{"size": 16, "frame_rate": 25.0}]}  # 700C
FAST = ["--data.init_args.encode.accelerator", "cpu", "--data.init_args.encode.num_workers", "0"]


def bin_contents(bins_dir: Path) -> dict:
    """Each split's .bin bytes and index arrays: what must be identical between imported and prepared bins."""
    out = {}
    for split in SPLITS:
        with np.load(bins_dir / f"{split}.idx.npz") as index:
            out[split] = ((bins_dir / f"{split}.bin").read_bytes(), {k: index[k].tolist() for k in index.files})
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """An AudioFolder prepared as codec2_700c; every utterance's codes (levels × frames), seconds and text."""
    from corpus_builders import speech_rows, write_audio_folder

    tmp = tmp_path_factory.mktemp("import")
    folder = write_audio_folder(tmp / "mine", {"train": speech_rows(5), "val": speech_rows(3, prefix="v")})
    main(["prepare", "--config", str(CONFIGS / "codec2_700c.yaml"), "--data.init_args.corpus",
          "audiobits.corpora.AudioFolder", "--data.init_args.corpus.root", str(folder), "--data.init_args.root",
          str(tmp / "data"), *FAST])
    bins_dir = tmp / "data" / "mine" / "codec2_700c"
    bins, codec = TokenBins(bins_dir), build("codec2_700c")
    rows = {}
    for split in SPLITS:
        part = bins.split(split)
        for i, uid in enumerate(part.ids):
            ids = np.asarray(part.tokens[part.offsets[i]:part.offsets[i + 1] - 1])
            rows[str(uid)] = (split, np.stack(codec.unflatten(ids)).astype(np.int16), float(part.seconds[i]),
                              (tmp / "mine" / split / "metadata.csv"))
    texts = {}
    for split in SPLITS:
        for line in (folder / split / "metadata.csv").read_text(encoding="utf-8").splitlines()[1:]:
            name, _, text = line.partition(",")
            texts[name] = text.strip('"')
    return {"tmp": tmp, "folder": folder, "bins_dir": bins_dir, "rows": rows, "texts": texts}


def run_import(tmp: Path, source: dict, corpus: dict, root: Path, name: str = "codec2_700c") -> Path:
    """Write an import config (the shape docs/import.md shows) and run `audiobits import` on it."""
    config = {"data": {"class_path": "audiobits.importing.ImportDataModule",
                       "init_args": {"corpus": corpus, "name": name, "source": source, "layout": LAYOUT,
                                     "root": str(root)}}}
    path = tmp / f"import-{len(list(tmp.glob('import-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    main(["import", "--config", str(path), *FAST])
    return path


def audio_corpus(prepared) -> dict:
    return {"class_path": "audiobits.corpora.AudioFolder", "init_args": {"root": str(prepared["folder"])}}


def write_npy_folder(root: Path, rows: dict, skip: tuple[str, ...] = ()) -> Path:
    for key, (_, codes, _, _) in rows.items():
        if key not in skip:
            root.mkdir(parents=True, exist_ok=True)
            np.save(root / f"{key}.npy", codes)
    return root


def test_npy_folder_import_is_byte_identical_to_prepare(prepared, tmp_path):
    npy = write_npy_folder(tmp_path / "tokens", prepared["rows"])
    run_import(tmp_path, {"class_path": "audiobits.importing.NpyFolderTokens", "init_args": {"root": str(npy)}},
               audio_corpus(prepared), tmp_path / "data")
    imported = tmp_path / "data" / "mine" / "codec2_700c"
    assert bin_contents(imported) == bin_contents(prepared["bins_dir"])
    ours, theirs = TokenBins(imported).meta, TokenBins(prepared["bins_dir"]).meta
    assert (ours.vocab_size, ours.eos_id, ours.codebooks, ours.tokens_per_frame) == (
        theirs.vocab_size, theirs.eos_id, theirs.codebooks, theirs.tokens_per_frame)
    assert {s: m.sha256 for s, m in ours.splits.items()} == {s: m.sha256 for s, m in theirs.splits.items()}
    assert ours.encoder["weights"] == "precomputed" and ours.encoder["source"]["root"] == str(npy)
    other = write_npy_folder(tmp_path / "other_tokens", prepared["rows"])
    with pytest.raises(SystemExit, match="was imported from .*other_tokens.*Give the import another name"):
        run_import(tmp_path, {"class_path": "audiobits.importing.NpyFolderTokens",
                              "init_args": {"root": str(other)}}, audio_corpus(prepared), tmp_path / "data")


def test_hub_layout_dataset_is_its_own_corpus(prepared, tmp_path):
    """A dataset written by `datasets` in the hub layout (parquet per split + README configs), with durations and
    transcripts in columns, is the corpus itself (`TokenCorpus`): no audio is read, and the bins still equal prepare's
    (its durations are the recordings' true seconds)."""
    import datasets

    hub = tmp_path / "hub"
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split, upstream in (("train", "train"), ("val", "validation")):
        keys = [k for k, row in prepared["rows"].items() if row[0] == split]
        rows = prepared["rows"]
        datasets.Dataset.from_dict({
            "utt": keys, "codes": [rows[k][1].tolist() for k in keys], "duration": [rows[k][2] for k in keys],
            "sentence": [prepared["texts"][k] for k in keys]}).to_parquet(
            str(hub / "data" / f"{upstream}-00000-of-00001.parquet"))
        lines += [f"  - split: {upstream}", f"    path: data/{upstream}-*"]
    (hub / "README.md").write_text("\n".join(lines + ["---", ""]), encoding="utf-8")
    columns = {"key": "utt", "codes": "codes", "seconds": "duration", "text": "sentence"}
    source = {"class_path": "audiobits.importing.DatasetTokens",
              "init_args": {"path": str(hub), "columns": columns,
                            "splits": {"train": ["train"], "val": ["validation"]}}}
    corpus = {"class_path": "audiobits.importing.TokenCorpus", "init_args": {"source": source, "name": "mine"}}
    run_import(tmp_path, source, corpus, tmp_path / "data")
    assert bin_contents(tmp_path / "data" / "mine" / "codec2_700c") == bin_contents(prepared["bins_dir"])


def test_parquet_with_one_column_per_level(prepared, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(prepared["rows"])
    table = {"id": keys, **{f"level{k}": [prepared["rows"][key][1][k].tolist() for key in keys] for k in range(4)}}
    pq.write_table(pa.table(table), tmp_path / "tokens.parquet")
    source = {"class_path": "audiobits.importing.DatasetTokens",
              "init_args": {"path": "parquet", "data_files": str(tmp_path / "tokens.parquet"),
                            "columns": {"key": "id", "codes": [f"level{k}" for k in range(4)]}}}
    run_import(tmp_path, source, audio_corpus(prepared), tmp_path / "data")
    assert bin_contents(tmp_path / "data" / "mine" / "codec2_700c") == bin_contents(prepared["bins_dir"])


def test_id_out_of_range_names_utterance_level_and_id_and_writes_nothing(prepared, tmp_path):
    rows = dict(prepared["rows"])
    split, codes, seconds, meta = rows["u002.wav"]
    codes = codes.copy()
    codes[3, 1] = 16  # level 3 (700C's last field) has 16 codes
    rows["u002.wav"] = (split, codes, seconds, meta)
    npy = write_npy_folder(tmp_path / "tokens", rows)
    with pytest.raises(SystemExit) as failure:
        run_import(tmp_path, {"class_path": "audiobits.importing.NpyFolderTokens", "init_args": {"root": str(npy)}},
                   audio_corpus(prepared), tmp_path / "data")
    message = str(failure.value)
    assert message.startswith("audiobits: error: ") and "\n" not in message
    assert "utterance 'u002.wav', level 3: id 16 is outside [0, 16)" in message
    assert not (tmp_path / "data" / "mine" / "codec2_700c").exists()
    assert not (tmp_path / "data" / "mine" / "dropped.jsonl").exists()


def test_missing_key_is_dropped_everywhere_and_extra_key_reported(prepared, tmp_path, caplog):
    """A corpus utterance without tokens leaves every representation of the corpus (the prepared codec2 bins are
    rewritten without it by the next prepare); a source key the corpus lacks is reported, not binned."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(prepared["bins_dir"].parent, root / "mine")
    rows = dict(prepared["rows"])
    rows["stranger.wav"] = rows["u001.wav"]
    npy = write_npy_folder(tmp_path / "tokens", rows, skip=("v001.wav",))
    with caplog.at_level(logging.WARNING):
        run_import(tmp_path, {"class_path": "audiobits.importing.NpyFolderTokens", "init_args": {"root": str(npy)}},
                   audio_corpus(prepared), root, name="my_codec")
    drops = [json.loads(line) for line in (root / "mine" / "dropped.jsonl").read_text().splitlines()]
    assert drops == [{"split": "val", "id": "v001.wav", "representation": "my_codec",
                      "reason": f"no imported tokens for this key in NpyFolderTokens {npy}"}]
    assert "v001.wav" not in TokenBins(root / "mine" / "my_codec").split("val").ids
    assert any("1 of its keys are not utterances of corpus mine" in r.getMessage() and "stranger.wav" in r.getMessage()
               for r in caplog.records)
    main(["prepare", "--config", str(CONFIGS / "codec2_700c.yaml"), "--data.init_args.corpus",
          "audiobits.corpora.AudioFolder", "--data.init_args.corpus.root", str(prepared["folder"]),
          "--data.init_args.root", str(root), *FAST])
    assert list(TokenBins(root / "mine" / "codec2_700c").split("val").ids) == list(
        TokenBins(root / "mine" / "my_codec").split("val").ids) == ["v000.wav", "v002.wav"]


def test_import_refuses_a_codec_config(tmp_path):
    with pytest.raises(SystemExit, match="not audiobits.importing.ImportDataModule"):
        main(["import", "--config", str(CONFIGS / "codec2_700c.yaml"), "--data.init_args.root", str(tmp_path)])


@pytest.mark.parametrize("stored, codes", [("levels_frames", [[1, 2, 3], [4, 5, 6]]),
                                           ("frames_levels", [[1, 4], [2, 5], [3, 6]]),
                                           ("interleaved", [1, 4, 2, 5, 3, 6])])
def test_layouts_give_one_frame_major_stream(stored, codes):
    layout = TokenLayout(codebooks=[{"size": 10, "frame_rate": 50.0}] * 2, stored=stored)
    assert layout.flat_ids(codes, "k").tolist() == [1, 14, 2, 15, 3, 16]
    assert (layout.eos_id, layout.flattening, layout.frames(codes, "k")) == (20, "frame_major_level_offsets", 3)


def test_layout_refuses_levels_at_different_rates_and_wrong_shapes():
    with pytest.raises(ConfigValueError, match="one frame rate"):
        TokenLayout(codebooks=[{"size": 4096, "frame_rate": 12.0}, {"size": 4096, "frame_rate": 24.0}])
    layout = TokenLayout(codebooks=[{"size": 10, "frame_rate": 50.0}] * 2, stored="interleaved")
    with pytest.raises(ConfigValueError, match="utterance 'k': .* not whole frames of 2"):
        layout.flat_ids([1, 2, 3], "k")
    assert TokenLayout(codebooks=[{"size": 300, "frame_rate": None}]).flattening == "none"


def test_token_corpus_durations_from_frames_and_metadata_csv(tmp_path):
    """An npy folder with split subfolders and a metadata.csv is a corpus on its own: seconds = frames ÷ frame rate,
    transcripts and speakers from the csv."""
    from audiobits.importing import NpyFolderTokens, TokenColumns, TokenCorpus

    for split, key, frames in (("train", "a/one", 50), ("train", "two", 25), ("val", "three", 10)):
        (tmp_path / split / key).parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp_path / split / f"{key}.npz", tokens=np.zeros(frames, np.int32))
    (tmp_path / "metadata.csv").write_text("name,text,who\na/one,hello,ann\nthree,bye,bob\n", encoding="utf-8")
    source = NpyFolderTokens(str(tmp_path), TokenColumns(key="name", codes="tokens", text="text", speaker="who"),
                             splits={"train": ["train"], "val": ["val"]})
    corpus = TokenCorpus(source, "mine", TokenLayout(codebooks=[{"size": 8, "frame_rate": 25.0}]))
    train = corpus.load("train", 0, corpus.size("train"))
    assert [(u.id, u.duration, u.text) for u in train] == [("a/one", 2.0, "hello"), ("two", 1.0, "")]
    assert corpus.speaker_of("val", "three") == "bob" and corpus.size("val") == 1
    with pytest.raises(ConfigValueError, match="durations need source.columns.seconds"):
        TokenCorpus(source, "mine", TokenLayout(codebooks=[{"size": 8, "frame_rate": None}]))


def test_codes_that_do_not_fit_the_duration_or_a_missing_key_are_utterance_errors(tmp_path):
    """What drops an utterance (with its reason) rather than stopping the import: no tokens under its key, or a frame
    count far from duration × frame rate (tokens of another utterance); within max_frame_mismatch they are binned."""
    from audiobits.importing import ImportedTokens, NpyFolderTokens
    from audiobits.representations import Utterance, UtteranceError

    np.save(tmp_path / "a.npy", np.arange(24) % 8)
    tokens = ImportedTokens("mine", NpyFolderTokens(str(tmp_path)), TokenLayout(codebooks=[{"size": 8,
                                                                                            "frame_rate": 25.0}]))
    assert tokens.encode([Utterance("a", "", seconds=1.0)])[0].tolist() == (np.arange(24) % 8).tolist()
    with pytest.raises(UtteranceError, match="24 frames of imported tokens for 2.000 s, expected ~50 at 25"):
        tokens.check(Utterance("a", "", seconds=2.0))
    with pytest.raises(UtteranceError, match="no imported tokens for this key"):
        tokens.check(Utterance("b", "", seconds=1.0))
    assert (tokens.vocab_size, tokens.eos_id, tokens.encoder_info()["weights"]) == (9, 8, "precomputed")

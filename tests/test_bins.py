"""Token bins: round trip, dtype choice, atomic writes, and a clear error for each kind of bad directory."""

import json
import warnings

import numpy as np
import pytest

from audiobits.errors import AudiobitsError

from audiobits.bins import BinFormatError, BinMeta, BinWriter, Codebook, TokenBins, dtype_for_vocab, is_complete


def _meta(vocab=100):
    return BinMeta(representation="toy", corpus="c", encoder={"name": "toy", "weights": "none"}, vocab_size=vocab,
                   eos_id=vocab - 1, codebooks=[Codebook(vocab - 1, 10.0)], flattening="none")


def _write(path, vocab=100, utterances=((5, 1.0, 3), (7, 2.0, 4))):
    rng = np.random.default_rng(0)
    with BinWriter(path, _meta(vocab)) as w:
        for split in ("train", "val"):
            for i, (n, sec, nbytes) in enumerate(utterances):
                w.add(split, f"{split}{i}", rng.integers(0, vocab - 1, n), sec, nbytes)
    return path


def test_round_trip_with_index_and_totals(tmp_path):
    d = _write(tmp_path / "c" / "toy")
    bins = TokenBins(d, verify_checksum=True)
    val = bins.split("val")
    assert bins.meta.dtype == "uint16" and bins.meta.storage_bits == 16
    assert list(val.offsets) == [0, 6, 14]  # each utterance + its EOS
    assert list(val.ids) == ["val0", "val1"]
    assert val.tokens[5] == val.tokens[13] == 99
    assert bins.meta.splits["val"].seconds == 3.0 and bins.meta.splits["val"].text_bytes == 7
    assert list(val.utterance_of(np.array([0, 5, 6, 13]))) == [0, 0, 1, 1]
    saved = json.loads((d / "meta.json").read_text())
    assert saved["codebooks"] == [{"size": 99, "frame_rate": 10.0}] and saved["eos_id"] == 99


def test_dtype_follows_vocab_including_specials():
    assert dtype_for_vocab(65536) == np.uint16
    assert dtype_for_vocab(65537) == np.uint32  # NeuCodec's 65536 codes + EOS


def test_uint32_bins(tmp_path):
    d = _write(tmp_path / "n", vocab=65537)
    assert TokenBins(d).split("train").tokens.dtype == np.uint32


def test_failed_write_leaves_nothing_that_looks_complete_and_keeps_the_old(tmp_path):
    d = _write(tmp_path / "x")
    before = (d / "train.bin").read_bytes()
    with pytest.raises(RuntimeError):
        with BinWriter(d, _meta()) as w:
            w.add("train", "u", np.arange(3), 1.0, 1)
            raise RuntimeError("encoder died")
    assert (d / "train.bin").read_bytes() == before and is_complete(d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    with pytest.raises(RuntimeError):
        with BinWriter(tmp_path / "y", _meta()) as w:
            raise RuntimeError("died before writing")
    assert not (tmp_path / "y").exists()


def test_writer_rejects_ids_outside_vocab(tmp_path):
    with pytest.raises(ValueError, match="ids must lie in"):
        with BinWriter(tmp_path / "z", _meta()) as w:
            w.add("train", "u", np.array([1, 100]), 1.0, 1)


def test_missing_meta_says_how_to_fix(tmp_path):
    d = _write(tmp_path / "m")
    (d / "meta.json").unlink()
    with pytest.raises(BinFormatError, match=r"meta.json not found.*audiobits prepare"):
        TokenBins(d)


@pytest.mark.parametrize("damage, why", [
    (lambda text: b"\xff" + text, "not UTF-8 text (byte 0xff at offset 0: overwritten with other data?)"),
    (lambda text: text[:40], "not valid JSON (truncated?): "),
    (lambda text: b"[]", "holds a JSON list, not the object audiobits writes"),
])
def test_a_damaged_meta_json_is_one_user_error_naming_it(tmp_path, damage, why):
    d = _write(tmp_path / "m")
    (d / "meta.json").write_bytes(damage((d / "meta.json").read_bytes()))
    with pytest.raises(AudiobitsError) as error:
        TokenBins(d)
    assert str(error.value).startswith(f"{d / 'meta.json'}: {why}") and "prepare it again." in str(error.value)


def test_truncated_bin_is_named(tmp_path):
    d = _write(tmp_path / "t")
    data = (d / "train.bin").read_bytes()
    (d / "train.bin").write_bytes(data[:-2])
    with pytest.raises(BinFormatError, match=r"train.bin: 26 bytes.*truncated"):
        TokenBins(d)


def test_id_at_or_above_vocab_is_named_by_the_verifying_open_and_the_plain_open_does_not_scan(tmp_path):
    d = _write(tmp_path / "v")
    assert all(split.ids_checked for split in TokenBins(d).meta.splits.values())  # the writer scanned once
    tokens = np.fromfile(d / "val.bin", dtype=np.uint16)
    tokens[2] = 100
    tokens.tofile(d / "val.bin")
    TokenBins(d)  # sizes, index and sampled EOS only: a changed id inside an utterance is not read
    with pytest.raises(BinFormatError, match=r"val.bin: utterance 'val0' holds token id 100 \(position 2\), but "
                                             r"meta.json's vocab_size is 100"):
        TokenBins(d, verify_checksum=True)


def test_an_index_that_does_not_match_the_bin_is_caught_at_open(tmp_path):
    d = _write(tmp_path / "e", utterances=[(5, 1.0, 3)] * 200)
    tokens = np.fromfile(d / "train.bin", dtype=np.uint16)
    tokens[[5, 6]] = tokens[[6, 5]]  # the first utterance's EOS moves one place: sampled ends include it
    tokens.tofile(d / "train.bin")
    with pytest.raises(BinFormatError, match=r"train.bin: utterance 'train0' does not end with eos_id 99"):
        TokenBins(d)


def test_older_bins_without_the_ids_checked_record_open_with_a_warning_saying_how_to_verify(tmp_path):
    d = _write(tmp_path / "o")
    meta = json.loads((d / "meta.json").read_text())
    for split in meta["splits"].values():
        del split["ids_checked"]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match=r"does not record `ids_checked`.*verify_checksum true"):
        bins = TokenBins(d)
    assert not bins.meta.splits["train"].ids_checked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TokenBins(d, verify_checksum=True)  # the full scan and the hash pass: nothing to warn about


def test_dtype_mismatch_is_named(tmp_path):
    d = _write(tmp_path / "w")
    meta = json.loads((d / "meta.json").read_text())
    meta["dtype"] = "uint32"
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BinFormatError, match=r"dtype 'uint32' does not match vocab_size 100"):
        TokenBins(d)


def test_missing_meta_field_and_checksum(tmp_path):
    d = _write(tmp_path / "f")
    meta = json.loads((d / "meta.json").read_text())
    del meta["eos_id"]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BinFormatError, match=r"lacks field\(s\) \['eos_id'\]"):
        TokenBins(d)
    d = _write(tmp_path / "g")
    tokens = np.fromfile(d / "train.bin", dtype=np.uint16)
    tokens[0] = (tokens[0] + 1) % 99
    tokens.tofile(d / "train.bin")
    TokenBins(d)  # still a valid directory ...
    with pytest.raises(BinFormatError, match="sha256 differs"):
        TokenBins(d, verify_checksum=True)  # ... but not the one that was written


def test_speakers_are_optional_in_the_index_and_recorded_only_when_every_utterance_has_one(tmp_path):
    meta = BinMeta(representation="r", corpus="c", encoder={}, vocab_size=9, eos_id=8,
                   codebooks=[Codebook(8, 10.0)], flattening="none")
    with BinWriter(tmp_path / "all", meta) as w:
        w.add("val", "a", np.arange(3), 1.0, 1, speaker="ann")
        w.add("val", "b", np.arange(3), 1.0, 1, speaker="bob")
    with BinWriter(tmp_path / "some", meta) as w:
        w.add("val", "a", np.arange(3), 1.0, 1, speaker="ann")
        w.add("val", "b", np.arange(3), 1.0, 1)
    assert TokenBins(tmp_path / "all").split("val").speakers.tolist() == ["ann", "bob"]
    assert TokenBins(tmp_path / "some").split("val").speakers is None  # older bins read the same way
    idx = tmp_path / "all" / "val.idx.npz"
    with np.load(idx) as saved:
        arrays = dict(saved)
    np.savez(idx, **{**arrays, "speakers": arrays["speakers"][:1]})
    with pytest.raises(BinFormatError, match="1 speakers for 2 utterances"):
        TokenBins(tmp_path / "all")

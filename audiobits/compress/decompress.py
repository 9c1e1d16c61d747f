"""``audiobits decompress FILE RUN_DIR``: the exact token ids back from a file of `audiobits compress`, and with
``--audio DIR`` the audio they decode to, through the codec that wrote the run's bins."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from audiobits.bins import TokenBins
from audiobits.compress.compress import check_run_dir, decompress
from audiobits.compress.compressed_file import CompressedFile
from audiobits.errors import AudiobitsError
from audiobits.files import check_output_dir, write_atomic
from audiobits.representations import can_decode, from_meta
from audiobits.analysis.runs import load_run


def write_audio(restored: dict[int, np.ndarray], bins: TokenBins, split: str, out_dir: str | os.PathLike,
                log=print) -> list[Path]:
    """Decode each restored utterance (its EOS removed) with the representation rebuilt from the bins' meta.json
    and write ``<out_dir>/<utterance id>.wav`` (float32 at its decoded rate, each written to a temporary name and
    renamed; ids that clash once made safe for a file name get ``_<index>``); returns the paths in utterance order."""
    representation = from_meta(bins.meta)
    if not can_decode(representation):
        raise AudiobitsError(f"{representation.name} ids do not decode to audio (no decode()); leave out --audio")
    ids, eos = bins.split(split).ids, bins.meta.eos_id
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()
    for i in sorted(restored):
        tokens = restored[i][:-1] if len(restored[i]) and restored[i][-1] == eos else restored[i]
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(ids[i]))
        suffix = ""
        while f"{name}{suffix}.wav" in used:
            suffix = f"_{i}" if not suffix else suffix + "_"
        used.add(f"{name}{suffix}.wav")
        path = out_dir / f"{name}{suffix}.wav"
        audio = representation.decode(np.asarray(tokens, np.int64))
        write_atomic(path, lambda f: sf.write(f, audio, representation.decoded_sample_rate, subtype="FLOAT",
                                              format="WAV"))
        written.append(path)
    log(f"[decompress] {len(written)} utterances decoded by {representation.name} to {out_dir}")
    return written


def main(file: str, run: str, out: str | None = None, audio: str | None = None, only: list[int] | None = None,
         check_bins: bool = True) -> None:
    """The ids (and audio) back from a compressed file.

    Args:
        file: the compressed file.
        run: the run directory that compressed it (its checkpoints/last.ckpt).
        out: npz to write: ids (concatenated), offsets, index (default: FILE with .ids.npz); its folder must exist.
        audio: also decode the restored ids to <utterance id>.wav files in this folder, created if missing (codecs
            and mu-law; written only when every asked-for utterance was restored).
        only: decode only these utterance indices.
        check_bins: refuse a run whose bins differ from the coded ones.
    """
    if audio is not None:  # FILE (the input) first, then the run and --audio, before anything is decoded
        split = CompressedFile.read(Path(file)).header["split"]
        bins = audio_bins(run, audio)
    restored = decompress(file, run, out, only, check_bins)
    if audio is not None:
        write_audio(restored, bins, split, audio)


def audio_bins(run: str, audio: str) -> TokenBins:
    """The run's bins (their meta.json says which codec decodes the ids), then ``--audio``'s folder checked: the
    input before the output, both before anything is decoded or written."""
    check_run_dir(Path(run))
    bins_dir = load_run(run).bins_dir()
    if bins_dir is None:
        raise AudiobitsError(f"--audio: the run {run} names no bins directory, whose meta.json says which codec "
                             "decodes the ids")
    bins = TokenBins(bins_dir)
    check_output_dir(audio, "--audio")
    return bins

"""Peak resident memory of `audiobits prepare` on one long synthetic recording, whole vs block by block.

Writes an AudioFolder whose train split is one recording of ``--minutes`` of tones and noise (16-bit WAV at
``--rate``), then runs `prepare_bins` for each representation in a fresh process (as `audiobits prepare` does:
`Trainer.predict` on the CPU, 2 dataloader workers) and prints that process's peak RSS and its dataloader workers'
largest (``ru_maxrss`` of self and of children). The baseline is in the same run: ``mulaw`` and ``codec2_3200``
read and resample the recording whole, their ``_polyphase`` names block by block (docs/long_recordings.md):

    PYTHONPATH=$PWD python benchmarks/prepare_memory.py --minutes 10
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def write_corpus(root: Path, minutes: float, rate: int) -> Path:
    """A train split of one long recording written block by block (a few seconds of tones + noise repeated with
    drift) and a val split of one short one."""
    rng = np.random.default_rng(0)
    for split, seconds in (("train", minutes * 60), ("val", 5.0)):
        (root / split).mkdir(parents=True, exist_ok=True)
        with sf.SoundFile(root / split / "long.wav", "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
            block, written, total = 10 * rate, 0, round(seconds * rate)
            while written < total:
                n = min(block, total - written)
                t = (written + np.arange(n)) / rate
                f.write(0.3 * np.sin(2 * np.pi * (200 + 50 * np.sin(t / 7)) * t) + 0.05 * rng.standard_normal(n))
                written += n
        (root / split / "metadata.csv").write_text("file_name,text\nlong.wav,a long recording\n")
    return root


def measure(corpus: str, representation: str, out: str) -> dict:
    """Run prepare in this process and return the peak RSS of it and of its dataloader workers, in MiB."""
    from audiobits.corpora import AudioFolder
    from audiobits.prepare.encode import EncodeOptions
    from audiobits.prepare.prepare import prepare_bins
    from audiobits.representations import build

    prepare_bins(AudioFolder(corpus), build(representation), out, EncodeOptions(accelerator="cpu", devices=1))
    return {"self_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "workers_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long recording")
    parser.add_argument("--rate", type=int, default=24000, help="its sample rate (Hz)")
    parser.add_argument("--reps", nargs="+",
                        default=["mulaw", "mulaw_polyphase", "codec2_3200", "codec2_3200_polyphase"])
    parser.add_argument("--measure", nargs=3, metavar=("CORPUS", "REP", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_corpus(Path(tmp) / "long", args.minutes, args.rate)
        size = (corpus / "train" / "long.wav").stat().st_size / 2**20
        samples = sf.info(corpus / "train" / "long.wav").frames
        print(f"one recording of {args.minutes:g} min at {args.rate} Hz: {samples} samples ({size:.0f} MiB as 16-bit "
              "WAV)")
        for rep in args.reps:
            run = subprocess.run([sys.executable, __file__, "--measure", str(corpus), rep, str(Path(tmp) / "bins")],
                                 capture_output=True, text=True, check=True)
            peak = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{rep:>12}: peak RSS {peak['self_mib']:7.0f} MiB (prepare), {peak['workers_mib']:7.0f} MiB "
                  "(largest dataloader worker)")


if __name__ == "__main__":
    main()

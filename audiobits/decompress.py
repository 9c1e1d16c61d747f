"""``audiobits decompress FILE RUN_DIR``: the exact token ids back from a file of `audiobits compress`."""

from __future__ import annotations

from jsonargparse import ArgumentParser

from audiobits.compress import decompress


def main(argv: list[str] | None = None) -> None:
    """`audiobits decompress FILE RUN_DIR [--out IDS.npz] [--only [0,3]] [--check_bins true]`."""
    parser = ArgumentParser(prog="audiobits decompress", description=__doc__.splitlines()[0])
    parser.add_argument("file", help="the compressed file")
    parser.add_argument("run", help="the run directory that compressed it (its checkpoints/last.ckpt)")
    parser.add_argument("--out", type=str | None, default=None,
                        help="npz to write: ids (concatenated), offsets, index (default: FILE with .ids.npz)")
    parser.add_argument("--only", type=list[int] | None, default=None, help="decode only these utterance indices")
    parser.add_argument("--check_bins", type=bool, default=True,
                        help="refuse a run whose bins differ from the coded ones")
    args = parser.parse_args(argv)
    decompress(args.file, args.run, args.out, args.only, args.check_bins)

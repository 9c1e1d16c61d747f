"""Real recorded speech for tests: Debian's Asterisk prompts laid out as an AudioFolder.

A minimal stand-in, with the same name and signature, for the shared fixture of issue #21 (which adds
``audiobits.asterisk`` and more languages): English only, columns file_name and text. ``.ci/run`` installs
``asterisk-core-sounds-en-wav``; without it the tests that use it skip, saying what to install.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")


def asterisk_audiofolder(root: Path, languages: Sequence[str] = ("en",), limit: int | None = 12,
                         val_share: float = 0.25) -> Path:
    """An AudioFolder of at most ``limit`` real English prompts (by name) under ``root``; a prompt is in val when a
    CRC32 of its name falls below ``val_share``. Skips the calling test when the package is not installed."""
    if tuple(languages) != ("en",):
        raise NotImplementedError("this stand-in lays out English only; issue #21's fixture adds the others")
    notes = DOCS / "asterisk-core-sounds-en" / "core-sounds-en.txt.gz"
    if not (SOUNDS / "en").is_dir() or not notes.is_file():
        pytest.skip("real speech needs apt-get install asterisk-core-sounds-en-wav (.ci/run installs it)")
    texts = {}
    for line in gzip.decompress(notes.read_bytes()).decode("utf-8-sig").splitlines():
        name, sep, text = line.partition(":")
        text = " ".join(text.split())
        if sep and name.strip() and " " not in name.strip() and text and not text.startswith("["):
            texts.setdefault(name.strip(), text)
    names = [n for n in sorted(texts) if (SOUNDS / "en" / f"{n}.wav").is_file()][:limit]
    for split in ("train", "val"):
        chosen = [n for n in names if (zlib.crc32(n.encode()) < val_share * 2 ** 32) == (split == "val")]
        (root / split).mkdir(parents=True, exist_ok=True)
        with open(root / split / "metadata.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", "text"])
            for name in chosen:
                (root / split / f"{name}.wav").parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(SOUNDS / "en" / f"{name}.wav", root / split / f"{name}.wav")
                writer.writerow([f"{name}.wav", texts[name]])
    return root

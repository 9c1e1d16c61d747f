"""Debian's Asterisk core sound prompts as a multilingual AudioFolder: real recorded speech that installs offline.

``apt-get install asterisk-core-sounds-{en,es,fr,it,ru}-wav`` gives each language's prompts read by one
professional speaker (8 kHz 16-bit mono wav, ~25 min per language) under ``/usr/share/asterisk/sounds/<lang>``
(a link to the voice's folder, e.g. ``en_US_f_Allison``) and their transcripts in
``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz`` (lines ``<prompt>: <transcript>``).
Most prompts exist in every language under the same name (``vm-goodbye``, ``digits/7``): matched by name they are
parallel content, read by different speakers (Allison Smith reads both English and Spanish).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiobits.errors import AudiobitsError
from audiobits.files import copy_atomic, write_csv_atomic

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
LANGUAGES = ("en", "es", "fr", "it", "ru")
COLUMNS = ("file_name", "text", "language", "speaker", "prompt")


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt: its name (shared across languages), language, transcript, speaker and wav file."""

    name: str
    language: str
    text: str
    speaker: str
    path: Path


def package_of(language: str) -> str:
    """The Debian package holding ``language``'s recordings (its transcripts come with it, in the base package)."""
    return f"asterisk-core-sounds-{language}-wav"


def transcripts(language: str, docs: Path = DOCS) -> dict[str, str]:
    """Prompt name -> transcript from ``core-sounds-<language>.txt.gz``; bracketed non-speech ("[beep]") and empty
    entries are left out."""
    path = docs / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    if not path.is_file():
        raise AudiobitsError(f"{path} not found: apt-get install {package_of(language)} (it brings the transcripts)")
    out: dict[str, str] = {}
    for line in gzip.decompress(path.read_bytes()).decode("utf-8-sig").splitlines():
        name, sep, text = line.partition(":")
        text = " ".join(text.split())
        if sep and name.strip() and not name.startswith(";") and " " not in name.strip() and text \
                and not text.startswith("["):
            out.setdefault(name.strip(), text)
    return out


def prompts(language: str, sounds: Path = SOUNDS, docs: Path = DOCS) -> dict[str, Prompt]:
    """Every prompt of ``language`` that has both a wav recording and a spoken transcript, by name."""
    folder = (sounds / language).resolve()
    if not folder.is_dir():
        raise AudiobitsError(f"{sounds / language} not found: apt-get install {package_of(language)}")
    speaker = folder.name.rsplit("_", 1)[-1]  # en_US_f_Allison -> Allison
    return {name: Prompt(name, language, text, speaker, folder / f"{name}.wav")
            for name, text in sorted(transcripts(language, docs).items()) if (folder / f"{name}.wav").is_file()}


def is_val(name: str, val_share: float) -> bool:
    """Whether prompt ``name`` is held out for validation, by a CRC32 of the name: the same in every language."""
    return zlib.crc32(name.encode("utf-8")) < val_share * 2 ** 32


def select(languages: Sequence[str], limit: int | None = None) -> dict[str, list[Prompt]]:
    """Per language, its prompts in a fixed order: first those every language of ``languages`` has (parallel), by
    name, then the rest by name; at most ``limit`` per language."""
    found = {language: prompts(language) for language in languages}
    shared = set.intersection(*(set(p) for p in found.values())) if found else set()
    order = {language: sorted(p, key=lambda name: (name not in shared, name)) for language, p in found.items()}
    return {language: [found[language][name] for name in names[:limit]] for language, names in order.items()}


def write_audiofolder(root: Path, languages: Sequence[str] = ("en",), limit: int | None = None,
                      val_share: float = 0.25) -> Path:
    """Lay the prompts of ``languages`` out as an AudioFolder under ``root`` (``<split>/<language>/<prompt>.wav``
    copies and ``<split>/metadata.csv`` with the columns :data:`COLUMNS`); a prompt is in val in every language or
    in none. Returns ``root``."""
    chosen = select(languages, limit)
    rows: dict[str, list[Prompt]] = {"train": [], "val": []}
    for language in languages:
        for prompt in chosen[language]:
            rows["val" if is_val(prompt.name, val_share) else "train"].append(prompt)
    for split, items in rows.items():
        if not items:
            raise AudiobitsError(f"no {split} prompts among {limit} per language of {list(languages)}: raise limit "
                                 f"or change val_share ({val_share})")
        folder = Path(root) / split
        folder.mkdir(parents=True, exist_ok=True)
        table = [COLUMNS]
        for prompt in items:
            file_name = f"{prompt.language}/{prompt.name}.wav"
            (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(prompt.path, folder / file_name)
            table.append([file_name, prompt.text, prompt.language, prompt.speaker, prompt.name])
        write_csv_atomic(folder / "metadata.csv", table)
    return Path(root)

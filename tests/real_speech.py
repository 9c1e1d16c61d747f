"""Real recorded speech for tests: Debian's Asterisk prompts (`audiobits.demo.asterisk`) laid out as an AudioFolder.

``.ci/run`` installs ``asterisk-core-sounds-{en,es,fr,it,ru}-wav``; where they are missing the tests that use them
skip, saying which apt package to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from audiobits.demo import asterisk
def missing_packages(languages: Sequence[str]) -> list[str]:
    """The apt packages of ``languages`` that are not installed (their recordings or transcripts are absent)."""
    return [asterisk.package_of(language) for language in languages
            if not (asterisk.SOUNDS / language).is_dir()
            or not (asterisk.DOCS / f"asterisk-core-sounds-{language}").is_dir()]


def asterisk_audiofolder(root: Path, languages: Sequence[str] = ("en",), limit: int | None = 12,
                         val_share: float = 0.25) -> Path:
    """An AudioFolder of at most ``limit`` real prompts per language under ``root`` (columns file_name, text,
    language, speaker, prompt; parallel prompts first, a prompt in val in every language or none); skips the
    calling test when a language's package is not installed."""
    missing = missing_packages(languages)
    if missing:
        pytest.skip(f"real speech needs apt-get install {' '.join(missing)} (.ci/run installs them)")
    return asterisk.write_audiofolder(root, languages, limit=limit, val_share=val_share)

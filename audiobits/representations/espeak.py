"""espeak-ng, offline, through the library the ``espeakng-loader`` wheel bundles: synthesized speech and phonemes.

The wheel ships ``libespeak-ng.so`` and its data but no command-line tool, so this drives the C API with ctypes
(``espeak_Initialize`` in synchronous mode, ``espeak_Synth`` with a sample callback, ``espeak_TextToPhonemes``).
espeak-ng keeps one global state per process: every call goes through one lock and one initialized library.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from functools import cache
from pathlib import Path

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PHONEME_NAMES_SEPARATED = ord("|") << 8  # espeak's own ASCII phoneme names, '|' between phonemes of a word
WORD_BOUNDARY = " "
_LOCK = threading.RLock()
_SAMPLES = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or refused a request; the message says what to install or change."""


# A language code's espeak-ng voice where the code itself names none or another variety than speech corpora
# mostly hold ("en" is British English in espeak-ng; corpora tagged "en" are mostly American).
PREFERRED_VOICES = {"en": "en-us", "zh": "cmn", "pt": "pt-br", "es-mx": "es-419"}


def voice_for(language: str) -> str:
    """The espeak-ng voice that reads ``language`` (a code such as ``fr``, ``pt-BR``, ``es_MX``): the code's
    :data:`PREFERRED_VOICES` entry or the code itself, then its base language or that one's entry; an
    `EspeakError` naming the language when espeak-ng has none."""
    code = language.strip().lower().replace("_", "-")
    base = code.split("-")[0]
    tried = list(dict.fromkeys([PREFERRED_VOICES.get(code, code), code, base, PREFERRED_VOICES.get(base, base)]))
    lib, _, data = _library()
    with _LOCK:
        for voice in tried:
            if lib.espeak_SetVoiceByName(voice.encode()) == 0:
                return voice
    raise EspeakError(f"espeak-ng has no voice for language {language!r} (tried {tried}); its languages are the "
                      f"voice files under {data / 'lang'}: leave the language's utterances out or map it to one")


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


@cache
def _library() -> tuple[ctypes.CDLL, int, Path]:
    """Load and initialize libespeak-ng once per process: (library, sample rate, data directory)."""
    try:
        import espeakng_loader
    except ImportError as e:
        raise EspeakError("espeak-ng is needed for synthesized speech and phonemes: pip install "
                          "'audiobits[demo]' (the espeakng-loader wheel bundles it)") from e
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    data = Path(espeakng_loader.get_data_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
    lib.espeak_SetSynthCallback.argtypes = [_SAMPLES]
    sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data).encode(), 0)
    if sample_rate <= 0:
        raise EspeakError(f"espeak_Initialize failed with data directory {data}; reinstall espeakng-loader")
    return lib, sample_rate, data


class Espeak:
    """One espeak-ng voice: ``synthesize(text)`` gives float32 speech, ``phonemes(text)`` its phoneme names.

    Phonemes are espeak's ASCII phoneme names (``h @ l ' oU``: stress marks and pauses are tokens of their own,
    words are separated by :data:`WORD_BOUNDARY`); :meth:`inventory` lists every name the voice's phoneme table
    can emit, read from espeak's compiled ``phontab``, so a vocabulary built on it is fixed for the voice.
    """

    def __init__(self, voice: str = "en-us") -> None:
        self.voice = voice
        self._lib, self.sample_rate, self._data = _library()
        self._chunks: list[np.ndarray] = []
        self._inventory: list[str] | None = None
        self._callback = _SAMPLES(self._collect)  # keep a reference: espeak holds only the C pointer
        with _LOCK:
            self._select()

    def _select(self) -> None:
        if self._lib.espeak_SetVoiceByName(self.voice.encode()) != 0:
            raise EspeakError(f"espeak-ng has no voice {self.voice!r}; pick one from espeak-ng-data/lang in "
                              f"{self._data.parent} (e.g. 'en-us', 'en', 'fr', 'de')")

    def _collect(self, samples, count: int, events) -> int:
        if samples and count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str) -> np.ndarray:
        """Speech for ``text`` as float32 mono in [-1, 1] at :attr:`sample_rate` Hz."""
        data = text.encode("utf-8") + b"\0"
        with _LOCK:
            self._select()
            self._lib.espeak_SetSynthCallback(self._callback)
            self._chunks = []
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise EspeakError(f"espeak_Synth returned {status} for {text[:60]!r}")
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        return (pcm.astype(np.float32) / 32768.0).clip(-1.0, 1.0)

    def phonemes(self, text: str) -> list[str]:
        """espeak's phoneme names for ``text``: one item per phoneme, stress mark or pause, words separated.

        espeak glues stress marks and pauses to the next phoneme (``'aI``, ``_:D``); each name is cut into the
        longest names of :meth:`inventory`. A piece no name matches is kept whole, so a caller can reject it.
        """
        names = set(self.inventory())
        longest = max(map(len, names))
        out: list[str] = []
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        with _LOCK:
            self._select()
            while buffer.value:  # espeak converts one clause per call and advances the pointer (NULL at the end)
                clause = self._lib.espeak_TextToPhonemes(ctypes.byref(buffer), _CHARS_UTF8,
                                                         _PHONEME_NAMES_SEPARATED)
                for word in (clause or b"").decode("utf-8").split():
                    if out:
                        out.append(WORD_BOUNDARY)
                    for name in word.split("|"):
                        out.extend(_cut(name, names, longest))
        return out

    def inventory(self) -> list[str]:
        """Every phoneme name of this voice's phoneme table (with the tables it includes), plus the word break."""
        if self._inventory is None:
            with _LOCK:
                self._select()
                identifier = self._lib.espeak_GetCurrentVoice().contents.identifier.decode()
            tables = _phontab(self._data)
            self._inventory = [WORD_BOUNDARY, *_table_names(tables, _phoneme_table(self._data, identifier, tables))]
        return list(self._inventory)


def _cut(name: str, names: set[str], longest: int) -> list[str]:
    """Split ``name`` greedily into the longest known phoneme names; an unknown rest stays one piece."""
    pieces, i = [], 0
    while i < len(name):
        size = next((n for n in range(min(longest, len(name) - i), 0, -1) if name[i:i + n] in names), 0)
        if size == 0:
            pieces.append(name[i:])
            break
        pieces.append(name[i:i + size])
        i += size
    return pieces


def _phoneme_table(data: Path, identifier: str, tables: list[tuple[str, int, list[str]]]) -> str:
    """The phoneme table a voice file selects: its ``phonemes`` line, else the first of its ``language`` names (then
    their base language, ``pt-br`` -> ``pt``) that ``phontab`` holds (``en`` declares ``en-gb`` first, whose table
    is ``en``)."""
    path = data / "lang" / identifier
    lines = [line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    named = [fields[1] for keyword in ("phonemes", "language") for fields in lines
             if len(fields) > 1 and fields[0] == keyword]
    known = {name for name, _, _ in tables}
    found = next((name for name in [*named, *(n.split("-")[0] for n in named)] if name in known), None)
    if found is None:
        raise EspeakError(f"{path}: none of its phoneme tables {named} is in phontab; the espeak-ng data is damaged, "
                          "reinstall espeakng-loader")
    return found


def _phontab(data: Path) -> list[tuple[str, int, list[str]]]:
    """espeak's compiled ``phontab``: per table its name, the 1-based index of the table it includes (0: none) and
    its phoneme names.

    Layout (espeak-ng ``LoadPhonemeTable``): a count byte and 3 pad bytes; per table a phoneme count, the 1-based
    index of the included table, 2 pad bytes, a 32-byte name, then 16 bytes per phoneme whose first 4 are the
    phoneme's name.
    """
    blob = (data / "phontab").read_bytes()
    tables: list[tuple[str, int, list[str]]] = []
    pos = 4
    for _ in range(blob[0]):
        count, includes = blob[pos], blob[pos + 1]
        name = blob[pos + 4: pos + 36].split(b"\0")[0].decode("ascii")
        pos += 36
        names = [struct.unpack_from("<4s", blob, pos + 16 * i)[0].rstrip(b"\0").decode("latin-1")
                 for i in range(count)]
        pos += 16 * count
        tables.append((name, includes, names))
    return tables


def _table_names(tables: list[tuple[str, int, list[str]]], table: str) -> list[str]:
    """Phoneme names of ``table`` and the tables it includes (:func:`_phontab`), sorted."""
    index = {name: i for i, (name, _, _) in enumerate(tables)}
    if table not in index:
        raise EspeakError(f"phontab: no phoneme table {table!r}; reinstall espeakng-loader")
    found: list[str] = []
    i = index[table]
    while True:
        _, includes, names = tables[i]
        found.extend(n for n in names if n.isprintable() and n and n not in found)
        if includes == 0:
            return sorted(found)
        i = includes - 1

"""The file `audiobits compress` writes: a checked header, an index with a checksum per utterance, the payloads.

Layout (little-endian)::

    b"AUDIOBZ\\n"                       8-byte magic
    u32 header length, header (UTF-8 JSON), u32 crc32 of the header
    index: one entry per utterance       u32 payload bytes, u32 tokens (EOS included), u16 lane,
                                         u32 crc32 of the payload, u32 crc32 of the ids (as u32)
    u32 crc32 of the index
    payloads, concatenated in index order (each the range coder's bytes, cut after the last meaningful one: the
    decoder pads with zeros; version 1: constriction's 32-bit words, big-endian, range_coder_v1.sealed)

docs/compress.md describes every header field.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiobits.errors import AudiobitsError
from audiobits.files import write_atomic

MAGIC = b"AUDIOBZ\n"
FORMAT_VERSIONS = (1, 2, 3, 4)  # the versions this audiobits reads (range_coder.FORMATS); the header names its own
_U32 = struct.Struct("<I")
_ENTRY = struct.Struct("<IIHII")
MAX_LANES = 2**16 - 1  # the index stores each utterance's lane as u16


class CompressedFileError(AudiobitsError):
    """A compressed file is truncated, corrupted, of another format version, or does not fit the given run."""


def ids_checksum(ids: np.ndarray) -> int:
    """crc32 of an utterance's ids written as little-endian u32 (independent of the bins' dtype)."""
    return zlib.crc32(np.asarray(ids, dtype="<u4").tobytes())


@dataclass(frozen=True)
class Entry:
    """One utterance in the index."""

    payload_bytes: int
    tokens: int
    lane: int
    payload_crc: int
    ids_crc: int


@dataclass
class CompressedFile:
    """Header, index and payloads of one compressed split; ``payloads[i]`` belongs to ``entries[i]``."""

    header: dict
    entries: list[Entry]
    payloads: list[bytes]

    def payload_ok(self, i: int) -> bool:
        """Whether utterance ``i``'s payload still has the checksum it was written with."""
        return zlib.crc32(self.payloads[i]) == self.entries[i].payload_crc

    def write(self, path: str | os.PathLike) -> int:
        """Write atomically (`write_atomic`); returns the file's size in bytes."""
        path = Path(path)
        header = json.dumps(self.header, sort_keys=True).encode()
        index = b"".join(_ENTRY.pack(e.payload_bytes, e.tokens, e.lane, e.payload_crc, e.ids_crc)
                         for e in self.entries)
        blob = b"".join([MAGIC, _U32.pack(len(header)), header, _U32.pack(zlib.crc32(header)), index,
                         _U32.pack(zlib.crc32(index)), *self.payloads])
        write_atomic(path, lambda f: f.write(blob))
        return len(blob)

    @classmethod
    def read(cls, path: str | os.PathLike) -> CompressedFile:
        """Read and check magic, header, index and total length; payload checksums are checked per utterance
        by :meth:`payload_ok` (a corrupt payload spoils only its own utterance)."""
        path = Path(path)
        if not path.is_file():
            raise CompressedFileError(f"{path}: no such file. Pass a file written by `audiobits compress`.")
        data = path.read_bytes()
        if data[:len(MAGIC)] != MAGIC:
            raise CompressedFileError(f"{path}: not an audiobits compressed file (its first bytes are "
                                      f"{data[:len(MAGIC)]!r}, expected {MAGIC!r}).")
        at = len(MAGIC)
        (length,) = _unpack(_U32, data, at, path, "header length")
        header_bytes = data[at + 4:at + 4 + length]
        (crc,) = _unpack(_U32, data, at + 4 + length, path, "header checksum")
        if zlib.crc32(header_bytes) != crc:
            raise CompressedFileError(f"{path}: the header's checksum does not match; the file is corrupted. "
                                      "Compress the run again.")
        header = json.loads(header_bytes)
        if header.get("format_version") not in FORMAT_VERSIONS:
            raise CompressedFileError(f"{path}: format_version {header.get('format_version')}, this audiobits "
                                      f"reads {', '.join(map(str, FORMAT_VERSIONS))}. Decode it with the audiobits "
                                      "that wrote it.")
        at += 8 + length
        count = header["utterances"]
        index = data[at:at + count * _ENTRY.size]
        (crc,) = _unpack(_U32, data, at + count * _ENTRY.size, path, "index checksum")
        if len(index) != count * _ENTRY.size or zlib.crc32(index) != crc:
            raise CompressedFileError(f"{path}: the index of {count} utterances is corrupted. Compress the run "
                                      "again.")
        entries = [Entry(*_ENTRY.unpack_from(index, i * _ENTRY.size)) for i in range(count)]
        at += count * _ENTRY.size + 4
        expected = at + sum(e.payload_bytes for e in entries)
        if len(data) != expected:
            raise CompressedFileError(f"{path}: {len(data)} bytes, but its index describes {expected}: the file is "
                                      f"{'truncated' if len(data) < expected else 'longer than written'}. Copy it "
                                      "again or compress the run again.")
        payloads = []
        for e in entries:
            payloads.append(data[at:at + e.payload_bytes])
            at += e.payload_bytes
        return cls(header, entries, payloads)


def _unpack(fmt: struct.Struct, data: bytes, at: int, path: Path, what: str) -> tuple:
    if len(data) < at + fmt.size:
        raise CompressedFileError(f"{path}: ends at byte {len(data)} before its {what}: the file is truncated.")
    return fmt.unpack_from(data, at)

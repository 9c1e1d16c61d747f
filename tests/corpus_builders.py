"""Small speech corpora written to disk in the upstream formats, for the corpora/encode/datamodules tests.

Signals are numpy-synthesized (tones with a wobble); what matters here is the file formats and bookkeeping, not
the speech. Written as 16-bit PCM, so the samples read back are exactly ``round(x * 32767) / 32768``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A deterministic float32 test signal of ``round(seconds * rate)`` samples."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f = 150 + 40 * seed
    return (0.4 * np.sin(2 * np.pi * f * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def encoded(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    """``samples`` as an audio file (bytes) of format ``fmt``."""
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def write_audio_folder(root: Path, splits: dict[str, list[tuple[str, str, bytes]]]) -> Path:
    """An AudioFolder: ``<root>/<split>/metadata.csv`` (file_name,text) plus each file's bytes."""
    for split, rows in splits.items():
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "metadata.csv", "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", "text"])
            for file_name, text, data in rows:
                (folder / file_name).parent.mkdir(parents=True, exist_ok=True)
                (folder / file_name).write_bytes(data)
                writer.writerow([file_name, text])
    return root


def speech_rows(count: int, rate: int = 16000, prefix: str = "u") -> list[tuple[str, str, bytes]]:
    """``count`` (file_name, transcript, wav bytes) rows of growing length (0.20 s, 0.25 s, ...)."""
    return [(f"{prefix}{i:03d}.wav", f"Número {i}: «ça va», said the {i}th speaker.",
             encoded(tone(0.2 + 0.05 * i, rate, seed=i), rate)) for i in range(count)]


def write_hub_dataset(root: Path, config: str, splits: dict[str, dict[str, list]],
                      audio_column: str | None = "audio", sampling_rate: int = 24000, readme: bool = True) -> Path:
    """A local dataset folder in the layout ``push_to_hub`` gives a hub repo: ``<config>/<split>-00000-of-00001
    .parquet`` per split (audio as the datasets Audio feature, bytes embedded) and a README.md whose ``configs:``
    name the splits — what ``datasets.load_dataset(<hub name>, config, split=...)`` resolves. Without the README,
    datasets infers the split from the file names (``data/train-*.parquet`` is "train")."""
    import datasets

    lines = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split, columns in splits.items():
        features = {name: datasets.Value("string") for name in columns}
        if audio_column:
            features[audio_column] = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}
        if "codes" in columns:
            features["codes"] = datasets.Sequence(datasets.Value("int64"))
        ds = datasets.Dataset.from_dict(columns, features=datasets.Features(features))
        if audio_column:  # the hub stores audio as this struct typed datasets.Audio
            ds = ds.cast_column(audio_column, datasets.Audio(sampling_rate=sampling_rate))
        ds.to_parquet(str(root / config / f"{split}-00000-of-00001.parquet"))
        lines += [f"  - split: {split}", f"    path: {config}/{split}-*"]
    if readme:
        (root / "README.md").write_text("\n".join(lines + ["---", ""]), encoding="utf-8")
    return root


def representation_fit_config(tmp_path: Path, folder: Path, name: str, representation: dict, seq_len: int) -> Path:
    """A tiny fit config (written to ``tmp_path/<name>.yaml``) of ``representation`` ({class_path, init_args}) on the
    AudioFolder ``folder``: bins under ``tmp_path/data``, runs under ``tmp_path/runs/<name>``."""
    import yaml

    config = {
        "seed_everything": 0,
        "trainer": {"accelerator": "cpu", "devices": 1, "enable_progress_bar": False, "enable_model_summary": False,
                    "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                               "init_args": {"save_dir": str(tmp_path / "runs"), "name": name}}},
        "model": {"n_layer": 1, "n_embd": 16, "n_head": 2},
        "data": {"class_path": "audiobits.datamodules.RepresentationDataModule",
                 "init_args": {"corpus": {"class_path": "audiobits.corpora.AudioFolder",
                                          "init_args": {"root": folder.as_posix()}},
                               "representation": representation,
                               "root": str(tmp_path / "data"), "seq_len": seq_len, "batch_size": 4, "num_workers": 0,
                               "encode": {"batch_size": 4, "num_workers": 0, "accelerator": "cpu"}}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path

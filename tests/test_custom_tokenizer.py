"""Your own tokenizer: a `Representation` subclass defined here (not in audiobits) runs through class_path in a config,
`audiobits prepare` and `audiobits fit`, like the registered ones (docs/codecs.md, "Add a tokenizer")."""

from __future__ import annotations

import math
from importlib import metadata

import numpy as np
from corpus_builders import representation_fit_config, speech_rows, write_audio_folder

from audiobits import metrics
from audiobits.bins import Codebook, TokenBins
from audiobits.cli import main
from audiobits.representations import Representation, Utterance, UtteranceError
from results_file import results_json


class LoudnessTokenizer(Representation):
    """A toy tokenizer: the level of each 20 ms of audio in ``step_db`` steps below full scale (16 levels)."""

    flattening = "none"
    weights = "none"
    package = "numpy"

    def __init__(self, step_db: float = 6.0) -> None:
        self.step_db = step_db
        self.name = f"loudness_{step_db:g}db"
        self.codebooks = [Codebook(16, 50.0)]
        self.vocab_size, self.eos_id, self.sample_rate = 17, 16, 16000

    def encoder_info(self) -> dict:
        return {"name": self.name, "package": self.package, "version": metadata.version("numpy"),
                "weights": self.weights}

    def check(self, utterance: Utterance) -> None:
        if utterance.audio is None or len(utterance.audio) * 50 < utterance.sample_rate:
            raise UtteranceError(utterance.id, "needs at least 20 ms of audio")

    def encode(self, batch: list[Utterance]) -> list[np.ndarray]:
        out = []
        for utterance in batch:
            self.check(utterance)
            hop = utterance.sample_rate // 50
            frames = np.asarray(utterance.audio[: len(utterance.audio) // hop * hop]).reshape(-1, hop)
            db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
            out.append(np.clip(np.floor(-db / self.step_db), 0, 15).astype(np.int64))
        return out


def test_a_tokenizer_from_a_user_module_prepares_and_fits_through_a_config(tmp_path):
    folder = write_audio_folder(tmp_path / "mine", {"train": speech_rows(8), "val": speech_rows(3, prefix="v")})
    representation = {"class_path": f"{__name__}.LoudnessTokenizer", "init_args": {"step_db": 3.0}}
    path = representation_fit_config(tmp_path, folder, "loudness", representation, seq_len=16)
    main(["prepare", "--config", str(path)])
    bins = TokenBins(tmp_path / "data" / "mine" / "loudness_3db")
    assert bins.meta.representation == "loudness_3db" and bins.meta.encoder["weights"] == "none"
    assert metrics.nominal_bitrate(bins.meta.codebooks) == 200.0  # 4 bits x 50 frames/s
    val = bins.split("val")
    assert val.ids.size == 3 and val.tokens.max() == 16  # EOS
    main(["fit", "--config", str(path)])
    results = results_json(next((tmp_path / "runs" / "loudness").glob("version_*")))
    assert results["representation"] == "loudness_3db" and results["finished"]
    assert 0 < results["bits_per_token"] < math.log2(17) + 1

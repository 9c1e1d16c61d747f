"""One DataModule per representation: bins of ``<root>/<corpus>/<representation>/``, built by ``prepare_data``.

    data:
      class_path: audiobits.datamodules.MimiDataModule
      init_args:
        corpus: {class_path: audiobits.corpora.LibriTTSR}
        codebooks: 8                      # 1: mimi_sem, 8: mimi_all
        weights: pretrained               # or a local checkpoint path, or "random"
        root: data
        encode: {batch_size: 16, devices: auto}

``prepare_data`` does nothing when the bins are complete, rewrites them without utterances dropped since (another
representation failed on them), and otherwise downloads the corpus and encodes it (`audiobits.prepare.prepare`). The
representation, and so the codec's weights, are loaded only when something needs them: ``vocab_size`` is read
from meta.json when the bins exist, else from the representation (LightningCLI links it into the model before
``prepare_data`` runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiobits.bins import BinFormatError, is_complete
from audiobits.corpora import Corpus
from audiobits.data import TokenBinDataModule
from audiobits.prepare.encode import EncodeOptions
from audiobits.errors import AudiobitsError
from audiobits.prepare.common_utterances import read_dropped, stale_utterances
from audiobits.prepare.prepare import prepare_bins, refresh_bins
from audiobits.representations import Representation, build
from audiobits.representations.mimi import NAMES as MIMI_NAMES
from audiobits.representations.neucodec import PRECOMPUTED
from audiobits.representations.snac import NAMES as SNAC_NAMES


class CodecDataModule(TokenBinDataModule):
    """A `TokenBinDataModule` over ``<root>/<corpus.name>/<representation_name>/`` that builds its own bins.

    Subclasses name their representation (``representation_name``) and build it (``build_representation``).
    ``prepare_data`` runs once per job (global rank 0, not per node): ``root`` must be on a filesystem every
    node sees. Inside ``audiobits fit`` it encodes on rank 0's device; ``audiobits prepare`` uses every device of
    ``encode`` (all visible GPUs by default).
    """

    prepare_data_per_node = False
    needs_audio = True

    def __init__(self, corpus: Corpus, representation_name: str, weights: str | None = None, root: str = "data",
                 encode: EncodeOptions = EncodeOptions(), **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus to encode (a class_path'ed `audiobits.corpora.Corpus`).
            representation_name: directory name of the bins, the representation's registry name.
            weights: the codec weights the bins must come from ("pretrained", a local path, "random");
                None for representations without weights.
            root: folder holding ``<corpus>/<representation>/`` bin directories.
            encode: batch/shard sizes and devices for encoding (see `audiobits.prepare.encode.EncodeOptions`).
            **kwargs: `TokenBinDataModule` arguments (seq_len, batch_size, num_workers, seed, verify_checksum,
                eval_stride, utterance_reset).
        """
        if self.needs_audio and not corpus.has_audio and corpus.codes_representation != representation_name:
            raise AudiobitsError(f"corpus {corpus.name!r} has no audio (it ships {corpus.codes_representation} codes), "
                                 f"so it cannot give {representation_name!r} bins; use the text or "
                                 f"{corpus.codes_representation} data module, or a corpus with audio.")
        self.corpus, self.representation_name, self.weights, self.root = corpus, representation_name, weights, root
        self.encode_options = encode
        self._representation: Representation | None = None
        super().__init__(bins_dir=str(Path(root) / corpus.name / representation_name), **kwargs)

    def build_representation(self) -> Representation:
        """Construct the representation (loads its weights)."""
        kwargs = {} if self.weights is None else {"weights": self.weights}
        return build(self.representation_name, **kwargs)

    @property
    def representation(self) -> Representation:
        """The representation, built on first use (codec weights are only loaded when encoding needs them)."""
        if self._representation is None:
            representation = self.build_representation()
            if representation.name != self.representation_name:
                raise ValueError(f"{type(self).__name__} expected representation {self.representation_name!r}, "
                                 f"built {representation.name!r}")
            self._representation = representation
        return self._representation

    @property
    def vocab_size(self) -> int:
        return self.meta.vocab_size if is_complete(self.bins_dir) else self.representation.vocab_size

    @property
    def tokens_per_frame(self) -> int:
        return self.meta.tokens_per_frame if is_complete(self.bins_dir) else self.representation.tokens_per_frame

    def _check_weights(self) -> None:
        recorded = self.meta.encoder.get("weights")
        if self.weights is not None and recorded != str(self.weights):
            raise BinFormatError(f"{self.bins_dir} was encoded with weights {recorded!r}, but this config asks for "
                                 f"{self.weights!r}. Point data.root elsewhere, or delete {self.bins_dir} to "
                                 "encode it again.")

    def prepare_data(self) -> None:
        """Download and encode the corpus unless the bins are complete; drop newly dropped utterances from them."""
        if is_complete(self.bins_dir):
            self._check_weights()
        if refresh_bins(self.corpus, self.bins_dir):
            self.bins = None  # reopen: a refresh may have rewritten them
            return
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else None
        self.corpus.download()
        prepare_bins(self.corpus, self.representation, self.root, self.encode_options, device=device)
        self.bins = None

    def _stale(self) -> set[str]:
        """Utterances the bins still hold that the corpus's drop log (dropped.jsonl) has dropped since."""
        return stale_utterances(self.bins_dir, read_dropped(self.bins_dir.parent))

    def check_resume(self, state: dict, world_size: int) -> None:
        """Also refuse when the bins are stale: fit's prepare_data would rewrite them under the checkpoint's epoch."""
        stale = self._stale()
        if stale:
            raise AudiobitsError(f"cannot resume from this checkpoint: {self.bins_dir} holds {len(stale)} utterance(s) "
                                 f"dropped since it trained on them (e.g. {sorted(stale)[0]}), so preparing would "
                                 "rewrite the bins under it and the rest of the epoch would run over other data. Start "
                                 "a new run without --ckpt_path.")
        super().check_resume(state, world_size)

    def setup(self, stage: str | None = None) -> None:
        stale = self._stale()
        if stale:
            raise BinFormatError(f"{self.bins_dir} still holds {len(stale)} utterance(s) that "
                                 f"{self.bins_dir.parent / 'dropped.jsonl'} drops (e.g. {sorted(stale)[0]}), so it is "
                                 "not iso-data with the corpus's other representations. Run `audiobits prepare "
                                 "--config <config>` to rewrite it.")
        super().setup(stage)
        self._check_weights()


class TextDataModule(CodecDataModule):
    """GPT-2 BPE of the transcripts (``text``); reads only audio headers, for the true durations."""

    needs_audio = False

    def __init__(self, corpus: Corpus, **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus whose transcripts are tokenized.
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        super().__init__(corpus, representation_name="text", weights=None, **kwargs)


class MimiDataModule(CodecDataModule):
    """moshi's Mimi: ``codebooks=1`` gives ``mimi_sem`` (semantic level), ``codebooks=8`` gives ``mimi_all``."""

    def __init__(self, corpus: Corpus, codebooks: int = 8, weights: str = "pretrained", **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus to encode.
            codebooks: Mimi levels kept (1: mimi_sem, 8: mimi_all).
            weights: "pretrained" (kyutai/moshiko-pytorch-bf16), a local checkpoint file, or "random".
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        self.num_codebooks = codebooks
        super().__init__(corpus, representation_name=MIMI_NAMES.get(codebooks, f"mimi_{codebooks}"),
                         weights=weights, **kwargs)

    def build_representation(self) -> Representation:
        return build("mimi_all", num_codebooks=self.num_codebooks, weights=self.weights)


class SnacDataModule(CodecDataModule):
    """SNAC 24 kHz in Orpheus order: ``offsets="level"`` gives ``snac_orpheus`` (the seed), ``"position"`` gives
    ``snac_orpheus_pos`` (Orpheus TTS's id layout)."""

    def __init__(self, corpus: Corpus, offsets: str = "level", weights: str = "pretrained", **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus to encode.
            offsets: "level" (one id range per SNAC level) or "position" (one per slot of the 7-token frame).
            weights: "pretrained" (hubertsiuzdak/snac_24khz), a local folder, or "random".
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        if offsets not in SNAC_NAMES:
            raise AudiobitsError(f"offsets must be one of {sorted(SNAC_NAMES)}, got {offsets!r}")
        super().__init__(corpus, representation_name=SNAC_NAMES[offsets], weights=weights, **kwargs)


class NeuCodecDataModule(CodecDataModule):
    """NeuCodec FSQ (``neucodec``, 50 fps, 65536 codes); bins a corpus's precomputed NeuCodec codes as they are."""

    def __init__(self, corpus: Corpus, weights: str | None = None, **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus to encode, or whose NeuCodec codes to bin (Emilia-YODAS).
            weights: "pretrained" (neuphonic/neucodec), a local checkpoint, "random", or "precomputed" (take the
                corpus's codes, load no model). Default: "precomputed" for a corpus shipping NeuCodec codes, else
                "pretrained".
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        ships_codes = corpus.codes_representation == "neucodec"
        weights = weights or (PRECOMPUTED if ships_codes else "pretrained")
        if (weights == PRECOMPUTED) != (ships_codes and not corpus.has_audio):
            raise AudiobitsError(f"NeuCodecDataModule: weights={weights!r} does not fit corpus {corpus.name!r}: "
                                 f"'{PRECOMPUTED}' takes the codes a corpus ships (and only that works for a "
                                 "corpus without audio); a corpus with audio needs 'pretrained', a local checkpoint or "
                                 "'random'.")
        super().__init__(corpus, representation_name="neucodec", weights=weights, **kwargs)


class RepresentationDataModule(CodecDataModule):
    """Any `Representation` — a registered codec or your own subclass in your own module — named by class_path::

        data:
          class_path: audiobits.datamodules.RepresentationDataModule
          init_args:
            corpus: {class_path: audiobits.corpora.LibriTTSR}
            representation:
              class_path: audiobits.representations.hf_codecs.EncodecRepresentation   # or mypackage.MyTokenizer
              init_args: {bandwidth: 6.0, weights: pretrained}

    The representation is built when the config is instantiated (its weights load then, on every process); its
    ``name`` names the bin directory and its ``weights`` must match the bins' meta.json.
    """

    def __init__(self, corpus: Corpus, representation: Representation, **kwargs: Any) -> None:
        """
        Args:
            corpus: the corpus to encode.
            representation: the representation to encode it with (class_path + init_args).
            **kwargs: `CodecDataModule` / `TokenBinDataModule` arguments (root, encode, seq_len, batch_size, ...).
        """
        self.needs_audio = representation.sample_rate is not None
        super().__init__(corpus, representation_name=representation.name, weights=representation.weights, **kwargs)
        self._representation = representation

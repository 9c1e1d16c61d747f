"""`TinyGPTModule`: next-token training of TinyGPT with AdamW and a per-step WSD schedule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import lightning as L
import torch
import torch.nn.functional as F

from audiobits.training.chunked_loss import chunked_token_nats, summed_nats
from audiobits.data import IGNORE_INDEX
from audiobits.training.loss_sums import LossSums
from audiobits.model import GPTConfig, TinyGPT
from audiobits.results import ModelShape, ValidationSums
from audiobits.training.schedule import wsd_lr


class TinyGPTModule(L.LightningModule):
    """One epoch of language modelling over a token stream; validation sums nats per utterance and position."""

    def __init__(self, vocab_size: int, seq_len: int = 1024, n_layer: int = 6, n_embd: int = 512, n_head: int = 8,
                 lr: float = 3e-4, min_lr: float = 3e-5, betas: tuple[float, float] = (0.9, 0.95),
                 weight_decay: float = 0.1, warmup_fraction: float = 0.05, decay_fraction: float = 0.10,
                 compile: bool | None = None,
                 head_loss: Literal["auto", "chunked", "fused", "full"] = "auto") -> None:
        """
        Args:
            vocab_size: ids including specials; linked from ``data.vocab_size`` by the CLI.
            seq_len: context length; linked from ``data.seq_len``.
            n_layer: transformer blocks.
            n_embd: model width.
            n_head: attention heads.
            lr: peak learning rate (stable phase).
            min_lr: learning rate at the end of the cosine decay.
            betas: AdamW betas.
            weight_decay: AdamW decoupled weight decay on matrices (not norms).
            warmup_fraction: share of steps in linear warmup.
            decay_fraction: share of steps in the final cosine decay.
            compile: compile the transformer blocks with ``torch.compile``; None: on when training on CUDA.
            head_loss: how the training loss meets the output projection: ``chunked`` never builds the full
                [tokens, vocab] logits (`audiobits.training.chunked_loss`), ``fused`` uses Liger Kernel's fused kernel
                (CUDA), ``auto`` picks fused where available else chunked; ``full`` materialises the logits
                (the reference the others are tested against).
        """
        super().__init__()
        self.save_hyperparameters()
        self.config = GPTConfig(vocab_size=vocab_size, seq_len=seq_len, n_layer=n_layer, n_embd=n_embd,
                                n_head=n_head)
        self.model = TinyGPT(self.config)
        self.val_sums: LossSums | None = None

    @property
    def shape(self) -> ModelShape:
        c = self.config
        return ModelShape(self.model.num_params(non_embedding=True), c.vocab_size, c.n_layer, c.n_embd, c.seq_len)

    def configure_model(self) -> None:
        wanted = self.hparams.compile
        on_cuda = self._trainer is not None and self._trainer.strategy.root_device.type == "cuda"
        if wanted or (wanted is None and on_cuda):  # auto: compile for a CUDA Trainer, not load_from_checkpoint
            self.compile_blocks()

    def compile_blocks(self) -> None:
        """``torch.compile`` each transformer block in place (checkpoints keep the same keys): what fit trains with
        on CUDA, and what `sweep`'s time estimate and benchmarks/memory.py measure there."""
        for block in self.model.blocks:
            block.compile()

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        split = datamodule.split(datamodule.eval_split(stage))
        self.val_sums = LossSums(torch.from_numpy(split.offsets), datamodule.tokens_per_frame, datamodule.seq_len)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def _token_nats(self, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1).float(), batch["target"].flatten(), ignore_index=IGNORE_INDEX,
                               reduction="none").view_as(batch["target"])

    def _eval_token_nats(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Nats of each target with the output projection in fp32 (bf16 logits would round each token's loss by
        up to ~0.03 nats, and the validation numbers are the product), a block of rows at a time."""
        hidden = self.model.hidden(batch["input"])
        with torch.autocast(self.device.type, enabled=False):
            return chunked_token_nats(hidden.float(), self.model.head.weight.float(), batch["target"])

    def _summed_train_nats(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.hparams.head_loss == "full":
            return self._token_nats(batch, self(batch["input"])).sum()
        return summed_nats(self.model.hidden(batch["input"]), self.model.head.weight, batch["target"],
                           backend=self.hparams.head_loss)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        valid = batch["target"] != IGNORE_INDEX
        # A padding batch (end of epoch, masked) contributes zero loss rather than NaN.
        loss = self._summed_train_nats(batch) / valid.sum().clamp(min=1)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def _score_batch(self, batch: dict[str, torch.Tensor], sums: LossSums) -> None:
        """Add one evaluation batch's per-target nats (fp32 head) to ``sums``: every evaluation pass scores here."""
        sums.update(self._eval_token_nats(batch), batch["position"])

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._score_batch(batch, self.val_sums)

    test_step = validation_step

    @torch.no_grad()
    def score(self, batches: Iterable[dict[str, torch.Tensor]], sums: LossSums) -> ValidationSums:
        """Score one evaluation pass outside Lightning's loop (the final sliding and utterance-reset passes) into
        ``sums`` and return them reduced across ranks."""
        for batch in batches:
            self._score_batch({k: v.to(self.device, non_blocking=True) for k, v in batch.items()}, sums)
        return sums.compute()

    def on_validation_epoch_end(self) -> None:
        sums = self.val_sums.compute()
        if sums.tokens:
            # Every rank holds the same reduced sums; sync_dist averages equal values (and keeps Lightning quiet).
            self.log("test/loss" if self.trainer.testing else "val/loss", sums.nats / sums.tokens, sync_dist=True)
        self.val_sums.reset()

    on_test_epoch_end = on_validation_epoch_end

    def configure_optimizers(self):
        decay = [p for p in self.parameters() if p.requires_grad and p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.requires_grad and p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.hparams.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.hparams.lr, betas=tuple(self.hparams.betas), fused=self._fused_available())
        total = int(self.trainer.estimated_stepping_batches)
        hp = self.hparams
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: wsd_lr(min(step, total - 1), total, hp.lr, hp.min_lr, hp.warmup_fraction,
                                           hp.decay_fraction) / hp.lr)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _fused_available(self) -> bool:
        return self.device.type == "cuda"

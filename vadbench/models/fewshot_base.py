"""Shared LightningModule plumbing of the few-shot models: episodes in, accuracy with its 95% CI out.

A few-shot LightningModule receives its parts as objects (as lightning-hydra-template's
`MNISTLitModule(net, optimizer, scheduler)`), each a nested `class_path` in the configs:
- `net`: the pure-torch core, with `embed(frames (B, T, 3, H, W)) -> (B, T, D)` (per-video features
  that depend on the video only), `forward(support_emb, support_labels, query_emb, way) -> outputs`,
  `logits(outputs) -> (Q, C)` (the logits for accuracy), `backbones()` (the CNNs) and
  `result_metadata()`;
- `loss`: `(outputs, query_labels) -> (loss, {name: term})`;
- `optimizer` (`OptimizerCallable`; None = SGD lr 1e-3, TRX's) and `scheduler`
  (`LRSchedulerCallable`, none in TRX or SKPS-Net).
A model is then a subclass that names its types (`TRX(net: TRXModel, loss: TRXLoss)`) and its
`model_id`; every other argument is the base's, passed through `**kwargs` (jsonargparse follows
them, so `--model.init_args.cache_eval_embeddings=false` works for every model).
`save_hyperparameters()` records the whole nested config when the module is built by the CLI, so
`TRX.load_from_checkpoint(path)` rebuilds net and loss from the checkpoint alone; a module built in
Python keeps only its plain arguments (pass `net=` and `loss=` to `load_from_checkpoint`).

Evaluation (validation and test) embeds each video once and reuses the features in every later
episode of the epoch (the backbone is fixed during evaluation and test clips are deterministic):
`cache_eval_embeddings=True`. At test time the datamodule then sends video ids only, and frames of
a video not seen before are read through `datamodule.test_videos.clip(video_id)`. Results are
identical to recomputing per episode (the test checks it); `cache_eval_embeddings=False` recomputes.
What is cached is `cache_entry(embed(frames))`: a model whose head does per-video work that does not
depend on the episode (TRX: the tuple key/value projections) returns it there and scores episodes
from the entries in `cached_episode_logits`, so a cached episode costs only the head's attention.
Per-episode accuracy goes into `EpisodeAccuracy` (de-duplicated by episode index across DDP ranks)
and is logged as `test/accuracy`, `test/accuracy_ci95` (1.96 std / sqrt(N)) and `test/num_episodes`.
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.metrics.episodic import EpisodeAccuracy
from vadbench.models.components.links import record_linked_values


class EmbeddingCache:
    """Per-video features `(T, D)` by video id, in one growing tensor (gathers are vectorised)."""

    def __init__(self):
        self.features: torch.Tensor | None = None
        self.filled: torch.Tensor | None = None

    def reset(self) -> None:
        self.features = self.filled = None

    def missing(self, ids: torch.Tensor) -> torch.Tensor:
        """Unique ids in `ids` with no cached features."""
        ids = torch.unique(ids)
        if self.filled is None:
            return ids
        inside = ids < self.filled.numel()
        known = torch.zeros_like(inside)
        known[inside] = self.filled[ids[inside]]
        return ids[~known]

    def add(self, ids: torch.Tensor, features: torch.Tensor) -> None:
        size = int(ids.max()) + 1
        if self.features is None:
            self.features = features.new_zeros((size, *features.shape[1:]))
            self.filled = torch.zeros(size, dtype=torch.bool, device=features.device)
        elif size > self.features.shape[0]:
            grow = max(size, 2 * self.features.shape[0])
            self.features = torch.cat([self.features, self.features.new_zeros((grow - self.features.shape[0],
                                                                               *features.shape[1:]))])
            self.filled = torch.cat([self.filled, self.filled.new_zeros(grow - self.filled.shape[0])])
        self.features[ids] = features.detach()
        self.filled[ids] = True

    def get(self, ids: torch.Tensor) -> torch.Tensor:
        return self.features[ids]


class FewShotModule(L.LightningModule):
    """Base of episodic few-shot models (see the module docstring).

    Args:
        net: the pure-torch core (`TRXModel`, `SKPSNetModel`).
        loss: the episode loss (`TRXLoss`, `SKPSLoss`).
        optimizer: optimizer from the config (`class_path: torch.optim.SGD`); None = SGD lr 1e-3.
        scheduler: learning-rate scheduler from the config; None = constant (TRX, SKPS-Net).
        train_backbone: fine-tune the CNNs (`net.backbones()`; TRX and SKPS-Net do) or freeze them.
        cache_eval_embeddings: embed each evaluation video once per epoch (see the module docstring).
        embed_chunk: videos per backbone call when filling the cache (bounds memory).
    """

    model_id = "fewshot"
    evaluation_options: tuple[str, ...] = ("cache_eval_embeddings", "embed_chunk")   # see MILAnomalyModule

    def __init__(self, net: nn.Module, loss: nn.Module, optimizer: OptimizerCallable | None = None,
                 scheduler: LRSchedulerCallable | None = None, train_backbone: bool = True,
                 cache_eval_embeddings: bool = True, embed_chunk: int = 32):
        super().__init__()
        with warnings.catch_warnings():  # modules in hparams are dropped just below
            warnings.filterwarnings("ignore", message="Attribute '.*' is an instance of `nn.Module`")
            self.save_hyperparameters()
        # built in Python (not by the CLI): keep the plain values only, not modules or callables
        self.remove_ignored_hparams([k for k, v in self.hparams.items() if isinstance(v, nn.Module) or callable(v)])
        record_linked_values(self.hparams, net, FEWSHOT_LINKS)
        self.net, self.loss = net, loss
        self.optimizer, self.scheduler = optimizer, scheduler
        for backbone in net.backbones():
            backbone.requires_grad_(train_backbone)
        self.cache_eval_embeddings = cache_eval_embeddings
        self.embed_chunk = embed_chunk
        self.val_accuracy = EpisodeAccuracy()
        self.test_accuracy = EpisodeAccuracy()
        self._cache = EmbeddingCache()
        self._video_source = None

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, D) per-video features."""
        return self.net.embed(frames)

    def episode_logits(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                       way: int) -> torch.Tensor:
        """Query logits (Q, C) from support (S, T, D), support labels (S,) and query (Q, T, D) features."""
        return self.net.logits(self.net(support, support_labels, query, way))

    def result_metadata(self) -> dict:
        return self.net.result_metadata()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints written before the core was passed in as `net` hold it under `model.`: renamed."""
        state = checkpoint.get("state_dict", {})
        if state and not any(k.startswith("net.") for k in state) and any(k.startswith("model.") for k in state):
            checkpoint["state_dict"] = {("net." + k[len("model."):] if k.startswith("model.") else k): v
                                        for k, v in state.items()}

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        """What the evaluation cache keeps per video, from `embed` features (B, T, D); default: them."""
        return features

    def cached_episode_logits(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                              way: int) -> torch.Tensor:
        """`episode_logits` from cache entries (default: the entries are the features)."""
        return self.episode_logits(support, support_labels, query, way)

    # ---------------------------------------------------------------- training
    def embed_episode(self, batch: FewShotBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Support and query features from the batch's frames: through the core's `embed_episode` where it
        has one (TRX `backbone_passes`: one pass or two), else in one backbone pass."""
        if batch.support is None or batch.query is None:
            raise ValueError("this episode carries video ids only; frames are needed to embed it")
        if hasattr(self.net, "embed_episode"):
            return self.net.embed_episode(batch.support, batch.query)
        n_support = batch.support.shape[0]
        features = self.embed(torch.cat([batch.support, batch.query]))
        return features[:n_support], features[n_support:]

    def loss_terms(self, outputs, batch: FewShotBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one training episode from the net's outputs (HyRSM adds the training-class ids)."""
        return self.loss(outputs, batch.query_labels)

    def training_step(self, batch: FewShotBatch, batch_idx: int) -> torch.Tensor:
        support, query = self.embed_episode(batch)
        outputs = self.net(support, batch.support_labels, query, batch.way)
        loss, terms = self.loss_terms(outputs, batch)
        accuracy = (self.net.logits(outputs).argmax(dim=-1) == batch.query_labels).float().mean()
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=1)
        self.log("train/accuracy", accuracy, batch_size=1, prog_bar=True)
        return loss

    # ---------------------------------------------------------------- evaluation
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "test" and dm is not None and hasattr(dm, "test_frames_in_batch"):
            # with the cache, the loader sends ids only and frames are decoded once per video
            dm.test_frames_in_batch = not (self.cache_eval_embeddings and hasattr(dm, "test_videos"))

    def _fill_cache(self, ids: torch.Tensor, batch: FewShotBatch) -> None:
        new = self._cache.missing(ids)
        if new.numel() == 0:
            return
        if batch.support is not None and batch.query is not None:
            all_ids = torch.cat([batch.support_ids, batch.query_ids]).to(new.device)
            first = (all_ids[None, :] == new[:, None]).int().argmax(dim=1)  # first position of each new id
            frames = torch.cat([batch.support, batch.query])[first.to(batch.support.device)]
            get = None
        else:
            source = self._video_source or getattr(getattr(self.trainer, "datamodule", None), "test_videos", None)
            if source is None:
                raise ValueError("test episode without frames and no `datamodule.test_videos` to read them from")
            self._video_source = source
            frames = None
            get = source.clip
        for start in range(0, new.numel(), self.embed_chunk):
            chunk = new[start:start + self.embed_chunk]
            if get is None:
                x = frames[start:start + self.embed_chunk]
            else:
                x = torch.stack([get(int(v)) for v in chunk.tolist()]).to(self.device)
            self._cache.add(chunk.to(self.device), self.cache_entry(self.embed(x)))

    def eval_features(self, batch: FewShotBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Support and query features, or their cache entries (`cache_entry`) when caching."""
        if not self.cache_eval_embeddings:
            return self.embed_episode(batch)
        ids = torch.cat([batch.support_ids, batch.query_ids]).to(self.device)
        self._fill_cache(ids, batch)
        features = self._cache.get(ids)
        n_support = batch.support_ids.numel()
        return features[:n_support], features[n_support:]

    def episode_accuracy(self, batch: FewShotBatch) -> torch.Tensor:
        support, query = self.eval_features(batch)
        logits_of = self.cached_episode_logits if self.cache_eval_embeddings else self.episode_logits
        logits = logits_of(support, batch.support_labels, query, batch.way)
        return (logits.argmax(dim=-1) == batch.query_labels).float().mean()

    def on_validation_epoch_start(self) -> None:
        self._cache.reset()

    def on_test_epoch_start(self) -> None:
        self._cache.reset()
        self._video_source = None

    def validation_step(self, batch: FewShotBatch, batch_idx: int) -> None:
        self.val_accuracy.update(self.episode_accuracy(batch), batch.episode_index)

    def on_validation_epoch_end(self) -> None:
        self._cache.reset()
        if self.val_accuracy.update_called:
            m = self.val_accuracy.compute()
            self.log_dict({"val/accuracy": m["accuracy"], "val/accuracy_ci95": m["accuracy_ci95"]})
            self.val_accuracy.reset()

    def test_step(self, batch: FewShotBatch, batch_idx: int) -> None:
        self.test_accuracy.update(self.episode_accuracy(batch), batch.episode_index)

    def on_test_epoch_end(self) -> None:
        self._cache.reset()
        m = self.test_accuracy.compute()
        self.log_dict({f"test/{k}": float(v) for k, v in m.items()}, rank_zero_only=True)
        self.test_accuracy.reset()

    # ---------------------------------------------------------------- optimisation
    scheduler_interval = "epoch"   # when `scheduler` steps (Lightning's default); HyRSM's schedule: "step"

    def parameter_groups(self) -> list:
        """What the optimizer receives: the trainable parameters (HyRSM: in weight-decay groups)."""
        return [p for p in self.parameters() if p.requires_grad]

    def default_optimizer(self, params) -> torch.optim.Optimizer:
        """The optimizer when the config gives none: SGD lr 1e-3, TRX's."""
        return torch.optim.SGD(params, lr=1e-3)

    def configure_optimizers(self):
        params = self.parameter_groups()
        optimizer = self.default_optimizer(params) if self.optimizer is None else self.optimizer(params)
        if self.scheduler is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler(optimizer), "interval": self.scheduler_interval}}


# ---------------------------------------------------------------- data/model links
# Values the data and the model share, written once, on the data side (`--data.init_args.seq_len=4`
# sets the frames the loader samples AND the model's `net.head.seq_len`). They are jsonargparse
# `link_arguments` applied on parse; in subclass mode a link whose source or target the chosen
# classes do not have is skipped by jsonargparse, so every model/data pair stays valid (a MIL model
# with episodic data, TRX with MIL data: no link, the model keeps its default). A linked target is
# not a command-line option any more and is left out of `--print_config` (jsonargparse hides link
# targets). Way and shot need no link: the models read C from each episode and accept any K.
# Lightning saves the CLI's config as the checkpoint's hyperparameters without parse-link targets
# inside a nested class_path, so `FewShotModule` writes the linked values its net was built with
# into `hparams` (`components.links.record_linked_values`): `load_from_checkpoint` then rebuilds the same net.
FEWSHOT_LINKS = (
    ("data.init_args.seq_len", "model.init_args.net.init_args.head.seq_len"),  # frames per video T
)

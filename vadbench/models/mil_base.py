"""Shared LightningModule plumbing of the MIL models: evaluation, metrics, optimizer from config.

A MIL LightningModule receives its parts as objects (lightning-hydra-template's
`MNISTLitModule(net, optimizer, scheduler)`): `net`, the pure-torch core (kept as `self.model`, so
checkpoint keys read `model.*`), `loss`, an `optimizer` callable and an optional `scheduler`
callable; configs give each as a nested `class_path`. A model subclasses `MILAnomalyModule` and
implements `training_step` and `snippet_scores(batch) -> (B, T)` anomaly scores in [0, 1].
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics.classification import BinaryAUROC

from vadbench.data.mil.batch import MILBatch
from vadbench.metrics.frame_level import FrameAnomalyMetrics, metric_definitions
from vadbench.models.components.links import record_linked_values

# Values the data and the model share, written once on the data side and linked into the model by
# LightningCLI (`VadbenchCLI.add_arguments_to_parser`). A link whose target the chosen model lacks
# (RTFM's net has no patch_scales; the few-shot models have none of these) is skipped by jsonargparse,
# so the links hold for every model/data pair. A linked value set on the model side is overwritten
# by the data's: set `--data.init_args.feature_dim`, not the model's.
# frames_per_snippet is not linked: it is a data fact (the extraction sidecars' snippet stride, else the
# data config, else 16), read when the data is set up and carried by every evaluation batch.
MIL_LINKS = (
    ("data.init_args.feature_dim", "model.init_args.net.init_args.feature_dim"),
    ("data.init_args.patch_scales", "model.init_args.net.init_args.patch_scales"),
)


class MILAnomalyModule(L.LightningModule):
    """Evaluation, metrics and optimisation shared by the MIL models.

    Args:
        net: the pure-torch core (`RTFMModel`, `SSRLModel`, ...); stored as `self.model`.
        loss: the model's loss module (`RTFMLoss`, `MILRankingLoss`, `STAMILLoss`).
        optimizer: called with the trainable parameters (the config's `optimizer` class_path).
        scheduler: called with the optimizer, stepped every training step; None = constant rate
            (none of the MIL papers uses a schedule).
        frames_per_snippet: frames one snippet score stands for until the first evaluation batch
            brings the data's value (`MILBatch.frames_per_snippet`, from the sidecars or the data config).
        far_threshold: a normal video's frame scored above it is a false alarm (`test/frame_far_normal`,
            the FAR of recent tables; default 0.5). Recorded in the result's config. None: no FAR
            (NaN), for a model whose score is not in [0, 1] (BN-WVAD).
    """

    model_id = "mil"
    # options that change only how a trained model is evaluated (kept over a checkpoint's hyper-parameters
    # by `vadbench test --ckpt_path`, see VadbenchCLI._parse_ckpt_path); subclasses add theirs to these
    evaluation_options: tuple[str, ...] = ("far_threshold",)

    def __init__(self, *, net: nn.Module, loss: nn.Module, optimizer: OptimizerCallable,
                 scheduler: LRSchedulerCallable | None = None, frames_per_snippet: int = 16,
                 far_threshold: float | None = 0.5):
        super().__init__()
        # config (from the CLI) or objects (from Python): `load_from_checkpoint` rebuilds either;
        # Lightning's advice to ignore nn.Module arguments would make the checkpoint unloadable.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Attribute '(net|loss)' is an instance of `nn.Module`")
            self.save_hyperparameters()
        record_linked_values(self.hparams, net, MIL_LINKS)  # so load_from_checkpoint rebuilds this net
        self.model = net
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.frames_per_snippet = frames_per_snippet
        self.far_threshold = far_threshold
        self.val_frame_metrics = FrameAnomalyMetrics(frames_per_snippet, far_threshold)
        self.val_video_auc = BinaryAUROC()
        self.test_metrics = FrameAnomalyMetrics(frames_per_snippet, far_threshold)

    # ---------------------------------------------------------------- to implement
    def snippet_scores(self, batch: MILBatch) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} must define snippet_scores(batch) -> (B, T) scores")

    # ---------------------------------------------------------------- evaluation
    def _frames_per_snippet_from(self, batch: MILBatch) -> None:
        """Frames per snippet is a data fact carried by the batch (sidecar/data config): use it."""
        f = getattr(batch, "frames_per_snippet", None)
        if f is not None and f != self.frames_per_snippet:
            self.frames_per_snippet = self.val_frame_metrics.frames_per_snippet = f
            self.test_metrics.frames_per_snippet = f

    def validation_step(self, batch: MILBatch, batch_idx: int) -> None:
        self._frames_per_snippet_from(batch)
        scores = self.snippet_scores(batch)
        if batch.frame_labels is not None:  # oracle protocol: validating on the test set
            self.val_frame_metrics.update(scores, batch.frame_labels, batch.mask, batch.video_index, batch.labels)
        else:  # honest protocol: video-level AUC on videos held out from training
            video_scores = scores.float().masked_fill(~batch.mask, float("-inf")).amax(dim=1)
            self.val_video_auc.update(video_scores.double(), batch.labels.long())   # float64, as the frame metrics

    def on_validation_epoch_end(self) -> None:
        if self.val_frame_metrics.update_called:
            m = self.val_frame_metrics.compute()
            self.log_dict({f"val/{k}": m[k] for k in ("frame_auc_micro", "frame_auc_macro", "frame_ap_micro",
                                                      "frame_pr_auc_micro")})
            self.val_frame_metrics.reset()
        if self.val_video_auc.update_called:
            self.log("val/video_auc", self.val_video_auc.compute())
            self.val_video_auc.reset()

    def test_step(self, batch: MILBatch, batch_idx: int) -> None:
        self._frames_per_snippet_from(batch)
        self.test_metrics.update(self.snippet_scores(batch), batch.frame_labels, batch.mask, batch.video_index,
                                 batch.labels)

    def on_test_epoch_end(self) -> None:
        metrics = self.test_metrics.compute()
        self.log_dict({f"test/{k}": float(v) for k, v in metrics.items()}, rank_zero_only=True)
        # per-video scores for ROC/PR curves and timelines (saved beside the result JSON by the CLI)
        self.test_scores_per_video = self.test_metrics.per_video()
        self.test_metrics.reset()

    def test_scores(self) -> dict | None:
        """Scores of the last test run for `vadbench.leaderboard.scores.save_scores`, or None."""
        per_video = getattr(self, "test_scores_per_video", None)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if not per_video or dm is None or "test" not in getattr(dm, "splits", {}):
            return None
        videos = dm.splits["test"]
        order = sorted(per_video)
        return {"video_names": [videos[i].name for i in order],
                "snippet_scores": [per_video[i][0] for i in order],
                "frame_labels": [per_video[i][1] for i in order],
                "frames_per_snippet": self.frames_per_snippet}

    def metric_definitions(self) -> dict[str, str]:
        """What the test metrics are (labelled in the result file's `extras.metric_definitions`)."""
        return metric_definitions(self.far_threshold)

    def predict_step(self, batch: MILBatch, batch_idx: int) -> dict:
        scores = self.snippet_scores(batch)
        return {"video_index": batch.video_index.cpu(),
                "scores": [s[m].cpu() for s, m in zip(scores, batch.mask)]}

    # ---------------------------------------------------------------- optimisation
    def configure_optimizers(self):
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"}}

    def log_losses(self, terms: dict[str, torch.Tensor], batch_size: int) -> None:
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, prog_bar=False, batch_size=batch_size)

"""TRX as a LightningModule: `TRXModel` + the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.fewshot_base import FewShotModule, OptimizerFactory
from vadbench.models.trx.loss import trx_loss
from vadbench.models.trx.torch_model import TRXModel


class TRX(FewShotModule):
    """Temporal-Relational CrossTransformers (Perrett et al., CVPR 2021).

    Args:
        backbone: torchvision ResNet (`resnet50` in the paper; `resnet18` for CPU/synthetic runs).
        backbone_weights: local weight file for the backbone (ImageNet in the paper). None: random
            init, recorded as `backbone: random_init` in the result file. Nothing is downloaded.
        train_backbone: fine-tune the backbone (TRX does) or keep it frozen.
        seq_len: frames per video (8; must match the datamodule).
        cardinalities: tuple sizes, one cross-transformer each ([2, 3]; [1] is a frame-level variant).
        proj_dim: key/value dim (1152).
        pe_scale, dropout: positional-encoding scale and dropout (0.1, 0.1).
        loss_reduction: `sum` over queries (official) or `mean`.
        optimizer: from the config (SGD lr 1e-3 in the paper, with 16 tasks accumulated).
        cache_eval_embeddings, embed_chunk: see `FewShotModule`.
    """

    model_id = "trx"

    def __init__(
        self,
        backbone: str = "resnet50",
        backbone_weights: str | None = None,
        train_backbone: bool = True,
        seq_len: int = 8,
        cardinalities: list[int] = (2, 3),
        proj_dim: int = 1152,
        pe_scale: float = 0.1,
        dropout: float = 0.1,
        loss_reduction: Literal["sum", "mean"] = "sum",
        optimizer: OptimizerFactory | None = None,
        cache_eval_embeddings: bool = True,
        embed_chunk: int = 32,
    ):
        super().__init__(optimizer=optimizer, cache_eval_embeddings=cache_eval_embeddings, embed_chunk=embed_chunk)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = TRXModel(backbone, backbone_weights, seq_len, tuple(cardinalities), proj_dim, pe_scale, dropout)
        self.model.backbone.requires_grad_(train_backbone)
        self.loss_reduction = loss_reduction
        self.backbone_name, self.backbone_weights = backbone, backbone_weights

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.embed(frames)

    def episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.model(support, support_labels, query, way)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.project(features)  # the tuple keys/values: per video, episode-independent

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.model.forward_projected(support, support_labels, query, way)

    def episode_loss(self, logits: torch.Tensor, labels: torch.Tensor, batch: FewShotBatch):
        loss = trx_loss(logits, labels, self.loss_reduction)
        return loss, {"loss": loss}

    def result_metadata(self) -> dict:
        return {"backbone": "pretrained" if self.model.backbone_loaded else "random_init",
                "backbone_arch": self.backbone_name, "backbone_weights": self.backbone_weights,
                "cardinalities": list(self.hparams.cardinalities)}

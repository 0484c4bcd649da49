"""HyRSM as a LightningModule: a `HyRSMModel` and a `HyRSMLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch
from torch import nn

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.hyrsm.loss import HyRSMLoss
from vadbench.models.hyrsm.torch_model import HyRSMModel


class HyRSM(FewShotModule):
    """Hybrid Relation guided Set Matching (Wang et al., CVPR 2022).

    Args:
        net: the pure-torch core (`HyRSMModel`: backbone, hybrid relation module, set matching).
        loss: `HyRSMLoss` (query cross-entropy + weighted frame classification over the training classes).
        norm_weight_decay: weight decay of the LayerNorm and BatchNorm parameters (their own parameter
            group); None = the optimizer's, as for every other parameter. Official: 0 (`BN.WEIGHT_DECAY`
            for parameters whose name contains `norm` or `bn`).
        **kwargs: `FewShotModule`'s optimizer (Adam in the official code), scheduler (stepped every
            optimizer step: `schedule.WarmupStepLR` for the official one), train_backbone,
            cache_eval_embeddings, embed_chunk.
    """

    model_id = "hyrsm"
    scheduler_interval = "step"   # the official schedule is indexed by optimizer steps

    def __init__(self, *, net: HyRSMModel, loss: HyRSMLoss | None = None, norm_weight_decay: float | None = None,
                 **kwargs):
        super().__init__(net=net, loss=HyRSMLoss() if loss is None else loss, **kwargs)
        self.norm_weight_decay = norm_weight_decay

    def parameter_groups(self) -> list:
        """Trainable parameters; normalisation layers' in a group of their own when `norm_weight_decay` is set."""
        trainable = super().parameter_groups()
        if self.norm_weight_decay is None:
            return trainable
        norm_types = (nn.LayerNorm, nn.modules.batchnorm._BatchNorm, nn.GroupNorm)
        norm_ids = {id(p) for m in self.modules() if isinstance(m, norm_types) for p in m.parameters()}
        return [{"params": [p for p in trainable if id(p) not in norm_ids]},
                {"params": [p for p in trainable if id(p) in norm_ids], "weight_decay": self.norm_weight_decay}]

    def default_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=1e-4)   # the official optimizer (its rate: the configs)

    def loss_terms(self, outputs, batch: FewShotBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """With the training-class ids of the support videos and queries (`batch.class_ids` of their
        episode labels) for the frame classification term."""
        class_labels = batch.class_ids[torch.cat([batch.support_labels, batch.query_labels])]
        return self.loss(outputs, batch.query_labels, class_labels)

    def episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        """Evaluation needs no frame classifier: intra-relation, then matching."""
        return self.net.match(self.net.relate(support), support_labels, self.net.relate(query), way)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.relate(features)   # the intra-relation is per video; the inter-relation mixes the episode

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.net.match(support, support_labels, query, way)

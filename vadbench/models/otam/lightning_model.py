"""OTAM as a LightningModule: an `OTAMModel` and an `OTAMLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.otam.loss import OTAMLoss
from vadbench.models.otam.torch_model import OTAMModel


class OTAM(FewShotModule):
    """Ordered Temporal Alignment Module (Cao et al., CVPR 2020; reference: tobyperrett/few-shot-action-recognition).

    Args:
        net: the pure-torch core (`OTAMModel`: backbone, its local weights, the parameter-free OTAM head).
        loss: `OTAMLoss` (cross-entropy averaged over the queries, as the reference).
        **kwargs: `FewShotModule`'s optimizer (SGD lr 1e-3 in the reference), scheduler, train_backbone,
            cache_eval_embeddings, embed_chunk.
    """

    model_id = "otam"

    def __init__(self, *, net: OTAMModel, loss: OTAMLoss | None = None, **kwargs):
        super().__init__(net=net, loss=OTAMLoss() if loss is None else loss, **kwargs)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        # the frame features themselves: OTAM's head has no per-video work (its distances pair two videos)
        return features

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.net(support, support_labels, query, way)

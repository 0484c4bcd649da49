"""TRX as a LightningModule: a `TRXModel` and a `TRXLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.trx.loss import TRXLoss
from vadbench.models.trx.torch_model import TRXModel


class TRX(FewShotModule):
    """Temporal-Relational CrossTransformers (Perrett et al., CVPR 2021).

    Args:
        net: the pure-torch core (`TRXModel`: backbone, its local weights, the cross-transformer head).
        loss: `TRXLoss` (cross-entropy summed over the queries, as the official code).
        **kwargs: `FewShotModule`'s optimizer (SGD lr 1e-3 in the paper, with 16 tasks accumulated),
            scheduler, train_backbone, cache_eval_embeddings, embed_chunk.
    """

    model_id = "trx"

    def __init__(self, *, net: TRXModel, loss: TRXLoss | None = None, **kwargs):
        super().__init__(net=net, loss=TRXLoss() if loss is None else loss, **kwargs)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.project(features)  # the tuple keys/values: per video, episode-independent

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.net.forward_projected(support, support_labels, query, way)

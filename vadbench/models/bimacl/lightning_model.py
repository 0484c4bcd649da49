"""BiMACL as a LightningModule: a `BiMACLModel` and a `BiMACLLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.models.bimacl.loss import BiMACLLoss
from vadbench.models.bimacl.torch_model import BiMACLModel, BiMACLOutput
from vadbench.models.fewshot_base import FewShotModule


class BiMACL(FewShotModule):
    """Bi-directional Motion Attention with Contrastive Learning (Guo et al., ICASSP 2024).

    Args:
        net: the pure-torch core (`BiMACLModel`: backbone, motion attention, TRX cross-transformers, CTRX).
        loss: `BiMACLLoss` (TRX cross-entropy + 0.05 x contrast cross-entropy, summed over the queries).
        **kwargs: `FewShotModule`'s optimizer (SGD lr 2e-4, the official run_model.py default, 16 tasks
            accumulated), scheduler, train_backbone, cache_eval_embeddings, embed_chunk.
    """

    model_id = "bimacl"

    def __init__(self, *, net: BiMACLModel, loss: BiMACLLoss | None = None, **kwargs):
        super().__init__(net=net, loss=BiMACLLoss() if loss is None else loss, **kwargs)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.project(features)   # motion attention, CTRX tuple embeddings, TRX keys/values: per video

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        outputs: BiMACLOutput = self.net.forward_projected(support, support_labels, query, way)
        return self.net.logits(outputs)

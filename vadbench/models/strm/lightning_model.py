"""STRM as a LightningModule: an `STRMModel` and an `STRMLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.strm.loss import STRMLoss
from vadbench.models.strm.torch_model import STRMModel, STRMOutput


class STRM(FewShotModule):
    """Spatio-temporal Relation Modeling (Thatipelli et al., CVPR 2022).

    Args:
        net: the pure-torch core (`STRMModel`: backbone, PLE, QC, FLE, TRX cross-transformers).
        loss: `STRMLoss` (TRX cross-entropy + 0.1 x QC cross-entropy, summed over the queries).
        **kwargs: `FewShotModule`'s optimizer (SGD lr 1e-4 in the official HMDB51 / Kinetics / UCF101
            scripts, 16 tasks accumulated), scheduler, train_backbone, cache_eval_embeddings, embed_chunk.
    """

    model_id = "strm"

    def __init__(self, *, net: STRMModel, loss: STRMLoss | None = None, **kwargs):
        super().__init__(net=net, loss=STRMLoss() if loss is None else loss, **kwargs)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.project(features)   # PLE, QC tuple embeddings, FLE, TRX keys/values: per video

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        outputs: STRMOutput = self.net.forward_projected(support, support_labels, query, way)
        return self.net.logits(outputs)

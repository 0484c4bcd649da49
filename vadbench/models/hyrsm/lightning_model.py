"""HyRSM as a LightningModule: a `HyRSMModel` and a `HyRSMLoss` in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.hyrsm.loss import HyRSMLoss
from vadbench.models.hyrsm.torch_model import HyRSMModel


class HyRSM(FewShotModule):
    """Hybrid Relation guided Set Matching (Wang et al., CVPR 2022).

    Args:
        net: the pure-torch core (`HyRSMModel`: backbone, hybrid relation module, set matching).
        loss: `HyRSMLoss` (query cross-entropy + weighted frame classification over the training classes).
        **kwargs: `FewShotModule`'s optimizer (Adam in the official code), scheduler, train_backbone,
            cache_eval_embeddings, embed_chunk.
    """

    model_id = "hyrsm"

    def __init__(self, *, net: HyRSMModel, loss: HyRSMLoss | None = None, **kwargs):
        super().__init__(net=net, loss=HyRSMLoss() if loss is None else loss, **kwargs)

    def training_step(self, batch: FewShotBatch, batch_idx: int) -> torch.Tensor:
        """As `FewShotModule.training_step`, with the training-class ids of the support videos and queries
        (`batch.class_ids` of their episode labels) for the frame classification term."""
        support, query = self.embed_episode(batch)
        outputs = self.net(support, batch.support_labels, query, batch.way)
        class_labels = batch.class_ids[torch.cat([batch.support_labels, batch.query_labels])]
        loss, terms = self.loss(outputs, batch.query_labels, class_labels)
        accuracy = (outputs.logits.argmax(dim=-1) == batch.query_labels).float().mean()
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=1)
        self.log("train/accuracy", accuracy, batch_size=1, prog_bar=True)
        return loss

    def episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        """Evaluation needs no frame classifier: intra-relation, then matching."""
        return self.net.match(self.net.relate(support), support_labels, self.net.relate(query), way)

    def cache_entry(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.relate(features)   # the intra-relation is per video; the inter-relation mixes the episode

    def cached_episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.net.match(support, support_labels, query, way)

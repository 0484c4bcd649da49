"""ATA as a LightningModule: an `ATAModel` and an `ATALoss` in the few-shot plumbing of `FewShotModule`.

Training is not episodic in ATA: the official code classifies every training video over all training
classes (a per-segment classifier and the ATA loss, train.py), then tests on few-shot episodes. Here
a training batch is one training episode's videos (support and queries alike), each labelled with
its class's index in the training split (`FewShotBatch.class_ids`): the same global classification,
with batches drawn C classes at a time (README.md, "Divergences")."""

from __future__ import annotations

import torch
from torch import nn

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.ata.loss import ATALoss
from vadbench.models.ata.torch_model import ATAModel, appearance_score, temporal_score
from vadbench.models.fewshot_base import FewShotModule


class ATA(FewShotModule):
    """Appearance and Temporal Alignments (Nguyen et al., ECCV 2022; official code VinAIResearch/fsvc-ata).

    Args:
        net: the pure-torch core (`ATAModel`: backbone, per-segment classifier, few-shot test).
        loss: `ATALoss` (the official training loss over the training classes).
        classifier_lr_mult, classifier_bias_lr_mult: learning-rate multipliers of the classifier's weight
            and bias (official TSN policies with `fc_lr5`: 5 and 10).
        decay_norm_and_bias: weight decay on BatchNorm parameters and the classifier bias (official: none,
            `decay_mult` 0); False = the official policy.
        **kwargs: `FewShotModule`'s optimizer (SGD lr 1e-3 momentum 0.9 weight decay 5e-4 in the official
            code), scheduler (steps x0.1 at epochs 10 and 20), train_backbone, cache_eval_embeddings, embed_chunk.
    """

    model_id = "ata"

    def __init__(self, *, net: ATAModel, loss: ATALoss | None = None, classifier_lr_mult: float = 5.0,
                 classifier_bias_lr_mult: float = 10.0, decay_norm_and_bias: bool = False, **kwargs):
        super().__init__(net=net, loss=ATALoss() if loss is None else loss, **kwargs)
        self.classifier_lr_mult, self.classifier_bias_lr_mult = classifier_lr_mult, classifier_bias_lr_mult
        self.decay_norm_and_bias = decay_norm_and_bias

    def training_step(self, batch: FewShotBatch, batch_idx: int) -> torch.Tensor:
        """Global classification of every video of the episode over the training classes (official train.py)."""
        support, query = self.embed_episode(batch)
        features = torch.cat([support, query])
        labels = batch.class_ids.to(features.device)[torch.cat([batch.support_labels, batch.query_labels])]
        outputs = self.net.classify(features)
        loss, terms = self.loss(outputs, labels)
        with torch.no_grad():   # official training accuracy: softmax(appearance) + softmax(temporal), scale 1
            sim = outputs.similarity.float()
            scores = (appearance_score(sim, 1.0).softmax(1)
                      + temporal_score(sim.softmax(2), outputs.prior.float(), 1.0).softmax(1))
            accuracy = (scores.argmax(dim=-1) == labels).float().mean()
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=1)
        self.log("train/accuracy", accuracy, batch_size=1, prog_bar=True)
        return loss

    def parameter_groups(self) -> list:
        """The official TSN policies: classifier weight x5 lr, classifier bias x10 lr without decay,
        BatchNorm parameters without decay, everything else x1 (`lr_mult` / `decay_mult` per group)."""
        trainable = super().parameter_groups()
        head_w, head_b = self.net.classifier.weight, self.net.classifier.bias
        norm_ids = {id(p) for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                    for p in m.parameters()}
        no_decay = 1.0 if self.decay_norm_and_bias else 0.0
        groups = [
            {"params": [p for p in trainable if id(p) not in norm_ids and p is not head_w and p is not head_b],
             "lr_mult": 1.0, "decay_mult": 1.0},
            {"params": [p for p in trainable if id(p) in norm_ids], "lr_mult": 1.0, "decay_mult": no_decay},
            {"params": [p for p in trainable if p is head_w], "lr_mult": self.classifier_lr_mult, "decay_mult": 1.0},
            {"params": [p for p in trainable if p is head_b], "lr_mult": self.classifier_bias_lr_mult,
             "decay_mult": no_decay},
        ]
        return [g for g in groups if g["params"]]

    def configure_optimizers(self):
        optimizer = (self.default_optimizer(self.parameter_groups()) if self.optimizer is None
                     else self.optimizer(self.parameter_groups()))
        for group in optimizer.param_groups:   # official adjust_learning_rate: lr * lr_mult, decay * decay_mult
            group["lr"] = group["lr"] * group.get("lr_mult", 1.0)
            group["weight_decay"] = group.get("weight_decay", 0.0) * group.get("decay_mult", 1.0)
        if self.scheduler is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler(optimizer), "interval": self.scheduler_interval}}

    def default_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)   # official main.py / scripts

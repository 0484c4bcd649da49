"""SloshNet as a LightningModule: a `SloshNetModel` and TRX's loss in the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.sloshnet.optim import SGDWithArchitectureAdam
from vadbench.models.sloshnet.torch_model import SloshNetModel
from vadbench.models.trx.loss import TRXLoss


class SloshNet(FewShotModule):
    """SloshNet (Xing et al., AAAI 2023).

    Args:
        net: the pure-torch core (`SloshNetModel`: ResNet stages, spatial modulation, fusion cell, short- and
            long-term temporal modules, TRX cross-transformers).
        loss: `TRXLoss` (cross-entropy summed over the queries, as the official code).
        **kwargs: `FewShotModule`'s optimizer (official: `SGDWithArchitectureAdam`, SGD lr 1e-4 for the
            network and Adam 3e-3 for the fusion cell's alphas, 16 tasks accumulated), scheduler
            (`SloshNetOfficialLR`, stepped per optimizer step), train_backbone, cache_eval_embeddings, embed_chunk.
    """

    model_id = "sloshnet"
    scheduler_interval = "step"   # the official schedule is in tasks (SloshNetOfficialLR counts optimizer steps)

    def __init__(self, *, net: SloshNetModel, loss: TRXLoss | None = None, **kwargs):
        super().__init__(net=net, loss=TRXLoss() if loss is None else loss, **kwargs)

    def parameter_groups(self) -> list:
        """The network's weights, then the fusion cell's architecture weights (marked `architecture: True`,
        which `SGDWithArchitectureAdam` gives to its Adam; a plain optimizer treats them as any group)."""
        arch = {id(p) for p in self.net.architecture_parameters()}
        weights = [p for p in self.parameters() if p.requires_grad and id(p) not in arch]
        alphas = [p for p in self.net.architecture_parameters() if p.requires_grad]
        return [{"params": weights}, {"params": alphas, "architecture": True}]

    def default_optimizer(self, params):
        """The official pair (SGD 1e-4 momentum 0.9 weight decay 3e-4; Adam 3e-3 for the alphas)."""
        return SGDWithArchitectureAdam(params)

"""SKPS-Net as a LightningModule: an `SKPSNetModel` and an `SKPSLoss` in the plumbing of `FewShotModule`."""

from __future__ import annotations

import torch

from vadbench.models.fewshot_base import FewShotModule
from vadbench.models.skps_net.loss import SKPSLoss
from vadbench.models.skps_net.torch_model import SKPSNetModel


class SKPSNet(FewShotModule):
    """Spatio-Temporal Key Patch Selection Network (SKPS-Net).

    Args:
        net: the pure-torch core (`SKPSNetModel`; every switch of the paper's tables is documented there).
        loss: `SKPSLoss` (spatio-temporal refined loss, sec. 2.4, and journal eq. 12).
        **kwargs: `FewShotModule`'s optimizer (SGD lr 1e-3 in the paper), scheduler, train_backbone
            (both ResNets), cache_eval_embeddings, embed_chunk.
    """

    model_id = "skps_net"

    def __init__(self, *, net: SKPSNetModel, loss: SKPSLoss | None = None, **kwargs):
        super().__init__(net=net, loss=SKPSLoss() if loss is None else loss, **kwargs)

    def key_patches(self, frames: torch.Tensor) -> torch.Tensor:
        """Key patch centres (B, T, 2) = (x, y) in pixels of frames (B, T, 3, H, W)."""
        return self.net.embed_with_centres(frames)[1]

"""SKPS-Net as a LightningModule: `SKPSNetModel` + the few-shot plumbing of `FewShotModule`."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.fewshot_base import FewShotModule, OptimizerFactory
from vadbench.models.skps_net.loss import skps_loss
from vadbench.models.skps_net.torch_model import PatchMode, SelectionLayer, SKPSNetModel, Weighting


class SKPSNet(FewShotModule):
    """Spatio-Temporal Key Patch Selection Network (SKPS-Net). Paper values are the defaults.

    Backbones:
        backbone, backbone_weights: global ResNet (`resnet50`, ImageNet weights from a local file;
            None = random init, recorded as `backbone: random_init`). Nothing is downloaded.
        local_backbone, local_backbone_weights: key-patch ResNet (default: same arch as `backbone`).
        selection_layer: feature map driving the selection (`layer4`, the last map; `layer3` for tiny
            frames, twice the resolution).
        train_backbone: fine-tune both ResNets.
    Key patch (sec. 2.3, Table 4):
        use_patch: the key-patch branch (False = the TRX baseline of Table 3).
        patch_size: P x P patch in pixels (128 at 224 px frames).
        patch_input_size: side of the image the key-patch ResNet gets; None = P (the paper). Larger
            values resample the same window on a finer grid (a zoom; not in the paper).
        global_input_size: frame height the global ResNet gets (None = the input frames, the paper);
            smaller values downscale its input while the key patch is cut from the full frame
            (the paper's "patch out of the original frame" read as a higher-resolution source).
        patch_mode: `selected` (the module), `central` or `random` (Table 4's alternatives).
        weighting, temperature: how map values become the shift-vector weights u_i (eq. 4):
            `raw` values (the paper's eq. 4, clamped by eq. 5), `sum` (ReLU, sum-normalised) or
            `softmax` over the grid (values / temperature).
    Relation (sec. 2.2, Table 3):
        use_relation, relation_temporal, relation_motion: the module and its two submodules;
        relation_kernel_3d: K2's kernel (3 x 3 x 3 in the journal).
    Refined loss (sec. 2.4, Table 3):
        refined_loss: multi-head subspace cross-transformer + Hausdorff term (False = one TRX head
            on the concatenated features).
        heads_per_subspace: key/value sets per subspace (1: eq. 7's one set each).
        hausdorff_reduction: `mean` over frames per direction, or `sum` (HyRSM's code).
        temporal_weight: weight of the Hausdorff cross-entropy in the STR loss (1: "the sum").
        eval_logits: logits for accuracy: `cross_transformer` or `cross_transformer+temporal`.
    Training tricks (journal sec. 3.5 and its table):
        stop_gradient: no gradient from the selection branch into the global feature map.
        random_map_prob: probability that a training video's patch is chosen from a random map (0.5).
        extra_trm: extra TRX losses on the global and the local features; loss = mean of three (eq. 12).
    TRX heads: seq_len (8), cardinalities ([2, 3]), proj_dim (1152), pe_scale, dropout (0.1).
    loss_reduction: cross-entropy summed over queries (`sum`, TRX) or `mean`.
    optimizer, cache_eval_embeddings, embed_chunk: see `FewShotModule` (SGD lr 1e-3 in the paper).
    """

    model_id = "skps_net"

    def __init__(
        self,
        backbone: str = "resnet50",
        backbone_weights: str | None = None,
        local_backbone: str | None = None,
        local_backbone_weights: str | None = None,
        selection_layer: SelectionLayer = "layer4",
        train_backbone: bool = True,
        seq_len: int = 8,
        use_patch: bool = True,
        patch_size: int = 128,
        patch_input_size: int | None = None,
        global_input_size: int | None = None,
        patch_mode: PatchMode = "selected",
        weighting: Weighting = "raw",
        temperature: float = 1.0,
        use_relation: bool = True,
        relation_temporal: bool = True,
        relation_motion: bool = True,
        relation_kernel_3d: int = 3,
        refined_loss: bool = True,
        heads_per_subspace: int = 1,
        hausdorff_reduction: Literal["mean", "sum"] = "mean",
        temporal_weight: float = 1.0,
        eval_logits: Literal["cross_transformer", "cross_transformer+temporal"] = "cross_transformer",
        stop_gradient: bool = True,
        random_map_prob: float = 0.5,
        extra_trm: bool = True,
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
        self.model = SKPSNetModel(
            backbone=backbone, backbone_weights=backbone_weights, local_backbone=local_backbone,
            local_backbone_weights=local_backbone_weights, selection_layer=selection_layer, seq_len=seq_len,
            patch_size=patch_size, patch_input_size=patch_input_size,
            global_input_size=global_input_size, use_patch=use_patch, patch_mode=patch_mode, use_relation=use_relation,
            relation_temporal=relation_temporal, relation_motion=relation_motion,
            relation_kernel_3d=relation_kernel_3d, weighting=weighting, temperature=temperature,
            stop_gradient=stop_gradient, random_map_prob=random_map_prob, refined_loss=refined_loss,
            heads_per_subspace=heads_per_subspace, hausdorff_reduction=hausdorff_reduction, extra_trm=extra_trm,
            eval_logits=eval_logits, cardinalities=tuple(cardinalities), proj_dim=proj_dim, pe_scale=pe_scale,
            dropout=dropout)
        self.model.global_net.requires_grad_(train_backbone)
        if self.model.local_net is not None:
            self.model.local_net.requires_grad_(train_backbone)
        self.loss_reduction, self.temporal_weight = loss_reduction, temporal_weight

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.embed(frames)

    def key_patches(self, frames: torch.Tensor) -> torch.Tensor:
        """Key patch centres (B, T, 2) = (x, y) in pixels of frames (B, T, 3, H, W)."""
        return self.model.embed_with_centres(frames)[1]

    def episode_logits(self, support, support_labels, query, way: int) -> torch.Tensor:
        return self.model(support, support_labels, query, way).eval

    def training_step(self, batch: FewShotBatch, batch_idx: int) -> torch.Tensor:
        support, query = self.embed_episode(batch)
        out = self.model(support, batch.support_labels, query, batch.way)
        loss, terms = skps_loss(out, batch.query_labels, self.loss_reduction, self.temporal_weight)
        accuracy = (out.eval.argmax(dim=-1) == batch.query_labels).float().mean()
        self.log_dict({f"train/{k}": v.detach() for k, v in terms.items()}, batch_size=1)
        self.log("train/accuracy", accuracy, batch_size=1, prog_bar=True)
        return loss

    def result_metadata(self) -> dict:
        h = self.hparams
        return {"backbone": "pretrained" if self.model.backbone_loaded else "random_init",
                "backbone_arch": h.backbone, "local_backbone_arch": h.local_backbone or h.backbone,
                "backbone_weights": h.backbone_weights, "local_backbone_weights": h.local_backbone_weights,
                "use_patch": h.use_patch, "patch_mode": h.patch_mode, "patch_size": h.patch_size,
                "weighting": h.weighting, "use_relation": h.use_relation, "refined_loss": h.refined_loss,
                "stop_gradient": h.stop_gradient, "random_map_prob": h.random_map_prob, "extra_trm": h.extra_trm}

"""SKPS-Net (spatio-temporal key patch selection network) in pure torch.

Paper: "Anomalous action recognition via spatio-temporal relation and key patch selection"
(SKPS-Net; conference version `skps_net_en`, journal version `skps_net_zh_journal` for the
training tricks of its sec. 3.5 and eq. 12).

Pipeline per video (B videos, T frames, frames (B, T, 3, H, W)):
global ResNet -> feature map (B, T, C, h, w) + vector (B, T, Dg)
-> long-short spatio-temporal relation (sec. 2.2) -> channel mean -> weights u (B, T, h, w)
-> key patch centre (eq. 4-5) -> differentiable bilinear crop (eq. 6) (B*T, 3, P, P)
-> local ResNet -> (B, T, Dl); the frame feature is cat(global, local) (B, T, Dg + Dl).
Heads on an episode: multi-head cross-transformer over the global and local subspaces (eq. 7-8),
bidirectional mean Hausdorff distance on frame features (eq. 9), extra TRX heads on the global and
local features (journal eq. 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.backbones import build_resnet
from vadbench.models.components.precision import in_float32, upcast
from vadbench.models.trx.torch_model import CrossTransformerHead, TRXHeadConfig, check_shots

Weighting = Literal["raw", "sum", "softmax"]
PatchMode = Literal["selected", "central", "random"]
SelectionLayer = Literal["layer3", "layer4"]


# ---------------------------------------------------------------------------- backbone
class ResNetTrunk(nn.Module):
    """torchvision ResNet returning a spatial feature map and the pooled vector of each image.

    `(B, 3, H, W) -> map (B, C, h, w), vector (B, D)`; the map comes from `map_layer` (layer4 in
    the paper: the last feature map; layer3 doubles the map resolution for tiny frames).
    """

    def __init__(self, name: str = "resnet50", weights: str | None = None, map_layer: SelectionLayer = "layer4"):
        super().__init__()
        if map_layer not in ("layer3", "layer4"):
            raise ValueError(f"map_layer must be 'layer3' or 'layer4', got {map_layer!r}")
        self.net, self.dim, self.loaded = build_resnet(name, weights)
        self.map_layer = map_layer
        last = getattr(self.net, map_layer)[-1]            # its output width (BasicBlock: conv2, Bottleneck: conv3)
        self.map_channels = (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels

    def forward(self, x: torch.Tensor, with_map: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        x = n.layer3(n.layer2(n.layer1(x)))
        feature_map = x if self.map_layer == "layer3" else None
        x = n.layer4(x)
        if self.map_layer == "layer4":
            feature_map = x
        return (feature_map if with_map else None), torch.flatten(n.avgpool(x), 1)


# ---------------------------------------------------------------------------- sec. 2.2
class TemporalMapRelation(nn.Module):
    """Temporal relation module (sec. 2.2.1, eq. 1-2): a single-channel mask from all T frames.

    channel mean (N, T, H, W) -> K1: 1x1 conv with the T frames as channels (eq. 1) -> K2: 3D conv
    over (T, H, W) with one channel (eq. 2) -> sigmoid -> mask (N, T, 1, H, W) x input.
    """

    def __init__(self, seq_len: int, kernel_3d: int = 3):
        super().__init__()
        self.k1 = nn.Conv2d(seq_len, seq_len, kernel_size=1)
        self.k2 = nn.Conv3d(1, 1, kernel_size=kernel_3d, padding=kernel_3d // 2)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) -> mask (N, T, 1, H, W) in (0, 1)."""
        f = x.mean(dim=2)                          # F: channel mean, (N, T, H, W)
        f = self.k1(f)                             # eq. (1): F'' = K1 * F', frames as channels
        f = self.k2(f.unsqueeze(1)).squeeze(1)     # eq. (2): F''' = K2 * F'', (N, 1, T, H, W)
        return torch.sigmoid(f).unsqueeze(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask(x) * x


class MotionMapRelation(nn.Module):
    """Motion relation module (sec. 2.2.2, eq. 3): frame differences of encoded maps as a mask.

    M = 1x1 conv C -> 1 per frame; M''_t = K3 * M_{t+1} - M_t (K3: 3x3 conv) for t < T-1 and
    zeros at the last frame (journal: "zero at the last frame's position"); sigmoid -> mask x input.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.squeeze = nn.Conv2d(channels, 1, kernel_size=1)
        self.k3 = nn.Conv2d(1, 1, kernel_size=3, padding=1)

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) -> mask (N, T, 1, H, W) in (0, 1)."""
        n, t, c, h, w = x.shape
        m = self.squeeze(x.flatten(0, 1)).view(n, t, 1, h, w)
        encoded = self.k3(m[:, 1:].flatten(0, 1)).view(n, t - 1, 1, h, w)
        diff = encoded - m[:, :-1]                                 # eq. (3)
        diff = torch.cat([diff, diff.new_zeros(n, 1, 1, h, w)], dim=1)  # last frame: zero
        return torch.sigmoid(diff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mask(x) * x


class LongShortRelation(nn.Module):
    """Long-short feature-map spatio-temporal relation (sec. 2.2): temporal + motion outputs added.

    With one submodule switched off the other's output is returned; with both off the input.
    """

    def __init__(self, channels: int, seq_len: int, temporal: bool = True, motion: bool = True,
                 kernel_3d: int = 3):
        super().__init__()
        self.temporal = TemporalMapRelation(seq_len, kernel_3d) if temporal else None
        self.motion = MotionMapRelation(channels) if motion else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, C, H, W)
        parts = [m(x) for m in (self.temporal, self.motion) if m is not None]
        if not parts:
            return x
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]


# ---------------------------------------------------------------------------- sec. 2.3
def shift_vectors(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(h*w, 2) shift vectors (x, y) from the range centre to the h x w candidate points.

    In units of the half range: the points are spread uniformly over the allowed range of the
    centre (journal eq. 5), so the corner points have shifts (+-1, +-1); a side of 1 gives 0.
    """
    xs = torch.linspace(-1, 1, w, device=device, dtype=dtype) if w > 1 else torch.zeros(1, device=device, dtype=dtype)
    ys = torch.linspace(-1, 1, h, device=device, dtype=dtype) if h > 1 else torch.zeros(1, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).reshape(h * w, 2)


def shift_weights(weight_map: torch.Tensor, weighting: Weighting = "raw", temperature: float = 1.0) -> torch.Tensor:
    """Feature-map values (B, h, w) -> weights u_i (B, h*w) of the shift vectors.

    raw: the values themselves (eq. 4 as written; the clamp of eq. 5 keeps the point in range);
    sum: ReLU'd values divided by their sum (a weighted centroid);
    softmax: softmax over the grid of values / temperature.
    """
    u = weight_map.flatten(1)
    if weighting == "raw":
        return u
    if weighting == "sum":
        u = F.relu(u)
        return u / u.sum(dim=1, keepdim=True).clamp_min(1e-6)
    if weighting == "softmax":
        return (u / temperature).softmax(dim=1)
    raise ValueError(f"unknown weighting {weighting!r}; expected raw, sum or softmax")


def random_point_maps(shape: tuple[int, ...], device=None, dtype=torch.float32,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Random maps (..., h, w) that each hold one bilinear point mass (weights >= 0 summing to 1) at a
    uniformly random continuous grid position. With `raw` or `sum` weighting the weighted shift of
    such a map is that position, so the key patch centre is uniform over its allowed range: the
    uniform random patches of journal sec. 3.5. (A map of uniform random values instead puts the
    raw-weighted centre mostly at the clamp bound and the sum-weighted one near the frame centre.)"""
    *lead, h, w = shape
    pos = torch.rand(*lead, 2, device=device, dtype=dtype, generator=generator)
    px, py = pos[..., 0] * (w - 1), pos[..., 1] * (h - 1)
    gx = torch.arange(w, device=device, dtype=dtype)
    gy = torch.arange(h, device=device, dtype=dtype)
    wx = (1 - (gx - px[..., None]).abs()).clamp_min(0)          # (..., w) linear interpolation weights
    wy = (1 - (gy - py[..., None]).abs()).clamp_min(0)          # (..., h)
    return wy[..., :, None] * wx[..., None, :]


def centre_range(size: int, patch: int) -> tuple[float, float]:
    """[l_a, h_a]: centres (pixel-edge coordinates) whose patch lies inside a side of `size` pixels."""
    if patch > size:
        raise ValueError(f"key patch of {patch} px does not fit in frames of {size} px")
    return patch / 2.0, size - patch / 2.0


@in_float32  # pixel coordinates of the key patch in float32 (docs/precision.md)
def select_centres(weight_map: torch.Tensor, frame_hw: tuple[int, int], patch: int, weighting: Weighting = "raw",
                   temperature: float = 1.0) -> torch.Tensor:
    """Key patch centres (B, 2) as (x, y) pixel-edge coordinates from weight maps (B, h, w).

    eq. (4): A = sum_i u_i l_i; eq. (5): its end point clamped to [l_a, h_a] per axis.
    Pixel k covers [k, k+1), so an integer centre is a crop on the pixel grid (see `crop_patches`).
    """
    b, h, w = weight_map.shape
    height, width = frame_hw
    shifts = shift_vectors(h, w, weight_map.device, weight_map.dtype)          # (h*w, 2), half-range units
    a = shift_weights(weight_map, weighting, temperature) @ shifts               # eq. (4), (B, 2)
    (lx, hx), (ly, hy) = centre_range(width, patch), centre_range(height, patch)
    low = weight_map.new_tensor([lx, ly])
    high = weight_map.new_tensor([hx, hy])
    centre = (low + high) / 2 + a * (high - low) / 2
    return torch.minimum(torch.maximum(centre, low), high)                      # eq. (5): g(.)


def crop_patches(frames: torch.Tensor, centres: torch.Tensor, patch: int, out_size: int | None = None) -> torch.Tensor:
    """Bilinear crops (B, C, P, P) of frames (B, C, H, W) at fractional centres (B, 2) = (x, y).

    eq. (6) via `grid_sample` (bilinear, align_corners=False): the patch's pixel (i, j) samples the
    point (x - P/2 + j + 0.5, y - P/2 + i + 0.5); for integer centres these are pixel centres and the
    crop is exact. Differentiable in both the frames and the centres. `out_size` (default P) samples
    the same P x P window on an out_size x out_size grid (a zoomed key patch; not in the paper).
    """
    b, _, height, width = frames.shape
    if not bool(torch.isfinite(centres).all()):  # grid_sample would read out of bounds on NaN
        raise FloatingPointError("SKPS-Net: key patch centres are not finite (NaN/inf in the selection "
                                 "feature map: training diverged; lower the learning rate)")
    out = out_size or patch
    offsets = (torch.arange(out, device=frames.device, dtype=frames.dtype) + 0.5) * (patch / out) - patch / 2
    xs = (centres[:, 0:1] + offsets) * (2.0 / width) - 1      # (B, out), normalised to [-1, 1]
    ys = (centres[:, 1:2] + offsets) * (2.0 / height) - 1
    grid = torch.stack([xs[:, None, :].expand(b, out, out), ys[:, :, None].expand(b, out, out)], dim=-1)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)


# ---------------------------------------------------------------------------- sec. 2.4
@in_float32  # 1 - cosine distances and their minima in float32 (docs/precision.md)
def hausdorff_distance(support: torch.Tensor, query: torch.Tensor, reduction: Literal["mean", "sum"] = "mean",
                       eps: float = 1e-8) -> torch.Tensor:
    """Bidirectional mean Hausdorff distance (eq. 9) between frame sets: (S, T, D), (Q, T', D) -> (Q, S).

    d(f, g) = 1 - cos(f, g). Each support frame takes its nearest query frame and each query frame
    its nearest support frame; `mean` averages each direction over its frames (the paper's 1/d read
    as 1/number of frames), `sum` sums them (HyRSM's code).
    """
    s = F.normalize(support, dim=-1, eps=eps)
    q = F.normalize(query, dim=-1, eps=eps)
    dist = 1 - torch.einsum("qjd,sid->qsij", q, s)          # (Q, S, Ts, Tq)
    s_to_q = dist.min(dim=3).values                          # each support frame -> nearest query frame
    q_to_s = dist.min(dim=2).values                          # each query frame -> nearest support frame
    if reduction == "mean":
        return s_to_q.mean(dim=-1) + q_to_s.mean(dim=-1)
    if reduction == "sum":
        return s_to_q.sum(dim=-1) + q_to_s.sum(dim=-1)
    raise ValueError(f"unknown Hausdorff reduction {reduction!r}; expected mean or sum")


class SubspaceCrossTransformer(nn.Module):
    """Multi-head attention cross-transformer (sec. 2.4.1, eq. 7-8).

    Each subspace (global, local) has its own key/value maps per head (eq. 7); the distance of eq. 8,
    ||cat(S_g, S_l) - cat(V_qg, V_ql)||^2 over the tuples, is the sum of the subspaces' (and
    heads') squared distances, so the logits are the sum of one TRX cross-transformer per subspace
    and head. `heads` key/value sets per subspace, each of `head.proj_dim // heads` dims.
    """

    def __init__(self, dims: tuple[int, ...], head: TRXHeadConfig, heads: int = 1):
        super().__init__()
        if head.proj_dim % heads:
            raise ValueError(f"proj_dim {head.proj_dim} is not divisible by heads {heads}")
        self.dims = tuple(dims)
        self.heads = nn.ModuleList(CrossTransformerHead(feature_dim=d, head=head, proj_dim=head.proj_dim // heads)
                                   for d in dims for _ in range(heads))
        self.n_heads = heads

    def forward(self, support: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
        s_parts = support.split(self.dims, dim=-1)
        q_parts = query.split(self.dims, dim=-1)
        logits = 0
        for k, head in enumerate(self.heads):
            i = k // self.n_heads
            logits = logits + head(s_parts[i], q_parts[i], way)  # eq. (8): subspace distances add up
        return logits


# ---------------------------------------------------------------------------- the network
@dataclass
class SKPSOutputs:
    """Logits (Q, C) of one episode; None where the module is switched off.

    cross_transformer: multi-head cross-transformer over the final features (eq. 7-8), or the plain
        TRX head on them when the refined loss is off;
    temporal: -D_TR (eq. 9), averaged over the shots of each class;
    global_trm, local_trm: the extra TRX heads of journal eq. 12;
    eval: the logits used for accuracy.
    """

    cross_transformer: torch.Tensor
    temporal: torch.Tensor | None
    global_trm: torch.Tensor | None
    local_trm: torch.Tensor | None
    eval: torch.Tensor


class SKPSNetModel(nn.Module):
    """SKPS-Net: global branch, spatio-temporal relation, key patch selection, key-patch branch, heads.
    Paper values are the defaults.

    Backbones:
        backbone, backbone_weights: global ResNet (`resnet50`; `imagenet` = torchvision's ImageNet
            weights, torch cache, fetched on first use; or a local file; None = random init, recorded as
            `backbone: random_init`).
        local_backbone, local_backbone_weights: key-patch ResNet (default: same arch as `backbone`).
        selection_layer: feature map driving the selection (`layer4`, the last map; `layer3` for tiny
            frames, twice the resolution).
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
    Refined loss (sec. 2.4, Table 3; the loss itself is `SKPSLoss`):
        refined_loss: multi-head subspace cross-transformer + Hausdorff term (False = one TRX head
            on the concatenated features).
        heads_per_subspace: key/value sets per subspace (1: eq. 7's one set each).
        hausdorff_reduction: `mean` over frames per direction, or `sum` (HyRSM's code).
        eval_logits: logits for accuracy: `cross_transformer` or `cross_transformer+temporal`.
    Training tricks (journal sec. 3.5 and its table):
        stop_gradient: no gradient from the selection branch into the global feature map.
        random_map_prob: probability that a training video's patch is chosen from a random map (0.5).
        extra_trm: extra TRX heads on the global and the local features; loss = mean of three (eq. 12).
    TRX heads: head (`TRXHeadConfig`: seq_len 8, cardinalities [2, 3], proj_dim 1152, pe_scale,
        dropout 0.1), shared by every cross-transformer here; `head.seq_len` is also the T of the
        temporal relation module.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        backbone_weights: str | None = None,
        local_backbone: str | None = None,
        local_backbone_weights: str | None = None,
        selection_layer: SelectionLayer = "layer4",
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
        eval_logits: Literal["cross_transformer", "cross_transformer+temporal"] = "cross_transformer",
        stop_gradient: bool = True,
        random_map_prob: float = 0.5,
        extra_trm: bool = True,
        head: TRXHeadConfig = TRXHeadConfig(),
        random_map: Literal["values", "point"] = "values",
    ):
        super().__init__()
        if random_map not in ("values", "point"):
            raise ValueError(f"unknown random_map {random_map!r}; expected values or point")
        self.random_map = random_map
        if patch_mode not in ("selected", "central", "random"):
            raise ValueError(f"unknown patch_mode {patch_mode!r}; expected selected, central or random")
        if not 0.0 <= random_map_prob <= 1.0:
            raise ValueError(f"random_map_prob must be in [0, 1], got {random_map_prob}")
        self.backbone_names = (backbone, local_backbone or backbone)
        self.backbone_weights = (backbone_weights, local_backbone_weights)
        self.seq_len, self.patch_size, self.use_patch, self.patch_mode = head.seq_len, patch_size, use_patch, patch_mode
        self.patch_input_size, self.global_input_size = patch_input_size, global_input_size
        self.weighting, self.temperature = weighting, temperature
        self.stop_gradient, self.random_map_prob = stop_gradient, random_map_prob
        self.use_relation, self.extra_trm_requested = use_relation, extra_trm
        self.refined_loss, self.hausdorff_reduction, self.eval_logits = refined_loss, hausdorff_reduction, eval_logits
        self.global_net = ResNetTrunk(name=backbone, weights=backbone_weights, map_layer=selection_layer)
        self.global_dim = self.global_net.dim
        self.relation = None
        self.local_net = None
        self.local_dim = 0
        if use_patch:
            if use_relation and (relation_temporal or relation_motion):
                self.relation = LongShortRelation(channels=self.global_net.map_channels, seq_len=head.seq_len,
                                                  temporal=relation_temporal, motion=relation_motion,
                                                  kernel_3d=relation_kernel_3d)
            self.local_net = ResNetTrunk(name=local_backbone or backbone, weights=local_backbone_weights)
            self.local_dim = self.local_net.dim
        dims = (self.global_dim, self.local_dim) if use_patch else (self.global_dim,)
        if refined_loss:
            self.final_head = SubspaceCrossTransformer(dims=dims, head=head, heads=heads_per_subspace)
        else:
            self.final_head = CrossTransformerHead(feature_dim=sum(dims), head=head)
        self.extra_trm = extra_trm and use_patch
        if self.extra_trm:
            self.global_head = CrossTransformerHead(feature_dim=self.global_dim, head=head)
            self.local_head = CrossTransformerHead(feature_dim=self.local_dim, head=head)

    def backbones(self) -> list[nn.Module]:
        """The CNNs (`train_backbone: false` freezes them)."""
        return [self.global_net] + ([self.local_net] if self.local_net is not None else [])

    def logits(self, outputs: SKPSOutputs) -> torch.Tensor:
        """The logits used for accuracy (`eval_logits`)."""
        return outputs.eval

    def result_metadata(self) -> dict:
        return {"backbone": "pretrained" if self.backbone_loaded else "random_init",
                "backbone_arch": self.backbone_names[0], "local_backbone_arch": self.backbone_names[1],
                "backbone_weights": self.backbone_weights[0], "local_backbone_weights": self.backbone_weights[1],
                "use_patch": self.use_patch, "patch_mode": self.patch_mode, "patch_size": self.patch_size,
                "weighting": self.weighting, "use_relation": self.use_relation, "refined_loss": self.refined_loss,
                "stop_gradient": self.stop_gradient, "random_map_prob": self.random_map_prob,
                "extra_trm": self.extra_trm_requested}

    @property
    def feature_dim(self) -> int:
        return self.global_dim + self.local_dim

    @property
    def backbone_loaded(self) -> bool:
        return self.global_net.loaded and (self.local_net is None or self.local_net.loaded)

    # ------------------------------------------------------------------ patch selection
    def selection_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Global feature maps (B, T, C, h, w) -> single-channel weight maps (B, T, h, w).

        Journal sec. 3.5: the gradient is stopped between the global feature map and the selection
        branch (`stop_gradient`); the relation module (sec. 2.2) then channel mean.
        """
        if self.stop_gradient:
            feature_map = feature_map.detach()
        if self.relation is not None:
            feature_map = self.relation(feature_map)
        weight_map = upcast(feature_map.mean(dim=2))   # float32 under bf16 autocast, as select_centres reads it
        if self.training and self.random_map_prob > 0:
            # journal sec. 3.5: with probability p a video's selection is driven by a random map
            b, t, h, w = weight_map.shape
            use_random = torch.rand(b, 1, 1, 1, device=weight_map.device) < self.random_map_prob
            if self.random_map == "point":   # one random point per frame: uniform random centres
                random = random_point_maps(weight_map.shape, weight_map.device, weight_map.dtype)
            else:                            # uniform random values per map cell (default)
                random = torch.rand_like(weight_map)
            weight_map = torch.where(use_random, random, weight_map)
        return weight_map

    def patch_centres(self, feature_map: torch.Tensor, frame_hw: tuple[int, int]) -> torch.Tensor:
        """Key patch centres (B, T, 2) = (x, y) pixel coordinates for feature maps (B, T, C, h, w)."""
        b, t = feature_map.shape[:2]
        (lx, hx), (ly, hy) = centre_range(frame_hw[1], self.patch_size), centre_range(frame_hw[0], self.patch_size)
        if self.patch_mode == "central":   # Table 4: patch at the frame centre
            return feature_map.new_tensor([(lx + hx) / 2, (ly + hy) / 2]).expand(b, t, 2)
        if self.patch_mode == "random":    # Table 4: patch at a uniformly random position
            u = torch.rand(b, t, 2, device=feature_map.device, dtype=feature_map.dtype)
            return feature_map.new_tensor([lx, ly]) + u * feature_map.new_tensor([hx - lx, hy - ly])
        weight_map = self.selection_map(feature_map)
        return select_centres(weight_map.flatten(0, 1), frame_hw, self.patch_size, self.weighting,
                              self.temperature).view(b, t, 2)

    # ------------------------------------------------------------------ features
    def embed_with_centres(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, 3, H, W) -> frame features (B, T, Dg + Dl) = cat(global, local), centres (B, T, 2)."""
        b, t, _, height, width = frames.shape
        flat = frames.flatten(0, 1)
        global_in = flat
        if self.global_input_size is not None and self.global_input_size != height:
            # the global branch sees a downscaled frame; the key patch is cut from the full one
            size = (self.global_input_size, max(1, round(width * self.global_input_size / height)))
            global_in = F.interpolate(flat, size=size, mode="bilinear", align_corners=False, antialias=True)
        feature_map, global_vec = self.global_net(global_in, with_map=self.use_patch)
        global_vec = global_vec.view(b, t, -1)
        if not self.use_patch:
            return global_vec, None
        feature_map = feature_map.view(b, t, *feature_map.shape[1:])
        centres = self.patch_centres(feature_map, (height, width))
        patches = crop_patches(flat, centres.flatten(0, 1), self.patch_size, self.patch_input_size)  # eq. (6)
        _, local_vec = self.local_net(patches, with_map=False)
        return torch.cat([global_vec, local_vec.view(b, t, -1)], dim=-1), centres

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embed_with_centres(frames)[0]

    # ------------------------------------------------------------------ heads
    def forward(self, support: torch.Tensor, support_labels: torch.Tensor, query: torch.Tensor,
                way: int) -> SKPSOutputs:
        """Episode logits from frame features: support (S, T, D), labels (S,) in [0, C), query (Q, T, D)."""
        check_shots(support_labels, way, "SKPS-Net")
        support = support[torch.argsort(support_labels, stable=True)]  # class-major
        final = self.final_head(support, query, way)
        temporal = None
        if self.refined_loss:
            # eq. (9) per query-support pair, averaged over the shots of each class
            d = hausdorff_distance(support, query, self.hausdorff_reduction)
            temporal = -d.view(d.shape[0], way, -1).mean(dim=-1)
        global_trm = local_trm = None
        if self.extra_trm:
            g, l = self.global_dim, self.local_dim
            global_trm = self.global_head(support[..., :g], query[..., :g], way)
            local_trm = self.local_head(support[..., g:g + l], query[..., g:g + l], way)
        logits = final
        if self.eval_logits == "cross_transformer+temporal" and temporal is not None:
            logits = final + temporal
        return SKPSOutputs(final, temporal, global_trm, local_trm, logits)

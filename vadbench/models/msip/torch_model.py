"""MSIP (Ye et al., ICASSP 2024) in pure torch: MPSR network with an HGC block, CTR, classifier.

The poster gives the pipeline, the loss and the budget (75.2M parameters, 17.0G FLOPs) but not the
layers of MPSR / HGC; vadbench/models/msip/README.md lists every choice made here. Shapes: B videos,
T snippets, C clip crops, P_r = rows*cols patches of scale r (row-major), D feature dims, H hidden.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vadbench.data.synthetic import grid_shape
from vadbench.models.components.patches import patch_scale_list, snippet_patches
from vadbench.models.components.precision import in_float32
from vadbench.models.relation import AttentionNorm, TemporalRelation
from vadbench.models.rtfm.torch_model import RTFMModel, RTFMOutput, _xavier_init

HGCDirection = Literal["fine_to_coarse", "coarse_to_fine"]
IntraGraph = Literal["similarity", "spatial"]


def cell_overlap(src: tuple[int, int], dst: tuple[int, int]) -> torch.Tensor:
    """(P_dst, P_src): fraction of each src cell's area inside each dst cell (rows sum to the dst area share).

    Row-normalised, it is the cross-scale adjacency: a dst node averages the src nodes it overlaps,
    weighted by overlap area.
    """
    def axis(n_src: int, n_dst: int) -> torch.Tensor:
        s = torch.arange(n_src + 1, dtype=torch.float64) / n_src
        d = torch.arange(n_dst + 1, dtype=torch.float64) / n_dst
        lo = torch.maximum(d[:-1, None], s[None, :-1])
        hi = torch.minimum(d[1:, None], s[None, 1:])
        return (hi - lo).clamp(min=0)                      # (n_dst, n_src) overlap lengths
    oy, ox = axis(src[0], dst[0]), axis(src[1], dst[1])
    area = oy[:, None, :, None] * ox[None, :, None, :]     # (dst_r, dst_c, src_r, src_c)
    return area.reshape(dst[0] * dst[1], src[0] * src[1]).float()


def grid_adjacency(rows: int, cols: int) -> torch.Tensor:
    """(P, P) symmetric-normalised 8-neighbour grid graph with self loops: D^-1/2 (A + I) D^-1/2."""
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    r, c = r.reshape(-1), c.reshape(-1)
    a = (((r[:, None] - r[None, :]).abs() <= 1) & ((c[:, None] - c[None, :]).abs() <= 1)).float()
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


@in_float32  # attention logits and their softmax in float32 (docs/precision.md)
def similarity_graph(x: torch.Tensor) -> torch.Tensor:
    """(N, P, H) nodes -> (N, P, P) row-softmax of their scaled dot products (a dynamic graph)."""
    return (x @ x.transpose(1, 2) / x.shape[-1] ** 0.5).softmax(dim=-1)


class GraphConv(nn.Module):
    """One graph convolution X' = X + ReLU(A X W) over (N, P, H) node features (Kipf & Welling style).

    `similarity`: A = row-softmax of the nodes' scaled dot products (a dynamic graph, the relation
    between patches that look alike); `spatial`: the fixed normalised 8-neighbour grid graph.
    """

    def __init__(self, dim: int, graph: IntraGraph = "similarity", grid: tuple[int, int] | None = None):
        super().__init__()
        self.graph = graph
        self.weight = nn.Linear(dim, dim)
        if graph == "spatial":
            self.register_buffer("adjacency", grid_adjacency(*grid), persistent=False)
        self.keep_attention = False
        self.last_adjacency: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.graph == "similarity":
            adj = similarity_graph(x)                                                # (N, P, P)
        else:
            adj = self.adjacency
        if self.keep_attention:
            self.last_adjacency = adj.detach()
        return x + torch.relu(adj @ self.weight(x))


class CrossScaleConv(nn.Module):
    """Messages from one scale's nodes to another's, along cell overlap: ReLU(O_norm X_src W)."""

    def __init__(self, dim: int, src: tuple[int, int], dst: tuple[int, int]):
        super().__init__()
        overlap = cell_overlap(src, dst)
        self.register_buffer("overlap", overlap / overlap.sum(1, keepdim=True), persistent=False)
        self.weight = nn.Linear(dim, dim)

    @in_float32  # the overlap fractions stay exact, not rounded to bf16 (docs/precision.md)
    def forward(self, x_src: torch.Tensor) -> torch.Tensor:
        """x_src (N, P_src, H) -> (N, P_dst, H)."""
        return torch.relu(self.overlap @ self.weight(x_src))


class HierarchicalGraphConv(nn.Module):
    """HGC block: every patch of every scale is a node; scales are integrated one after another.

    Along `direction` (default fine -> coarse, 4x7 -> 3x5 -> 2x3), scale r receives the already
    integrated nodes of the previous scale through the overlap graph, then a graph convolution
    relates the nodes within the scale:
        Z_1 = G_1(X_1),   Z_r = G_r(X_r + C_{r-1->r}(Z_{r-1})),  r = 2..R
    `cross_scale=False` drops C (scales stay independent: the "without cross-scale" ablation).
    """

    def __init__(self, dim: int, grids: dict[str, tuple[int, int]], direction: HGCDirection = "fine_to_coarse",
                 intra_graph: IntraGraph = "similarity", cross_scale: bool = True):
        super().__init__()
        by_size = sorted(grids, key=lambda s: grids[s][0] * grids[s][1], reverse=(direction == "fine_to_coarse"))
        self.order = by_size
        self.intra = nn.ModuleDict({s: GraphConv(dim, intra_graph, grids[s]) for s in by_size})
        self.cross = nn.ModuleDict({f"{a}_to_{b}": CrossScaleConv(dim, grids[a], grids[b])
                                    for a, b in zip(by_size, by_size[1:])} if cross_scale else {})

    def forward(self, nodes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        previous = None
        for scale in self.order:                           # <= 3 scales
            x = nodes[scale]
            if previous is not None and self.cross:
                x = x + self.cross[f"{previous}_to_{scale}"](out[previous])
            out[scale] = self.intra[scale](x)
            previous = scale
        return out


class MPSR(nn.Module):
    """Multi-scale patch spatial relation network: embed, relate within scales, HGC, read out to D.

    Per scale r: X_r = ReLU(Linear_D->H(chi^r)); X_r = relation network over the patch axis (the PSR
    of SSRL at width H); then HGC across scales; each scale is read out position-aware (nodes
    projected to H/2, flattened in grid order, Linear to D + ReLU) and the readouts are summed.
    """

    def __init__(self, dim: int, scales: list[str], hidden_dim: int, readout_dim: int, use_relation: bool = True,
                 use_hgc: bool = True, hgc_cross_scale: bool = True, hgc_direction: HGCDirection = "fine_to_coarse",
                 hgc_intra_graph: IntraGraph = "similarity", attention_norm: AttentionNorm = "softmax"):
        super().__init__()
        self.scales = list(scales)
        self.grids = {s: grid_shape(s) for s in self.scales}
        self.embed = nn.ModuleDict({s: nn.Sequential(nn.Linear(dim, hidden_dim), nn.ReLU()) for s in self.scales})
        self.relation = nn.ModuleDict({s: TemporalRelation(hidden_dim, attention_norm=attention_norm)
                                       for s in self.scales} if use_relation else {})
        self.hgc = (HierarchicalGraphConv(hidden_dim, self.grids, hgc_direction, hgc_intra_graph, hgc_cross_scale)
                    if use_hgc else None)
        self.project = nn.ModuleDict({s: nn.Sequential(nn.Linear(hidden_dim, readout_dim), nn.ReLU())
                                      for s in self.scales})
        self.readout = nn.ModuleDict({s: nn.Sequential(nn.Linear(readout_dim * r * c, dim), nn.ReLU())
                                      for s, (r, c) in self.grids.items()})

    def forward(self, patches: dict[str, torch.Tensor]) -> torch.Tensor:
        """patches: scale -> (B, T, P, D). Returns the fused patch feature (B, T, D)."""
        nodes, shape = {}, None
        for scale in self.scales:
            x, shape = snippet_patches(patches, scale, self.grids[scale], "MSIP")   # (B*T, P, D), (B, T, D)
            h = self.embed[scale](x)                           # every snippet's patches as one sequence
            nodes[scale] = self.relation[scale](h) if self.relation else h
        if self.hgc is not None:
            nodes = self.hgc(nodes)                            # cross-scale learning (HGC)
        fused = sum(self.readout[s](self.project[s](nodes[s]).flatten(1)) for s in self.scales)
        return fused.view(*shape)


class MSIPModel(RTFMModel):
    """MPSR output added to the clip features, then CTR (the RTFM relation network) and the classifier.

    Args (the others, `**rtfm_args`, go to RTFMModel and configure CTR, classifier and top-k):
        feature_dim: D of the clip and patch features.
        patch_scales: [] = stage one (CTR + classifier only); any subset for the scale ablation.
        hidden_dim: node width H (default 11/32 D = 704 for D = 2048, sized to the poster's 75.2M).
        readout_dim: per-node width before the flattened readout (default H/2).
        use_relation: within-scale relation network (MPSR's spatial relation).
        use_hgc, hgc_cross_scale, hgc_direction, hgc_intra_graph: the HGC block and its choices.
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        *,
        patch_scales: tuple[str, ...] | None = ("patch23", "patch35", "patch47"),
        hidden_dim: int | None = None,
        readout_dim: int | None = None,
        use_relation: bool = True,
        use_hgc: bool = True,
        hgc_cross_scale: bool = True,
        hgc_direction: HGCDirection = "fine_to_coarse",
        hgc_intra_graph: IntraGraph = "similarity",
        **rtfm_args,
    ):
        super().__init__(feature_dim=feature_dim, **rtfm_args)
        self.patch_scales = patch_scale_list(patch_scales, "MSIPModel")
        hidden = hidden_dim or max(8, feature_dim * 11 // 32)
        self.mpsr = (MPSR(feature_dim, self.patch_scales, hidden, readout_dim or hidden // 2, use_relation=use_relation,
                          use_hgc=use_hgc, hgc_cross_scale=hgc_cross_scale, hgc_direction=hgc_direction,
                          hgc_intra_graph=hgc_intra_graph, attention_norm=self.attention_norm)
                     if self.patch_scales else None)
        if self.mpsr is not None:
            self.mpsr.apply(_xavier_init)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> RTFMOutput:
        """features (B, T, C, D), mask (B, T), patches scale -> (B, T, P, D) -> RTFMOutput."""
        if self.mpsr is not None:
            features = features + self.mpsr(patches or {})[:, :, None, :]   # fuse with every clip crop
        return super().forward(features, mask)                               # CTR + classifier

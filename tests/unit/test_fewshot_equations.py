"""Every TRX / SKPS-Net equation against an independent loop-by-loop reference on inputs where a
wrong formula gives another number: random (non-identity) kernels and projections, LayerNorm with
non-trivial affine parameters, several shots in shuffled order, non-zero positional encodings,
feature spaces of different widths. Written to catch fidelity mutations (key LayerNorm removed,
softmax over one support video instead of all shots, K3 on the wrong frame, wrong feature slice to
an extra head, wrong distance normalisation, ...)."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from vadbench.models.skps_net.torch_model import (
    MotionMapRelation, SKPSNetModel, TemporalMapRelation, hausdorff_distance, random_point_maps, select_centres,
    centre_range)
from vadbench.models.trx.torch_model import TRXHeadConfig, PositionalEncoding, TemporalCrossTransformer, TRXModel

DTYPE = torch.float64


def randomise(module: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5 + (0.3 if p.dim() == 1 else 0.0))
    return module


# ---------------------------------------------------------------------------- TRX
def reference_trx_logits(head: TemporalCrossTransformer, support, labels, query, way):
    """TRX eqs. (1)-(6) with explicit loops: classes, shots and tuples visited one by one."""
    t = support.shape[1]
    pe = head.positional.pe[:t]
    tuples = list(itertools.combinations(range(t), head.cardinality))

    def tuple_feats(video):
        x = video + pe
        return torch.stack([torch.cat([x[i] for i in tup]) for tup in tuples])      # (N, c*D)

    def ln(k):
        mu, var = k.mean(-1, keepdim=True), k.var(-1, unbiased=False, keepdim=True)
        return (k - mu) / torch.sqrt(var + head.key_norm.eps) * head.key_norm.weight + head.key_norm.bias

    w_k, b_k, w_v, b_v = head.key.weight, head.key.bias, head.value.weight, head.value.bias
    logits = torch.zeros(query.shape[0], way, dtype=query.dtype)
    for qi in range(query.shape[0]):
        q = tuple_feats(query[qi])
        q_key, q_val = ln(q @ w_k.T + b_k), q @ w_v.T + b_v
        for c in range(way):
            shots = [tuple_feats(support[i]) for i in range(len(labels)) if labels[i] == c]
            s_all = torch.cat(shots)                                              # all tuples of all shots
            s_key, s_val = ln(s_all @ w_k.T + b_k), s_all @ w_v.T + b_v
            dist = 0.0
            for n in range(len(tuples)):
                att = torch.softmax(s_key @ q_key[n] / math.sqrt(head.proj_dim), dim=0)
                proto = (att[:, None] * s_val).sum(0)
                dist = dist + ((q_val[n] - proto) ** 2).sum()
            logits[qi, c] = -dist / len(tuples)
    return logits


def test_trx_head_matches_loop_reference_with_several_shots_in_shuffled_order():
    torch.manual_seed(0)
    model = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=5, cardinalities=(2, 3), proj_dim=6, pe_scale=0.7, dropout=0.0))
    model.transformers = nn.ModuleList(TemporalCrossTransformer(4, 5, c, 6, 0.7, 0.0) for c in (2, 3))
    for i, t in enumerate(model.transformers):
        randomise(t, i)
    model.double().eval()
    way, shot = 3, 3
    labels = torch.arange(way).repeat(shot)[torch.randperm(way * shot)]       # shuffled support
    support = torch.randn(way * shot, 5, 4, dtype=DTYPE) + labels[:, None, None]
    query = torch.randn(4, 5, 4, dtype=DTYPE)
    with torch.no_grad():
        ours = model(support, labels, query, way)
        per_card = [reference_trx_logits(t, support, labels, query, way) for t in model.transformers]
    torch.testing.assert_close(ours, (per_card[0] + per_card[1]) / 2, rtol=1e-9, atol=1e-9)


def test_positional_encoding_sin_even_cos_odd_scaled():
    pe = PositionalEncoding(6, 12, scale=0.1, dropout=0.0).pe
    for pos in (0, 3, 11):
        for i in range(3):
            freq = 10000 ** (-2 * i / 6)
            assert abs(pe[pos, 2 * i].item() - 0.1 * math.sin(pos * freq)) < 1e-6
            assert abs(pe[pos, 2 * i + 1].item() - 0.1 * math.cos(pos * freq)) < 1e-6


def test_trx_separate_backbone_passes_differ_from_joint_in_train_mode_only():
    torch.manual_seed(0)
    joint = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=2, proj_dim=8))
    separate = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=2, proj_dim=8), backbone_passes="separate")
    initial = {k: v.clone() for k, v in joint.state_dict().items()}
    separate.load_state_dict(initial)
    s, q = torch.randn(2, 2, 3, 32, 32), torch.randn(3, 2, 3, 32, 32) * 2 + 1
    joint.train(); separate.train()
    js, jq = joint.embed_episode(s, q)
    ss, sq = separate.embed_episode(s, q)
    torch.testing.assert_close(ss, joint.embed(s))          # support alone: its own batch statistics
    assert (js - ss).abs().max() > 1e-3                      # BatchNorm statistics of the joint batch differ
    joint.load_state_dict(initial); separate.load_state_dict(initial)   # train mode moved the running stats
    joint.eval(); separate.eval()
    torch.testing.assert_close(joint.embed_episode(s, q)[1], separate.embed_episode(s, q)[1])


# ---------------------------------------------------------------------------- SKPS-Net sec. 2.2
def test_temporal_relation_eq1_eq2_with_random_kernels():
    torch.manual_seed(1)
    t, c, h, w = 4, 3, 5, 6
    mod = randomise(TemporalMapRelation(t, 3), 3).double()
    x = torch.randn(2, t, c, h, w, dtype=DTYPE)
    f = x.mean(2)                                                         # channel mean (N, T, H, W)
    k1w, k1b = mod.k1.weight[:, :, 0, 0], mod.k1.bias
    f1 = torch.einsum("ot,nthw->nohw", k1w, f) + k1b[None, :, None, None]  # eq. (1): frames as channels
    k2 = mod.k2.weight[0, 0]
    padded = nn.functional.pad(f1, (1, 1, 1, 1, 1, 1))
    f2 = torch.zeros_like(f1)
    for dt, dy, dx in itertools.product(range(3), repeat=3):              # eq. (2): 3D conv, one channel
        f2 = f2 + k2[dt, dy, dx] * padded[:, dt:dt + t, dy:dy + h, dx:dx + w]
    mask = torch.sigmoid(f2 + mod.k2.bias)
    torch.testing.assert_close(mod(x), mask[:, :, None] * x)


def test_motion_relation_eq3_k3_on_the_next_frame_minus_the_current():
    torch.manual_seed(2)
    t, c, h, w = 4, 3, 5, 5
    mod = randomise(MotionMapRelation(c), 4).double()
    x = torch.randn(2, t, c, h, w, dtype=DTYPE)
    m = torch.einsum("c,ntchw->nthw", mod.squeeze.weight[0, :, 0, 0], x) + mod.squeeze.bias   # (N, T, H, W)
    k3 = mod.k3.weight[0, 0]
    expected = torch.zeros(2, t, h, w, dtype=DTYPE)
    for i in range(t - 1):
        nxt = nn.functional.pad(m[:, i + 1], (1, 1, 1, 1))
        conv = sum(k3[dy, dx] * nxt[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) + mod.k3.bias
        expected[:, i] = conv - m[:, i]                                   # K3 * M_{t+1} - M_t
    # the last frame's difference is zero -> mask 0.5
    torch.testing.assert_close(mod.mask(x)[:, :, 0], torch.sigmoid(expected))


# ---------------------------------------------------------------------------- sec. 2.3
def test_random_point_maps_give_uniform_unclamped_centres():
    g = torch.Generator().manual_seed(0)
    maps = random_point_maps((40000, 7, 7), generator=g)
    assert torch.allclose(maps.sum((1, 2)), torch.ones(40000)) and bool((maps >= 0).all())
    centres = select_centres(maps, (128, 128), 64, "raw")
    low, high = centre_range(128, 64)
    u = (centres - low) / (high - low)
    clamped = ((centres <= low + 1e-6) | (centres >= high - 1e-6)).double().mean()
    assert clamped < 1e-3
    quarters = torch.histc(u[:, 0], 4, 0, 1) / len(u)
    assert torch.allclose(quarters, torch.full((4,), 0.25), atol=0.01)
    # the default random map (uniform values, raw weighting) puts many centres on the bound
    values = select_centres(torch.rand(40000, 7, 7, generator=g), (128, 128), 64, "raw")
    assert ((values <= low + 1e-6) | (values >= high - 1e-6)).double().mean() > 0.3


# ---------------------------------------------------------------------------- sec. 2.4
def reference_hausdorff(s, q):
    """Eq. (9) with the mean over frames: each frame's nearest frame of the other video, both ways."""
    out = torch.zeros(q.shape[0], s.shape[0], dtype=s.dtype)
    for a in range(q.shape[0]):
        for b in range(s.shape[0]):
            d = torch.tensor([[1 - torch.cosine_similarity(s[b, i], q[a, j], dim=0) for j in range(q.shape[1])]
                              for i in range(s.shape[1])], dtype=s.dtype)
            out[a, b] = d.min(1).values.mean() + d.min(0).values.mean()
    return out


def test_hausdorff_matches_loop_reference_with_unequal_lengths():
    torch.manual_seed(3)
    s, q = torch.randn(3, 4, 5, dtype=DTYPE), torch.randn(2, 6, 5, dtype=DTYPE)
    torch.testing.assert_close(hausdorff_distance(s, q), reference_hausdorff(s, q))


def test_skps_heads_get_their_own_feature_slices_and_the_temporal_logits_average_shots():
    torch.manual_seed(4)
    model = SKPSNetModel(backbone="resnet_tiny", local_backbone="resnet18", patch_size=16,
                         head=TRXHeadConfig(seq_len=3, proj_dim=8, dropout=0.0)).double().eval()
    g, l = model.global_dim, model.local_dim
    assert g != l                                              # different widths: a wrong slice cannot hide
    way, shot = 2, 2
    labels = torch.tensor([1, 0, 0, 1])
    support, query = torch.randn(way * shot, 3, g + l, dtype=DTYPE), torch.randn(3, 3, g + l, dtype=DTYPE)
    with torch.no_grad():
        out = model(support, labels, query, way)
        order = torch.argsort(labels, stable=True)
        s = support[order]
        torch.testing.assert_close(out.global_trm, model.global_head(s[..., :g], query[..., :g], way))
        torch.testing.assert_close(out.local_trm, model.local_head(s[..., g:], query[..., g:], way))
        heads = model.final_head.heads
        torch.testing.assert_close(out.cross_transformer, heads[0](s[..., :g], query[..., :g], way)
                                   + heads[1](s[..., g:], query[..., g:], way))
        d = reference_hausdorff(support, query)                   # (Q, S) in the original support order
        expected = torch.stack([-d[:, labels == c].mean(1) for c in range(way)], dim=1)
        torch.testing.assert_close(out.temporal, expected)


def test_trx_unit_backbone_input_feeds_the_backbone_frames_in_0_1():
    from vadbench.data.episodic.dataset import IMAGENET_MEAN, IMAGENET_STD

    torch.manual_seed(5)
    unit = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=2, proj_dim=8), backbone_input="unit").eval()
    raw = torch.rand(1, 2, 3, 32, 32)                                    # frames in [0, 1]
    normalised = (raw - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    with torch.no_grad():
        expected = unit.backbone(raw.flatten(0, 1)).view(1, 2, -1)
        torch.testing.assert_close(unit.embed(normalised), expected, rtol=1e-5, atol=1e-5)
        default = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=2, proj_dim=8)).eval()
        default.load_state_dict(unit.state_dict())
        assert (default.embed(normalised) - expected).abs().max() > 1e-3

"""MGFN's pieces on small inputs, each checked against its formula with numbers a wrong form would miss
(the full network against the official code: tests/golden/test_mgfn_golden.py)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vadbench.models.mgfn import MGFNLoss, MGFNModel
from vadbench.models.mgfn.loss import same_class_pairs, smoothness_term, sparsity_term
from vadbench.models.mgfn.official_checkpoint import official_key
from vadbench.models.mgfn.torch_model import ChannelLayerNorm, FeatureAmplifier, TemporalConv

SMALL = dict(feature_dim=12, dims=(8, 16, 24), depths=(1, 1, 1), dim_head=4, exclusion_rate=0.0)


def small(**kwargs) -> MGFNModel:
    torch.manual_seed(0)
    return MGFNModel(**{**SMALL, **kwargs}).double()


@pytest.mark.parametrize("kernel, bias", [(1, True), (3, True), (3, False)])
def test_temporal_conv_is_conv1d(kernel, bias):
    torch.manual_seed(0)
    conv = TemporalConv(5, 7, kernel, bias=bias).double()
    x = torch.randn(3, 5, 9, dtype=torch.float64)
    expected = F.conv1d(x, conv.weight, conv.bias, padding=kernel // 2)
    torch.testing.assert_close(conv(x), expected, rtol=1e-12, atol=1e-12)


def test_channel_layer_norm_adds_eps_to_the_std():
    """(x - mean) / (std + eps), not / sqrt(var + eps): visible when the variance is near eps."""
    norm = ChannelLayerNorm(4, eps=1e-2).double()
    x = torch.tensor([[[0.0], [0.01], [0.02], [0.03]]], dtype=torch.float64)   # std 0.01118
    std = x.var(dim=1, unbiased=False).sqrt()
    torch.testing.assert_close(norm(x), (x - x.mean(1, keepdim=True)) / (std + 1e-2))
    assert not torch.allclose(norm(x), (x - x.mean(1, keepdim=True)) / (x.var(dim=1, unbiased=False) + 1e-2).sqrt())


def test_feature_amplification_adds_the_convolved_magnitude():
    """FAM eqs. (1)-(2): Conv(x) + ratio * Conv(||x||_2); off: Conv(x) only and no magnitude branch."""
    torch.manual_seed(0)
    fam = FeatureAmplifier(6, 4, ratio=0.3).double()
    x = torch.randn(2, 6, 5, dtype=torch.float64)
    magnitude = x.norm(dim=1, keepdim=True)
    expected = F.conv1d(x, fam.to_tokens.weight, fam.to_tokens.bias, padding=1) + 0.3 * F.conv1d(
        magnitude, fam.to_magnitude.weight, fam.to_magnitude.bias, padding=1)
    torch.testing.assert_close(fam(x), expected)
    off = FeatureAmplifier(6, 4, enabled=False)
    assert off.to_magnitude is None and not any("to_magnitude" in k for k in off.state_dict())


def test_a_padded_batch_scores_like_one_video_at_a_time():
    model = small()
    model.eval()
    torch.manual_seed(1)
    a, b = torch.randn(1, 7, 3, 12, dtype=torch.float64), torch.randn(1, 4, 3, 12, dtype=torch.float64)
    batch = torch.zeros(2, 7, 3, 12, dtype=torch.float64)
    batch[0], batch[1, :4] = a[0], b[0]
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    with torch.no_grad():
        out = model(batch, mask)
        alone = [model(a), model(b)]
    torch.testing.assert_close(out.scores[0], alone[0].scores[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out.scores[1, :4], alone[1].scores[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out.magnitudes[1, :4], alone[1].magnitudes[0], rtol=1e-10, atol=1e-12)
    assert model.topk(out, mask)[1].max() < 4                      # top-k never picks a padded snippet


def test_scores_average_the_crops_and_every_block_kind_builds():
    x = torch.randn(2, 6, 3, 12, dtype=torch.float64)
    for kinds in (("glance", "focus", "focus"), ("focus",) * 3, ("glance",) * 3, ("focus", "glance", "glance")):
        model = small(block_kinds=kinds)
        model.eval()
        with torch.no_grad():
            out = model(x)
            per_crop = torch.stack([model(x[:, :, c:c + 1]).scores for c in range(3)]).mean(0)
        assert out.features.shape == (2, 3, 6, 24) and out.scores.shape == (2, 6)
        torch.testing.assert_close(out.scores, per_crop)
    with pytest.raises(ValueError, match="glance' or 'focus"):
        small(block_kinds=("glance", "attend", "focus"))
    with pytest.raises(ValueError, match="one width, depth and block kind per stage"):
        small(depths=(1, 1))


def test_official_keys_map_onto_ours():
    assert official_key("stages.1.0.layers.2.1.rel_pos.weight") == "stages.1.blocks.2.mixer.local.weight"
    assert official_key("stages.0.0.layers.0.2.0.g") == "stages.0.blocks.0.ffn.norm.weight"
    assert official_key("stages.0.1.1.bias") == "stages.0.transition.1.bias"
    assert official_key("to_logits.0.weight") == "head_norm.weight"
    assert official_key("to_mag.bias") == "amplifier.to_magnitude.bias"
    assert official_key("Aggregate.conv_1.0.weight") is None


# ------------------------------------------------------------------ loss
def magnitudes_of(values: list[list[float]]) -> torch.Tensor:
    """(B, C, k=2) L1 magnitudes -> (B, C, k, F=1) features with those L1 norms."""
    return torch.tensor(values, dtype=torch.float64)[..., None]


def test_crop_halves_pair_crop_c_plus_half_with_crop_c_and_videos_pair_videos():
    m = torch.arange(2 * 4 * 1, dtype=torch.float64).view(2, 4, 1)     # m[b, c] = 4 b + c
    x, y = same_class_pairs(m, "crop_halves")                          # rows c * B + b; 8 rows, halves of 4
    assert x[:, 0].tolist() == [2.0, 6.0, 3.0, 7.0] and y[:, 0].tolist() == [0.0, 4.0, 1.0, 5.0]
    x, y = same_class_pairs(m, "videos")
    assert x[:, 0].tolist() == [4.0, 5.0, 6.0, 7.0] and y[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    odd = torch.arange(3, dtype=torch.float64).view(1, 3, 1)           # C * B = 3: the last row is left out
    x, y = same_class_pairs(odd, "crop_halves")
    assert x[:, 0].tolist() == [1.0] and y[:, 0].tolist() == [0.0]


def test_the_mc_loss_is_the_official_contrastive_form():
    """B = 1 video a class, C = 2 crops, k = 2 snippets, F = 1 (the magnitude is |feature|)."""
    nor = magnitudes_of([[[1.0, 2.0], [4.0, 6.0]]])
    abn = magnitudes_of([[[101.0, 2.0], [4.0, 206.0]]])
    loss = MGFNLoss(lambda_mc=1.0, separation_weight=1.0, margin=150.0)
    terms = loss.contrastive_terms(nor, abn)

    def d(u, v):   # F.pairwise_distance: ||u - v + 1e-6||_2
        diff = torch.tensor(u, dtype=torch.float64) - torch.tensor(v, dtype=torch.float64) + 1e-6
        return float(diff.pow(2).sum().sqrt())
    assert terms["separation"].item() == pytest.approx(
        (max(0, 150 - d([101, 2], [1, 2])) ** 2 + max(0, 150 - d([4, 206], [4, 6])) ** 2) / 2, rel=1e-12)
    assert terms["compact_normal"].item() == pytest.approx(d([4, 6], [1, 2]) ** 2, rel=1e-12)
    assert terms["compact_anomalous"].item() == pytest.approx(d([4, 206], [101, 2]) ** 2, rel=1e-12)
    l2 = MGFNLoss(magnitude_norm=2.0).contrastive_terms(torch.cat([nor, nor], -1), torch.cat([abn, abn], -1))
    assert l2["compact_normal"].item() == pytest.approx(2 * d([4, 6], [1, 2]) ** 2, rel=1e-5)   # sqrt(2) |x| each


def test_sparsity_and_smoothness_switches():
    s = torch.tensor([[0.1, 0.3, 0.2], [0.5, 0.5, 0.9]], dtype=torch.float64)      # video 0 normal, 1 anomalous
    assert sparsity_term(s).item() == pytest.approx(float((s ** 2).sum().sqrt()))    # one norm, not a mean
    within = (0.2 ** 2 + 0.1 ** 2) + (0.0 + 0.4 ** 2)
    assert smoothness_term(s).item() == pytest.approx(within)
    across = within + (0.5 - 0.2) ** 2                                               # the boundary difference
    assert smoothness_term(s, across_videos=True).item() == pytest.approx(across)
    feats = torch.ones(2, 1, 1, 1, dtype=torch.float64)
    labels = torch.tensor([0.0, 1.0], dtype=torch.float64)
    top = torch.tensor([[0.3], [0.9]], dtype=torch.float64)
    head = MGFNLoss(lambda_mc=0, sparsity_videos="normal", smoothness_videos="all",
                    smooth_across_videos=False)(feats, top, s, labels)
    assert set(head) == {"classification", "sparsity", "smoothness", "loss"}        # lambda_mc = 0: no MC terms
    assert head["sparsity"].item() == pytest.approx(8e-3 * (0.1 ** 2 + 0.3 ** 2 + 0.2 ** 2) ** 0.5)
    assert head["smoothness"].item() == pytest.approx(8e-4 * within)
    assert head["classification"].item() == pytest.approx(-(math.log(0.7) + math.log(0.9)) / 2)   # labels 0, 1
    before = MGFNLoss(lambda_mc=0)(feats, top, s, labels)    # the default: before PR a6588e1
    assert before["sparsity"].item() == pytest.approx(8e-3 * (0.25 + 0.25 + 0.81) ** 0.5)
    assert before["smoothness"].item() == pytest.approx(8e-4 * (0.0 + 0.4 ** 2))
    with pytest.raises(ValueError, match="sparsity_videos"):
        MGFNLoss(sparsity_videos="all")


def test_one_training_step_lowers_the_loss():
    model = small(exclusion_rate=0.7).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(2)
    x = torch.randn(4, 32, 2, 12)
    x[2:, 10:14] += 2.0
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    from vadbench.models.rtfm.torch_model import gather_snippets

    def loss_value():
        model.eval()
        with torch.no_grad():
            out = model(x)
            idx = model.topk(out)
            return MGFNLoss()(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                              labels)["loss"].item()
    before = loss_value()
    for _ in range(5):
        model.train()
        out = model(x)
        idx = model.topk(out)
        terms = MGFNLoss()(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores, labels)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
    assert loss_value() < before


def test_the_metafile_holds_the_published_numbers():
    """MGFN's I3D numbers as Holmes-VAD's Table 1 quotes them from the paper (vadbench/models/mgfn/metafile.yml)."""
    from vadbench.leaderboard.metafile import load_metafile

    meta = load_metafile()
    ucf = meta.best("mgfn", "default", "ucf_crime", "frame_auc_micro")
    xd = meta.best("mgfn", "default", "xd_violence", "frame_pr_auc_micro")
    assert (ucf.paper, ucf.value) == ("mgfn_aaai23", 86.98) and (xd.paper, xd.value) == ("mgfn_aaai23", 79.19)
    assert meta.papers["mgfn_aaai23"]["model_selection"] == "oracle_best_on_test"
    assert meta.models["mgfn"].ablations["fam=off"] == ["--model.init_args.net.init_args.use_amplifier=false"]

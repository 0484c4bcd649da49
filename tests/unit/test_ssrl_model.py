"""SSRL torch core: shapes, the equations' wiring, ablation switches, parameter counts (Table 6)."""

import pytest
import torch

from vadbench.models.rtfm import RTFMLoss, RTFMModel
from tests.mil_modules import magnitude_module
from vadbench.models.ssrl import SSRL, SSRLModel, mpa_conv_geometry

SCALES = ["patch23", "patch35", "patch47"]


def _inputs(model, b=2, t=6, c=3, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(b, t, c, d, generator=g)
    patches = {s: torch.rand(b, t, r * k, d, generator=g) for s, (r, k) in model.grids.items()}
    return feats, patches


def test_mpa_geometry_paper_and_official():
    assert mpa_conv_geometry(2, 3, "paper") == (2, 1, (1, 2))
    assert mpa_conv_geometry(3, 5, "paper") == (2, 1, (2, 3))
    assert mpa_conv_geometry(4, 7, "paper") == (2, 1, (2, 4))
    assert mpa_conv_geometry(2, 3, "official") == (1, 1, (2, 3))
    assert mpa_conv_geometry(3, 5, "official") == (1, 0, (1, 3))
    assert mpa_conv_geometry(4, 7, "official") == (1, 0, (2, 5))


def test_shapes_and_clip_only_equals_rtfm():
    torch.manual_seed(0)
    rtfm = RTFMModel(16).eval()
    torch.manual_seed(0)
    stage1 = SSRLModel(16, patch_scales=[]).eval()
    feats = torch.rand(2, 5, 3, 16)
    assert torch.equal(rtfm(feats).scores, stage1(feats).scores)
    full = SSRLModel(16, patch_scales=SCALES).eval()
    feats, patches = _inputs(full)
    out = full(feats, None, patches)
    assert out.scores.shape == (2, 6) and out.features.shape == (2, 3, 6, 16) and out.magnitudes.shape == (2, 6)
    assert ((out.scores >= 0) & (out.scores <= 1)).all()


def test_mpa_sum_is_broadcast_added_to_every_crop():
    torch.manual_seed(0)
    m = SSRLModel(16, patch_scales=SCALES).eval()
    feats, patches = _inputs(m)
    agg = m.aggregate(patches)
    assert agg.shape == (2, 6, 16)
    expected = sum(m.mpa[s](m.psr[s](patches[s].reshape(12, -1, 16))).view(2, 6, 16) for s in SCALES)
    torch.testing.assert_close(agg, expected)                       # phi'_t = sum_r MPA_r(PSR_r(chi^r))
    out = m(feats, None, patches)
    ref = RTFMModel.forward(m, feats + agg[:, :, None, :])
    torch.testing.assert_close(out.scores, ref.scores)


def test_patches_are_laid_out_row_major_on_the_grid():
    m = SSRLModel(8, patch_scales=["patch35"], use_psr=False).eval()
    seen = {}
    m.mpa["patch35"].conv[0].register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    patches = torch.arange(15, dtype=torch.float32)[None, None, :, None].expand(1, 1, 15, 8).contiguous()
    m.aggregate({"patch35": patches})
    grid = seen["x"][0, 0]                                          # (3, 5)
    assert grid.shape == (3, 5)
    assert grid[1, 2] == 1 * 5 + 2 and grid[2, 4] == 14


def test_videos_are_independent_in_eval_batch():
    torch.manual_seed(0)
    m = SSRLModel(16, patch_scales=SCALES).eval()
    feats, patches = _inputs(m)
    both = m(feats, None, patches).scores
    one = m(feats[:1], None, {k: v[:1] for k, v in patches.items()}).scores
    torch.testing.assert_close(both[:1], one)


def test_ablation_switches():
    no_psr = SSRLModel(16, patch_scales=SCALES, use_psr=False)
    assert len(no_psr.psr) == 0 and no_psr.shared_psr is None and no_psr.psr_for("patch23") is None
    shared = SSRLModel(16, patch_scales=SCALES, share_psr=True)
    assert len(shared.psr) == 0 and all(shared.psr_for(s) is shared.shared_psr for s in SCALES)
    no_dil = SSRLModel(16, patch_scales=["patch23"], psr_dilated=False)
    assert len(no_dil.psr["patch23"].dilated) == 0 and no_dil.psr["patch23"].non_local is not None
    no_nl = SSRLModel(16, patch_scales=["patch23"], psr_nonlocal=False)
    assert no_nl.psr["patch23"].non_local is None and len(no_nl.psr["patch23"].dilated) == 3
    two = SSRLModel(16, patch_scales=["patch23", "patch47"])
    assert sorted(two.mpa) == ["patch23", "patch47"]
    with pytest.raises(KeyError, match="patch35"):
        SSRLModel(16, patch_scales=["patch35"])(torch.rand(1, 2, 1, 16), None, {"patch23": torch.rand(1, 2, 6, 16)})
    with pytest.raises(ValueError, match="expected 3x5"):
        SSRLModel(16, patch_scales=["patch35"])(torch.rand(1, 2, 1, 16), None, {"patch35": torch.rand(1, 2, 6, 16)})
    with pytest.raises(ValueError, match="patch<rows><cols>"):
        SSRLModel(16, patch_scales=["patch2x3"])


def _params(**kw):
    with torch.device("meta"):
        return sum(p.numel() for p in SSRLModel(2048, **kw).parameters())


def test_parameter_counts_match_the_papers():
    assert _params(patch_scales=[]) == pytest.approx(24.7e6, rel=0.002)           # stage 1 = RTFM (24.7M)
    assert _params(mpa_conv="official") == pytest.approx(192.0e6, rel=0.002)      # official geometry: 192.0M
    assert _params(mpa_conv="paper") == pytest.approx(185.73e6, rel=0.001)        # paper's stride 2
    assert _params(share_psr=True) == pytest.approx(138.5e6, rel=0.002)           # paper: 136M


def test_loss_is_rtfm_eq_7_to_10():
    loss = RTFMLoss()                              # SSRL's loss is RTFM's, at SSRL's values
    assert (loss.margin, loss.lambda_fm, loss.lambda_sparsity, loss.lambda_smooth) == (100.0, 1e-4, 8e-3, 8e-4)
    f_nor = torch.full((1, 1, 3, 4), 1.0)          # ||f|| = 2
    f_abn = torch.full((1, 1, 3, 4), 10.0)         # ||f|| = 20
    assert float(loss.magnitude_term(f_nor, f_abn)) == pytest.approx(100 - 20 + 2)   # eq. (8)
    m = magnitude_module(SSRL, SSRLModel, feature_dim=16)
    assert m.model_id == "ssrl" and m.hparams.net.k == 3 and m.hparams.loss.margin == 100.0


@pytest.mark.parametrize("share_psr", [False, True])
def test_psr_dilated_convolutions_use_rates_1_2_4_over_the_patch_axis(share_psr):
    """SSRL Sec. 3.2: the PSR's three 1-D convolutions run over the patches with dilation d in {1, 2, 4}
    (padding d keeps the P patches). With only the kernel's right tap set, branch d moves a one-hot
    at the last patch p - 1 to patch p - 1 - d: other rates land elsewhere (issue #20)."""
    model = SSRLModel(8, patch_scales=SCALES, share_psr=share_psr)
    for scale, (rows, cols) in model.grids.items():
        p = rows * cols
        x = torch.zeros(1, 8, p)
        x[0, 0, p - 1] = 1.0
        landed = []
        for branch in model.psr_for(scale).dilated:
            conv = branch[0]
            with torch.no_grad():
                conv.weight.zero_()
                conv.bias.zero_()
                conv.weight[0, 0, 2] = 1.0
                out = conv(x)
            assert out.shape == (1, conv.out_channels, p)
            landed.append(int(out[0, 0].nonzero().squeeze()))
        assert landed == [p - 2, p - 3, p - 5], scale

"""SKPS-Net key patch selection (sec. 2.3, eq. 4-6): grid, weights, clamp, exact crops, gradients."""

import pytest
import torch

from vadbench.models.skps_net import SKPSNetModel, crop_patches, select_centres, shift_vectors, shift_weights
from vadbench.models.skps_net.torch_model import centre_range


def test_shift_vectors_span_the_range():
    s = shift_vectors(3, 4)
    assert s.shape == (12, 2)
    assert torch.allclose(s[0], torch.tensor([-1.0, -1.0])) and torch.allclose(s[-1], torch.tensor([1.0, 1.0]))
    assert torch.allclose(s[:4, 0], torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))   # journal eq. (5): uniform
    assert torch.allclose(s[::4, 1], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(shift_vectors(1, 1), torch.zeros(1, 2))


def test_centre_range_and_error():
    assert centre_range(224, 128) == (64.0, 160.0)
    with pytest.raises(ValueError, match="does not fit"):
        centre_range(64, 128)


def test_one_hot_raw_map_selects_that_candidate_point():
    m = torch.zeros(1, 5, 4)
    m[0, 1, 3] = 1.0          # row 1 of 5, column 3 of 4
    c = select_centres(m, (224, 224), 128, "raw")
    # x: l_a + 3/3 * (h_a - l_a) = 160; y: 64 + 1/4 * 96 = 88
    assert torch.allclose(c, torch.tensor([[160.0, 88.0]]))
    assert torch.allclose(select_centres(torch.zeros(1, 5, 4), (224, 224), 128, "raw"), torch.tensor([[112.0, 112.0]]))


def test_clamp_to_range_eq5():
    m = torch.zeros(2, 3, 3)
    m[0, 0, 0] = 50.0         # far beyond the top-left corner
    m[1, 2, 2] = 1.2          # shift (+1, +1)
    m[1, 0, 2] = 1.0          # shift (+1, -1): A = (2.2, 0.2), x beyond h_a, y inside
    c = select_centres(m, (100, 120), 40, "raw")
    lx, hx = centre_range(120, 40)
    ly, hy = centre_range(100, 40)
    assert torch.allclose(c[0], torch.tensor([lx, ly]))
    assert c[1, 0] == hx
    assert torch.isclose(c[1, 1], torch.tensor((ly + hy) / 2 + 0.2 * (hy - ly) / 2))


@pytest.mark.parametrize("weighting", ["sum", "softmax"])
def test_normalised_weightings_sum_to_one_and_stay_in_range(weighting):
    m = torch.randn(4, 7, 7) * 5
    u = shift_weights(m, weighting, temperature=0.5)
    assert torch.allclose(u.sum(dim=1), torch.ones(4)) and bool((u >= 0).all())
    c = select_centres(m, (224, 224), 128, weighting, 0.5)
    assert bool(((c >= 64) & (c <= 160)).all())


def test_unknown_weighting():
    with pytest.raises(ValueError, match="weighting"):
        shift_weights(torch.zeros(1, 2, 2), "max")


def test_exact_crop_for_integer_centres():
    torch.manual_seed(0)
    frames = torch.randn(2, 3, 30, 40)
    centres = torch.tensor([[20.0, 17.0], [4.0, 26.0]])    # (x, y); patch 8 -> x in [4, 36], y in [4, 26]
    patches = crop_patches(frames, centres, 8)
    assert torch.allclose(patches[0], frames[0, :, 13:21, 16:24], atol=1e-5)
    assert torch.allclose(patches[1], frames[1, :, 22:30, 0:8], atol=1e-5)
    # odd patch sizes are exact at half-integer centres
    odd = crop_patches(frames, torch.tensor([[10.5, 9.5], [20.5, 20.5]]), 5)
    assert torch.allclose(odd[0], frames[0, :, 7:12, 8:13], atol=1e-5)


def test_zoomed_crop_samples_the_same_window_on_a_finer_grid():
    frames = torch.arange(100, dtype=torch.float32).view(1, 1, 10, 10)   # value = 10 * row + col (linear)
    centre = torch.tensor([[5.0, 4.0]])                                   # window x in [3, 7), y in [2, 6)
    assert torch.equal(crop_patches(frames, centre, 4, 4), crop_patches(frames, centre, 4))
    zoom = crop_patches(frames, centre, 4, 8)                             # half-pixel steps inside the window
    assert zoom.shape == (1, 1, 8, 8)
    # output pixel (i, j) samples x = 3 + (j + 0.5) / 2, y = 2 + (i + 0.5) / 2 (pixel centres at k + 0.5)
    # -> column 2.75 + j / 2, row 1.75 + i / 2; interior samples are exact on the linear ramp
    assert zoom[0, 0, 2, 3].item() == pytest.approx(10 * 2.75 + 4.25)
    assert zoom[0, 0, 5, 6].item() == pytest.approx(10 * 4.25 + 5.75)


def test_fractional_crop_is_bilinear_eq6():
    frames = torch.arange(100, dtype=torch.float32).view(1, 1, 10, 10)   # value = 10 * row + col
    patch = crop_patches(frames, torch.tensor([[5.25, 4.75]]), 2)
    # pixel (0, 0) samples x = 5.25 - 1 + 0.5 = 4.75 -> column 4.25, row 3.75: linear in both -> 10*3.75 + 4.25
    assert torch.allclose(patch[0, 0], torch.tensor([[41.75, 42.75], [51.75, 52.75]]), atol=1e-4)


def test_gradient_flows_from_patch_to_feature_map():
    torch.manual_seed(0)
    frames = torch.randn(3, 3, 32, 32)
    weight_map = (torch.rand(3, 4, 4) * 0.2).requires_grad_(True)
    for weighting in ("raw", "sum", "softmax"):
        weight_map.grad = None
        centres = select_centres(weight_map, (32, 32), 16, weighting)
        crop_patches(frames, centres, 16).pow(2).sum().backward()
        assert weight_map.grad is not None and float(weight_map.grad.abs().sum()) > 0, weighting
    # no extra parameters in the selection: the selector is functions only


def _tiny_model(**kw):
    from vadbench.models.trx import TRXHeadConfig

    args = dict(backbone="resnet18", selection_layer="layer3", patch_size=16, head=TRXHeadConfig(seq_len=4, proj_dim=16),
                random_map_prob=0.0)
    args.update(kw)
    return SKPSNetModel(**args)


def test_stop_gradient_separates_global_network_from_patch_branch():
    torch.manual_seed(0)
    frames = torch.randn(2, 4, 3, 32, 32)
    for stop in (True, False):
        torch.manual_seed(1)
        model = _tiny_model(stop_gradient=stop, weighting="softmax")
        features = model.embed(frames)
        features[..., model.global_dim:].sum().backward()   # a loss on the local features only
        global_grad = model.global_net.net.layer1[0].conv1.weight.grad
        relation_grad = model.relation.temporal.k1.weight.grad
        assert relation_grad is not None and float(relation_grad.abs().sum()) > 0
        if stop:
            assert global_grad is None or float(global_grad.abs().sum()) == 0
        else:
            assert global_grad is not None and float(global_grad.abs().sum()) > 0


def test_patch_modes_central_random_selected():
    torch.manual_seed(0)
    frames = torch.randn(2, 4, 3, 32, 32)
    central = _tiny_model(patch_mode="central").eval()
    _, c = central.embed_with_centres(frames)
    assert torch.equal(c, torch.full((2, 4, 2), 16.0))
    rand = _tiny_model(patch_mode="random").eval()
    _, r = rand.embed_with_centres(frames)
    assert bool(((r >= 8) & (r <= 24)).all()) and r.unique().numel() > 4
    sel = _tiny_model().eval()
    f, s = sel.embed_with_centres(frames)
    assert f.shape == (2, 4, 1024) and s.shape == (2, 4, 2) and bool(((s >= 8) & (s <= 24)).all())


def test_global_branch_on_a_downscaled_frame_patch_from_the_full_frame():
    torch.manual_seed(0)
    frames = torch.randn(2, 4, 3, 64, 64)
    model = _tiny_model(patch_mode="central", global_input_size=32).eval()
    seen = {}
    for name in ("global", "local"):   # a forward hook that returns None leaves the output alone
        getattr(model, f"{name}_net").register_forward_hook(
            lambda m, args, out, name=name: None if seen.setdefault(name, tuple(args[0].shape)) else None)
    _, centres = model.embed_with_centres(frames)
    assert seen["global"] == (8, 3, 32, 32) and seen["local"] == (8, 3, 16, 16)
    assert torch.equal(centres, torch.full((2, 4, 2), 32.0))      # full-frame coordinates


def test_random_map_trick_only_in_training():
    torch.manual_seed(0)
    frames = torch.randn(3, 4, 3, 32, 32)
    model = _tiny_model(random_map_prob=1.0, weighting="raw")
    model.eval()
    _, a = model.embed_with_centres(frames)
    _, b = model.embed_with_centres(frames)
    assert torch.equal(a, b)                      # evaluation: deterministic
    model.train()
    torch.manual_seed(1)
    _, c = model.embed_with_centres(frames)
    torch.manual_seed(2)
    _, d = model.embed_with_centres(frames)
    assert not torch.equal(c, d)                  # training: random maps drive the selection


def test_without_patch_branch_is_the_trx_baseline():
    model = _tiny_model(use_patch=False)
    assert model.relation is None and model.local_net is None and model.feature_dim == 512
    f, c = model.embed_with_centres(torch.randn(1, 4, 3, 32, 32))
    assert f.shape == (1, 4, 512) and c is None


@pytest.mark.parametrize("random_map", ["values", "point"])
def test_random_map_is_drawn_per_video_not_per_frame(random_map):
    """Journal sec. 3.5: with probability p a training VIDEO's selection is driven by a random map: all T
    frames of a video take the random map, or none does (issue #20). The model's own map here is -1
    everywhere; random maps hold values in [0, 1]."""
    model = _tiny_model(backbone="resnet_tiny", use_relation=False, random_map_prob=0.5, random_map=random_map).train()
    b, t = 64, 4
    torch.manual_seed(0)
    weight_map = model.selection_map(torch.full((b, t, 8, 4, 4), -1.0))       # (B, T, h, w)
    random_frames = (weight_map >= 0).all(dim=(2, 3))                          # (B, T)
    assert bool(((weight_map == -1).all(dim=(2, 3)) | random_frames).all())
    per_video = random_frames.sum(dim=1)
    assert set(per_video.tolist()) == {0, t}                                   # whole videos, both kinds
    torch.manual_seed(0)
    expected = torch.rand(b) < 0.5                                             # one Bernoulli(p) draw per video
    assert torch.equal(per_video == t, expected)

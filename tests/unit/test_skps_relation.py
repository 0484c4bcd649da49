"""SKPS-Net long-short relation (sec. 2.2, eq. 1-3): shapes, masks against hand computations."""

import torch

from vadbench.models.skps_net import LongShortRelation, MotionMapRelation, TemporalMapRelation


def _identity_temporal(t):
    m = TemporalMapRelation(t, kernel_3d=3)
    with torch.no_grad():
        m.k1.weight.copy_(torch.eye(t).view(t, t, 1, 1))
        m.k1.bias.zero_()
        m.k2.weight.zero_()
        m.k2.weight[0, 0, 1, 1, 1] = 1.0
        m.k2.bias.zero_()
    return m


def _difference_motion(c):
    m = MotionMapRelation(c)
    with torch.no_grad():
        m.squeeze.weight.fill_(1.0 / c)   # M = channel mean
        m.squeeze.bias.zero_()
        m.k3.weight.zero_()
        m.k3.weight[0, 0, 1, 1] = 1.0     # K3 = identity
        m.k3.bias.zero_()
    return m


def test_shapes_and_mask_range():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6, 4, 3)
    for module in (TemporalMapRelation(5), MotionMapRelation(6)):
        mask = module.mask(x)
        assert mask.shape == (2, 5, 1, 4, 3) and bool(((mask > 0) & (mask < 1)).all())
        assert module(x).shape == x.shape
    assert LongShortRelation(6, 5)(x).shape == x.shape


def test_temporal_mask_with_identity_kernels_is_sigmoid_of_channel_mean():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 5, 5)
    m = _identity_temporal(4)
    expected = torch.sigmoid(x.mean(dim=2, keepdim=True))
    assert torch.allclose(m.mask(x), expected, atol=1e-6)
    assert torch.allclose(m(x), expected * x, atol=1e-6)


def test_temporal_1x1_conv_mixes_all_frames_eq1():
    x = torch.zeros(1, 4, 2, 3, 3)
    x[0, 3] = 1.0                         # only the last frame is non-zero
    m = _identity_temporal(4)
    with torch.no_grad():
        m.k1.weight.zero_()
        m.k1.weight[0, 3] = 1.0           # output frame 0 reads input frame 3
    mask = m.mask(x)
    assert torch.allclose(mask[0, 0], torch.sigmoid(torch.ones(1, 3, 3)))
    assert torch.allclose(mask[0, 1:], torch.full((3, 1, 3, 3), 0.5))


def test_motion_mask_is_next_minus_current_and_zero_at_last_frame_eq3():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3, 5, 5)
    m = _difference_motion(3)
    mean = x.mean(dim=2, keepdim=True)
    mask = m.mask(x)
    assert torch.allclose(mask[:, :3], torch.sigmoid(mean[:, 1:] - mean[:, :3]), atol=1e-6)
    assert torch.equal(mask[:, 3], torch.full_like(mask[:, 3], 0.5))   # zero difference -> sigmoid(0)
    static = x[:, :1].expand(2, 4, 3, 5, 5)                               # no motion: every mask 0.5
    assert torch.allclose(m.mask(static), torch.full((2, 4, 1, 5, 5), 0.5), atol=1e-6)


def test_long_short_adds_the_two_submodules_and_switches():
    torch.manual_seed(0)
    x = torch.randn(1, 4, 3, 5, 5)
    both = LongShortRelation(3, 4)
    assert torch.allclose(both(x), both.temporal(x) + both.motion(x))
    only_motion = LongShortRelation(3, 4, temporal=False)
    assert only_motion.temporal is None and torch.allclose(only_motion(x), only_motion.motion(x))
    assert torch.equal(LongShortRelation(3, 4, temporal=False, motion=False)(x), x)

"""STA-MIL criss-cross attention against a loop-based reference written from eqs. (1)-(3)."""

from __future__ import annotations

import math

import pytest
import torch

from vadbench.models.sta_mil import CrissCrossAttention, SpatialTemporalAttention


def reference_criss_cross(x: torch.Tensor, cca: CrissCrossAttention) -> torch.Tensor:
    """One pass over a single map x (V, N, C), position by position, as the paper writes it."""
    v, n, c = x.shape
    wq, bq = cca.query.weight[:, :, 0, 0], cca.query.bias  # (D, V), (D,)
    wk, bk = cca.key.weight[:, :, 0, 0], cca.key.bias
    out = torch.zeros_like(x)
    for i in range(n):
        for j in range(c):
            q = wq @ x[:, i, j] + bq
            a = torch.zeros(n, c)  # eq. (1): A^{i,j}, zero off the criss-cross
            cross = torch.zeros(n, c, dtype=torch.bool)
            for m in range(n):
                for nn_ in range(c):
                    if m == i or nn_ == j:
                        k = wk @ x[:, m, nn_] + bk
                        a[m, nn_] = (q @ k) / (q.norm() * k.norm())
                        cross[m, nn_] = True
            e = torch.where(cross, a.exp(), torch.zeros(()))
            m_ij = e / e.sum()  # eq. (2): softmax over the criss-cross of (i, j)
            for ch in range(v):  # eq. (3)
                out[ch, i, j] = (m_ij * x[ch]).sum() + x[ch, i, j]
    return out


@pytest.mark.parametrize("channels", [1, 3])
def test_criss_cross_matches_reference(channels):
    torch.manual_seed(0)
    cca = CrissCrossAttention(in_channels=channels, qk_channels=4)
    x = torch.randn(2, channels, 4, 5)
    with torch.no_grad():
        fast = cca(x)
        ref = torch.stack([reference_criss_cross(xb, cca) for xb in x])
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def test_attention_weights_are_a_distribution_over_the_criss_cross():
    torch.manual_seed(1)
    cca = CrissCrossAttention(in_channels=2, qk_channels=10)
    x = torch.randn(3, 2, 6, 7)
    with torch.no_grad():
        row, col = cca.attention(x)
    assert row.shape == (3, 6, 7, 7) and col.shape == (3, 7, 6, 6)
    total = row.sum(-1) + col.sum(-1).transpose(1, 2)
    torch.testing.assert_close(total, torch.ones(3, 6, 7))
    assert torch.all(torch.diagonal(col, dim1=-2, dim2=-1) == 0)  # own position counted once
    assert (row > 0).all()


def test_padded_clips_are_not_attended_to_and_do_not_change_real_ones():
    torch.manual_seed(2)
    sta = SpatialTemporalAttention(in_channels=1, qk_channels=10, recurrence=2)
    short = torch.randn(1, 1, 4, 6)
    padded = torch.cat([short, torch.randn(1, 1, 3, 6) * 5], dim=2)
    mask = torch.tensor([[True] * 4 + [False] * 3])
    with torch.no_grad():
        alone = sta(short)
        with_pad = sta(padded, mask)
    torch.testing.assert_close(with_pad[:, :, :4], alone, rtol=1e-5, atol=1e-6)


def test_one_pass_connects_the_criss_cross_two_passes_connect_every_pair():
    torch.manual_seed(3)
    n, c = 4, 5
    for recurrence, expect_all in ((1, False), (2, True)):
        sta = SpatialTemporalAttention(in_channels=1, qk_channels=10, recurrence=recurrence)
        x = torch.randn(1, 1, n, c, requires_grad=True)
        sta(x)[0, 0, 1, 2].backward()
        reached = x.grad[0, 0] != 0
        if expect_all:
            assert reached.all()
        else:
            cross = torch.zeros(n, c, dtype=torch.bool)
            cross[1, :] = True
            cross[:, 2] = True
            assert torch.equal(reached, cross)


def test_chunked_checkpointing_is_exact():
    torch.manual_seed(4)
    x = torch.randn(5, 2, 6, 8)
    whole = SpatialTemporalAttention(2, 10, 2, chunk_size=0)
    chunked = SpatialTemporalAttention(2, 10, 2, chunk_size=2)
    chunked.load_state_dict(whole.state_dict())
    grads = []
    for module in (whole, chunked):
        module.train()
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.pow(2).sum().backward()
        grads.append((y.detach(), xi.grad, module.cca.query.weight.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_cost_is_n_c_times_n_plus_c():
    """The attention tensors hold exactly N*C*(N+C) weights per map (paper: O((N x C) x (N + C)))."""
    cca = CrissCrossAttention(1, 10)
    n, c = 8, 12
    with torch.no_grad():
        row, col = cca.attention(torch.randn(1, 1, n, c))
    assert row.numel() + col.numel() == n * c * (n + c)
    assert math.isclose(float(row.sum() + col.sum()), n * c, rel_tol=1e-5)

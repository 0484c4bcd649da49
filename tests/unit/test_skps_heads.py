"""SKPS-Net heads: Hausdorff distance (eq. 9) on hand-computed cases, subspace cross-transformer
(eq. 7-8), loss of journal eq. (12)."""

import math

import pytest
import torch

from vadbench.models.skps_net import SKPSLoss, SKPSOutputs, hausdorff_distance, skps_loss
from vadbench.models.skps_net.torch_model import CrossTransformerHead, SubspaceCrossTransformer
from vadbench.models.trx import TRXHeadConfig

E = torch.eye(3)


def test_hausdorff_hand_computed():
    support = torch.stack([E[0], E[1]])[None]          # frames e1, e2
    query = torch.stack([E[0], E[2]])[None]            # frames e1, e3
    # cos distances: d(e1,e1)=0, others 1. support->query mins (0, 1), query->support mins (0, 1)
    assert torch.allclose(hausdorff_distance(support, query, "mean"), torch.tensor([[1.0]]))
    assert torch.allclose(hausdorff_distance(support, query, "sum"), torch.tensor([[2.0]]))


def test_hausdorff_angles_and_unequal_lengths():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[math.cos(math.pi / 3), math.sin(math.pi / 3)], [0.0, 1.0], [2.0, 0.2]])
    # a -> b: nearest is (2, 0.2): 1 - 2/sqrt(4.04); b -> a: 1 - 0.5, 1 - 0, 1 - 2/sqrt(4.04)
    near = 1 - 2 / math.sqrt(4.04)
    expected = near + (0.5 + 1.0 + near) / 3
    assert torch.allclose(hausdorff_distance(a[None], b[None]), torch.tensor([[expected]]), atol=1e-6)


def test_hausdorff_zero_for_same_set_in_any_order_and_scale_invariant():
    torch.manual_seed(0)
    s = torch.randn(3, 8, 16)
    q = (s[:, torch.randperm(8)] * 3.0)
    d = hausdorff_distance(s, q)
    assert d.shape == (3, 3)
    assert torch.allclose(d.diagonal(), torch.zeros(3), atol=1e-5)
    assert bool((d.fill_diagonal_(1.0) > 0).all())
    with pytest.raises(ValueError):
        hausdorff_distance(s, q, "max")


def test_subspace_cross_transformer_is_sum_of_subspace_heads_eq8():
    torch.manual_seed(0)
    head = SubspaceCrossTransformer(dims=(6, 4), head=TRXHeadConfig(seq_len=4, cardinalities=(2, 3), proj_dim=8,
                                                                    dropout=0.0)).eval()
    s, q = torch.randn(6, 4, 10), torch.randn(4, 4, 10)      # 3-way 2-shot, class-major
    logits = head(s, q, 3)
    g, l = head.heads
    assert torch.allclose(logits, g(s[..., :6], q[..., :6], 3) + l(s[..., 6:], q[..., 6:], 3), atol=1e-5)
    assert isinstance(g, CrossTransformerHead) and g.transformers[0].key.in_features == 12   # 2 * 6
    assert logits.shape == (4, 3) and bool((logits <= 0).all())
    multi = SubspaceCrossTransformer(dims=(6, 4), head=TRXHeadConfig(seq_len=4, cardinalities=(2,), proj_dim=8), heads=2)
    assert len(multi.heads) == 4 and multi.heads[0].transformers[0].proj_dim == 4


def test_loss_eq12_is_mean_of_str_and_the_two_trm_losses():
    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 2])
    out = SKPSOutputs(*(torch.randn(3, 3) for _ in range(4)), eval=torch.zeros(3, 3))
    loss, terms = skps_loss(out, labels, "sum")
    ce = lambda x: torch.nn.functional.cross_entropy(x, labels, reduction="sum")  # noqa: E731
    str_loss = ce(out.cross_transformer) + ce(out.temporal)
    assert torch.allclose(terms["loss_str"], str_loss)
    assert torch.allclose(loss, (str_loss + ce(out.global_trm) + ce(out.local_trm)) / 3)
    plain = SKPSOutputs(out.cross_transformer, None, None, None, out.cross_transformer)
    assert torch.allclose(skps_loss(plain, labels)[0], ce(out.cross_transformer))
    # the part the LightningModule receives: the same numbers, temporal_weight scales the Hausdorff term
    part_loss, part_terms = SKPSLoss(reduction="sum", temporal_weight=0.5)(out, labels)
    half = ce(out.cross_transformer) + 0.5 * ce(out.temporal)
    assert torch.allclose(part_terms["loss_str"], half)
    assert torch.allclose(part_loss, (half + ce(out.global_trm) + ce(out.local_trm)) / 3)


def test_model_outputs_per_switch():
    from vadbench.models.skps_net import SKPSNetModel

    torch.manual_seed(0)
    head = TRXHeadConfig(seq_len=4, proj_dim=16)
    model = SKPSNetModel(backbone="resnet18", selection_layer="layer3", patch_size=16, head=head).eval()
    f = model.embed(torch.randn(5, 4, 3, 32, 32))
    out = model(f[:3][[2, 0, 1]], torch.tensor([2, 0, 1]), f[3:], 3)
    assert out.eval.shape == (2, 3) and out.temporal.shape == (2, 3) and out.global_trm.shape == (2, 3)
    assert torch.equal(out.eval, out.cross_transformer)
    plain = SKPSNetModel(backbone="resnet18", selection_layer="layer3", patch_size=16, head=head,
                         refined_loss=False, extra_trm=False).eval()
    o = plain(plain.embed(torch.randn(4, 4, 3, 32, 32))[:2], torch.tensor([0, 1]), torch.randn(2, 4, 1024), 2)
    assert o.temporal is None and o.global_trm is None and isinstance(plain.final_head, CrossTransformerHead)
    with pytest.raises(ValueError, match="same number of shots"):
        model(f[:3], torch.tensor([0, 0, 1]), f[3:], 2)

"""MSIP: HGC graph construction, MPSR shapes and ablations, budget vs the poster, two-stage freezing."""

import pytest
import torch

from tests.mil_modules import magnitude_module
from vadbench.data.mil.batch import MILBatch
from vadbench.models.msip import MSIP, HierarchicalGraphConv, MSIPModel, cell_overlap, grid_adjacency
from vadbench.models.rtfm import RTFMModel


def msip(**kwargs):
    return magnitude_module(MSIP, MSIPModel, **kwargs)

SCALES = ["patch23", "patch35", "patch47"]
P = {"patch23": 6, "patch35": 15, "patch47": 28}


def test_cell_overlap_is_area_of_fine_cells_inside_coarse_cells():
    o = cell_overlap((4, 7), (2, 3))                                # (6, 28)
    assert o.shape == (6, 28)
    torch.testing.assert_close(o.sum(0), torch.full((28,), 1 / 28))  # each fine cell is split, area kept
    torch.testing.assert_close(o.sum(1), torch.full((6,), 1 / 6))    # each coarse cell is covered
    assert o[0, 0] == pytest.approx(1 / 28) and o[5, 0] == 0         # top-left inside top-left, not bottom-right
    a = grid_adjacency(3, 5)
    torch.testing.assert_close(a, a.T)
    assert a[0, 14] == 0 and a[0, 6] > 0                             # (0,0)-(1,1) neighbours; (0,0)-(2,4) not


def test_hgc_order_and_cross_scale_switch():
    hgc = HierarchicalGraphConv(8, {"patch23": (2, 3), "patch35": (3, 5), "patch47": (4, 7)})
    assert hgc.order == ["patch47", "patch35", "patch23"]             # fine -> coarse
    assert sorted(hgc.cross) == ["patch35_to_patch23", "patch47_to_patch35"]
    rev = HierarchicalGraphConv(8, {"patch23": (2, 3), "patch47": (4, 7)}, direction="coarse_to_fine")
    assert rev.order == ["patch23", "patch47"]
    assert len(HierarchicalGraphConv(8, {"patch23": (2, 3), "patch35": (3, 5)}, cross_scale=False).cross) == 0
    nodes = {s: torch.rand(5, P[s], 8) for s in SCALES}
    out = hgc(nodes)
    assert {s: tuple(v.shape) for s, v in out.items()} == {s: (5, P[s], 8) for s in SCALES}
    # the coarsest scale depends on the finest through the cross-scale edges, and only through them
    nodes2 = dict(nodes, patch47=nodes["patch47"] + 1.0)
    assert not torch.allclose(hgc(nodes2)["patch23"], out["patch23"])
    flat = HierarchicalGraphConv(8, {"patch23": (2, 3), "patch47": (4, 7)}, cross_scale=False)
    torch.testing.assert_close(flat(nodes2)["patch23"], flat(nodes)["patch23"])


def test_msip_shapes_ablations_and_stage_one_equals_rtfm():
    torch.manual_seed(0)
    rtfm = RTFMModel(16).eval()
    torch.manual_seed(0)
    stage1 = MSIPModel(16, patch_scales=[]).eval()
    feats = torch.rand(2, 5, 3, 16)
    assert torch.equal(rtfm(feats).scores, stage1(feats).scores)
    patches = {s: torch.rand(2, 5, P[s], 16) for s in SCALES}
    for kw in ({}, {"use_hgc": False}, {"hgc_cross_scale": False}, {"use_relation": False},
               {"hgc_intra_graph": "spatial"}, {"patch_scales": ["patch35"]}):
        out = MSIPModel(16, **kw).eval()(feats, None, patches)
        assert out.scores.shape == (2, 5) and out.features.shape == (2, 3, 5, 16)
    assert MSIPModel(16, use_hgc=False).mpsr.hgc is None
    assert msip(feature_dim=16).model_id == "msip"


def test_budget_near_the_poster():
    with torch.device("meta"):
        params = sum(p.numel() for p in MSIPModel(2048).parameters())
    assert params == pytest.approx(75.2e6, rel=0.02)                   # poster: 75.2M
    from vadbench.commands.complexity import count_flops

    module = msip(feature_dim=2048)
    macs = count_flops(module, 32, 10) / 2
    assert macs == pytest.approx(17.0e9, rel=0.05)                     # poster: 17.0G (32 snippets, 10 crops)


def test_stage_two_freezes_ctr_and_classifier(tmp_path):
    torch.manual_seed(0)
    stage1 = msip(feature_dim=16, patch_scales=[])
    path = tmp_path / "s1.ckpt"
    torch.save({"state_dict": stage1.state_dict()}, path)
    stage2 = msip(feature_dim=16, stage_checkpoint=str(path))
    stage2.setup("fit")
    assert {n.split(".")[1] for n, p in stage2.named_parameters() if p.requires_grad} == {"mpsr"}
    before = {k: v.clone() for k, v in stage2.state_dict().items()}
    stage2.train()
    opt = stage2.configure_optimizers()
    for i in range(2):
        b = MILBatch(torch.rand(4, 8, 2, 16), torch.tensor([0.0, 0, 1, 1]), torch.ones(4, 8, dtype=torch.bool),
                     torch.arange(4), patches={s: torch.rand(4, 8, P[s], 16) for s in SCALES})
        loss = stage2.training_step(b, i)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = stage2.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in stage1.state_dict())
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("model.mpsr."))

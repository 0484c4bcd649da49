"""BiMACL's wiring: the CTRX contrast selection against a loop transcription of the official `DistanceLoss`
(with tied counts, which the float golden fixture cannot produce), the test-time embedding cache, the official
recipe's frozen CTRX projection, the loss terms, bad inputs and the packaged configs. The equations themselves:
tests/golden/test_bimacl_golden.py."""

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.fewshot_cache import check_projected_head_sorts_support, metrics_with_and_without_cache
from vadbench.models.bimacl import BiMACL, BiMACLLoss, BiMACLModel, BiMACLOutput, TupleContrast
from vadbench.models.trx import TRXHeadConfig


def contrast_loop(support: torch.Tensor, query: torch.Tensor, way: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The official `DistanceLoss.forward` after the tuple embeddings, transcribed as loops (YWCandGHY/BiMACL
    0e2760b model.py): support (S, N, P) class-major, query (Q, N, P) -> (dist_max, dist_max / (contrast + max))."""
    q_n, n, p = query.shape
    shots = support.shape[0] // way
    qe = query.reshape(-1, p)
    support_all = support.reshape(way, shots * n, p)
    dist_max = torch.zeros(q_n, way, dtype=query.dtype)
    pos_all, ave_all = [], []
    for c in range(way):
        distmat = torch.cdist(qe, support_all[c])                              # (Q N, K N)
        ave_all.append(distmat.view(-1, n, shots).topk(dim=1, largest=True, k=1)[0].mean(dim=1).mean(dim=1))
        dist_max[:, c] = distmat.max(dim=1)[0].reshape(q_n, n).mean(dim=1)
        pos_all.append(distmat.argmax(dim=1))
    contrast = torch.zeros(q_n, way, dtype=query.dtype)
    for c in range(way):
        far = support_all[c][pos_all[c]]
        others = [o for o in range(way) if o != c]
        chosen = []
        for o in others:
            d = torch.cdist(far, support_all[o])                               # (Q N, K N)
            record = np.zeros(shots * n)
            for s1 in range(d.shape[0]):
                for s2 in range(d.shape[1]):
                    if float(d[s1, s2]) > float(ave_all[c][s1]):
                        record[s2] += 1
            nonzero = np.count_nonzero(record)
            threshold = record.sum() / nonzero if nonzero else float("nan")
            chosen.append(support_all[o][[i for i in range(shots * n) if record[i] < threshold]])
        diff = torch.cat(chosen)
        if diff.shape[0] == 0:   # official: NaN; ours: contrast 0 (README "Divergences")
            continue
        contrast[:, c] = torch.cdist(qe, diff).mean(dim=1).reshape(q_n, n).mean(dim=1) / (way - 1)
    return dist_max, dist_max / (contrast + dist_max)


@pytest.mark.parametrize("seed", range(6))
def test_contrast_selection_equals_the_official_loops_with_ties(seed):
    """Integer embeddings (distances exact, many counts equal to their mean), 3-way and 5-way, 1 and 2 shots."""
    g = torch.Generator().manual_seed(seed)
    way, shots, n = (3, 1, 3) if seed % 2 else (5, 2, 3)
    support = torch.randint(0, 3, (way * shots, n, 4), generator=g).double()
    query = torch.randint(0, 3, (2 * way, n, 4), generator=g).double()
    head = TupleContrast(dim=2, seq_len=3, cardinality=2, proj_dim=4)
    maximum, contrast = head(support, query, way)
    ref_max, ref_contrast = contrast_loop(support, query, way)
    torch.testing.assert_close(maximum, ref_max, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(contrast, ref_contrast, rtol=1e-12, atol=1e-12)


def _model(cache: bool) -> BiMACL:
    torch.manual_seed(0)
    net = BiMACLModel(backbone="resnet_tiny", head=TRXHeadConfig(seq_len=4, cardinalities=(2, 3), proj_dim=16))
    net.backbone = nn.Sequential(nn.Conv2d(3, 128, kernel_size=7, stride=7), nn.BatchNorm2d(128))  # 28 px -> 4x4 maps
    with torch.no_grad():
        net.motion.gamma.fill_(0.5)   # switch the motion attention on (it starts at 0)
    return BiMACL(net=net, cache_eval_embeddings=cache, embed_chunk=5)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)


def test_projected_head_equals_head_with_shuffled_support():
    """`forward_projected` sorts the support class-major like `forward` (a mix-up changes the logits)."""
    check_projected_head_sorts_support(_model(True).net.eval(), torch.randn(6, 4, 128, 3, 3), torch.randn(5, 4, 128, 3, 3))


def test_unequal_shots_and_wrong_shapes_are_refused():
    model = _model(False).net.eval()
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.randn(3, 4, 128, 3, 3), torch.tensor([0, 0, 1]), torch.randn(2, 4, 128, 3, 3), 2)
    with pytest.raises(ValueError, match="feature maps"):
        model(torch.randn(2, 4, 128), torch.tensor([0, 1]), torch.randn(2, 4, 128), 2)
    with pytest.raises(ValueError, match="frames per video"):
        model(torch.randn(2, 5, 128, 3, 3), torch.tensor([0, 1]), torch.randn(2, 5, 128, 3, 3), 2)
    with pytest.raises(ValueError, match="at least 2x2"):
        model(torch.randn(2, 4, 128, 1, 1), torch.tensor([0, 1]), torch.randn(2, 4, 128, 1, 1), 2)
    with pytest.raises(ValueError, match="way >= 2"):
        model(torch.randn(2, 4, 128, 3, 3), torch.tensor([0, 0]), torch.randn(2, 4, 128, 3, 3), 1)
    with pytest.raises(ValueError, match="contrast logits"):
        BiMACLLoss()(BiMACLOutput(torch.zeros(2, 2), torch.zeros(2, 2)), torch.tensor([0, 1]))


def test_official_recipe_freezes_the_contrast_projection_but_not_its_gradient_path():
    """`train_contrast_projection: false` (official: `DistanceLoss` is not registered with the optimizer): the
    projection gets no update, the motion attention below it still gets the contrast loss's gradient."""
    torch.manual_seed(0)
    net = BiMACLModel(backbone="resnet_tiny", head=TRXHeadConfig(seq_len=4, cardinalities=(2,), proj_dim=16),
                      train_contrast_projection=False)
    module = BiMACL(net=net)
    optimizer = module.configure_optimizers()
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in in_optimizer for p in net.contrast.parameters())
    assert all(id(p) in in_optimizer for p in net.motion.parameters())
    with torch.no_grad():
        net.motion.gamma.fill_(0.5)
    support, query = torch.randn(6, 4, 128, 3, 3), torch.randn(3, 4, 128, 3, 3)
    out = net(support, torch.tensor([0, 1, 2, 0, 1, 2]), query, 3)
    _, terms = BiMACLLoss()(BiMACLOutput(out.frame_logits.detach(), out.max_distance, out.contrast_logits),
                            torch.tensor([0, 1, 2]))
    terms["loss_contrast"].backward()
    assert net.motion.reduce.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.contrast.parameters())


def test_loss_terms_and_prediction_weights():
    out = BiMACLOutput(frame_logits=torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
                       max_distance=torch.tensor([[0.5, 3.0], [1.0, 0.0]]),
                       contrast_logits=torch.tensor([[0.2, 0.9], [0.7, 0.4]]))
    labels = torch.tensor([0, 1])
    loss, terms = BiMACLLoss(contrast_weight=0.05)(out, labels)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(terms["loss_frame"], ce(out.frame_logits, labels, reduction="sum"))
    torch.testing.assert_close(terms["loss_contrast"], ce(out.contrast_logits, labels, reduction="sum"))
    torch.testing.assert_close(loss, terms["loss_frame"] + 0.05 * terms["loss_contrast"])
    net = _model(False).net
    torch.testing.assert_close(net.logits(out), out.frame_logits + 0.05 * out.max_distance)


@pytest.mark.parametrize("name", ["bimacl/hmdb51_5w5s.yaml", "bimacl/kinetics100_5w1s.yaml",
                                  "bimacl/ucf_crime_v2_5w10s.yaml"])
def test_packaged_configs_carry_the_official_recipe(name):
    """The real-data configs resolve to the official code's settings (run_model.py defaults, model.py)."""
    from tests.integration.test_config_snapshot_fewshot import print_config_of

    cfg = print_config_of(["--config", name])
    model = cfg["model"]["init_args"]
    net = model["net"]["init_args"]
    assert net["backbone"] == "resnet50" and net["backbone_weights"] == "imagenet"
    assert net["head"]["cardinalities"] == [2, 3] and net["head"]["proj_dim"] == 1152
    assert (net["max_logit_weight"], net["motion_dropout"], net["contrast_dropout"]) == (0.05, 0.1, 0.1)
    assert (net["train_contrast_projection"], net["backbone_passes"], net["backbone_input"]) == (False, "separate",
                                                                                                 "imagenet")
    assert model["loss"]["init_args"] == {"contrast_weight": 0.05, "reduction": "sum"}
    assert model["optimizer"]["class_path"] == "torch.optim.SGD" and model["optimizer"]["init_args"]["lr"] == 2e-4
    assert cfg["trainer"]["accumulate_grad_batches"] == 16
    assert cfg["data"]["init_args"]["train_query"] == 2

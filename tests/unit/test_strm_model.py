"""STRM's wiring: the test-time embedding cache holds the head's per-video work (PLE, QC tuple embeddings,
FLE, TRX keys/values) and evaluation equals evaluation that recomputes every episode; the official recipe's
frozen QC projection; the loss terms; bad inputs. The equations themselves: tests/golden/test_strm_golden.py."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_projected_head_sorts_support, metrics_with_and_without_cache
from vadbench.models.strm import STRM, STRMLoss, STRMModel, STRMOutput
from vadbench.models.trx import TRXHeadConfig


def _model(cache: bool) -> STRM:
    torch.manual_seed(0)
    net = STRMModel(backbone="resnet_tiny", head=TRXHeadConfig(seq_len=4, cardinalities=(2, 3), proj_dim=16),
                    patch_grid=2)
    with torch.no_grad():
        net.patch_enrichment.gamma.fill_(0.5)   # switch the patch attention on (it starts at 0)
    return STRM(net=net, cache_eval_embeddings=cache, embed_chunk=5)


def test_projected_head_equals_head_with_shuffled_support():
    """`forward_projected` sorts the support class-major like `forward` (a mix-up changes the logits)."""
    check_projected_head_sorts_support(_model(True).net.eval(), torch.randn(6, 4, 4, 128), torch.randn(5, 4, 4, 128))


def test_unequal_shots_and_wrong_shapes_are_refused():
    model = _model(False).net.eval()
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.randn(3, 4, 4, 128), torch.tensor([0, 0, 1]), torch.randn(2, 4, 4, 128), 2)
    with pytest.raises(ValueError, match="patch tokens"):
        model(torch.randn(2, 4, 128), torch.tensor([0, 1]), torch.randn(2, 4, 128), 2)
    with pytest.raises(ValueError, match="frames per video"):
        model(torch.randn(2, 5, 4, 128), torch.tensor([0, 1]), torch.randn(2, 5, 4, 128), 2)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)


def test_official_recipe_freezes_the_qc_projection_but_not_its_gradient_path():
    """`train_qc_projection: false` (official: the QC modules are not registered with the optimizer): the
    projection gets no update, the PLE below it still gets the QC loss's gradient."""
    torch.manual_seed(0)
    net = STRMModel(backbone="resnet_tiny", head=TRXHeadConfig(seq_len=4, cardinalities=(2,), proj_dim=16),
                    patch_grid=2, train_qc_projection=False)
    module = STRM(net=net)
    optimizer = module.configure_optimizers()
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in in_optimizer for p in net.query_class.parameters())
    assert all(id(p) in in_optimizer for p in net.patch_enrichment.parameters())
    support, query = torch.randn(4, 4, 4, 128), torch.randn(2, 4, 4, 128)
    out = net(support, torch.tensor([0, 1, 0, 1]), query, 2)
    _, terms = STRMLoss()(STRMOutput(out.frame_logits.detach(), out.patch_logits), torch.tensor([0, 1]))
    terms["loss_qc"].backward()
    assert net.patch_enrichment.mlp[0].weight.grad.abs().sum() > 0   # (gamma = 0 at init: no attention gradient yet)
    assert all(p.grad is None for p in net.query_class.parameters())


def test_loss_terms_and_prediction_weights():
    out = STRMOutput(frame_logits=torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
                     patch_logits=torch.tensor([[0.0, 3.0], [1.0, 0.0]]))
    labels = torch.tensor([0, 1])
    loss, terms = STRMLoss(qc_weight=0.1)(out, labels)
    ce = torch.nn.functional.cross_entropy
    torch.testing.assert_close(terms["loss_frame"], ce(out.frame_logits, labels, reduction="sum"))
    torch.testing.assert_close(terms["loss_qc"], ce(out.patch_logits, labels, reduction="sum"))
    torch.testing.assert_close(loss, terms["loss_frame"] + 0.1 * terms["loss_qc"])
    net = _model(False).net
    torch.testing.assert_close(net.logits(out), out.frame_logits + 0.1 * out.patch_logits)
    with pytest.raises(ValueError, match="reduction"):
        STRMLoss(reduction="max")


@pytest.mark.parametrize("name", ["strm/hmdb51_5w5s.yaml", "strm/kinetics100_5w1s.yaml", "strm/ucf_crime_v2_5w10s.yaml"])
def test_packaged_configs_carry_the_official_recipe(name):
    """The real-data configs resolve to the official code's settings (scripts/run_strm_{hmdb,kin}.sh, run.py)."""
    from tests.integration.test_config_snapshot_fewshot import print_config_of

    cfg = print_config_of(["--config", name])
    model = cfg["model"]["init_args"]
    net = model["net"]["init_args"]
    assert net["backbone"] == "resnet50" and net["backbone_weights"] == "imagenet"
    assert net["head"]["cardinalities"] == [2] and net["head"]["proj_dim"] == 1152
    assert (net["patch_grid"], net["qc_logit_weight"], net["qc_dropout"]) == (4, 0.1, 0.1)
    assert (net["train_qc_projection"], net["backbone_passes"], net["backbone_input"]) == (False, "separate", "unit")
    assert model["loss"]["init_args"] == {"qc_weight": 0.1, "reduction": "sum"}
    assert model["optimizer"]["class_path"] == "torch.optim.SGD" and model["optimizer"]["init_args"]["lr"] == 1e-4
    assert cfg["trainer"]["accumulate_grad_batches"] == 16
    assert cfg["data"]["init_args"]["train_query"] == (4 if name.startswith("strm/hmdb51") else 5)

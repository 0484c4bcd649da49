"""MGFN in the official recipe against the official code (tests/golden/data, section "MGFN" of its README).

The formula weights (seed `golden-mgfn-v1`) go through the same key map `vadbench test --ckpt_path`
uses for the authors' checkpoints (`vadbench/models/mgfn/official_checkpoint.py`). Our `MGFNModel`
(exclusion off, as the fixture's dropout p = 0) and `MGFNLoss` (official switches) in float64 must
reproduce the official eval scores, magnitudes, top-k, test path, every loss term, the gradients of
one training step and the BatchNorm statistics after it, to 1e-9 relative; each loss term of the
official code before its merged pull request a6588e1 is reproduced by its switches.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import (check_topk_forward, clip_fixture, magnitude_mil_eval, magnitude_mil_train_step,
                                   rel_err)
from vadbench.models.mgfn import MGFN, MGFNLoss, MGFNModel
from vadbench.models.mgfn.official_checkpoint import official_key
from vadbench.models.rtfm.torch_model import gather_snippets

TOL = 1e-9
SEED = "golden-mgfn-v1"
BEFORE_PR = dict(sparsity_videos="anomalous", smoothness_videos="anomalous", smooth_across_videos=True)
HEAD = dict(sparsity_videos="normal", smoothness_videos="all", smooth_across_videos=False)   # after PR a6588e1


@pytest.fixture(scope="module")
def golden():
    return clip_fixture("mgfn_official_forward", "mgfn_official_train_step", "mgfn_official", seed=SEED)


def build(golden, **kwargs) -> MGFNModel:
    model = MGFNModel(**{"exclusion_rate": 0.0, **kwargs}).double()
    model.load_state_dict(MGFN.convert_official_state_dict(golden["state"]), strict=True)
    return model


def test_every_official_key_has_a_counterpart_of_its_size(golden):
    model = MGFNModel()
    ours = model.state_dict()
    mapped = {official_key(k): v for k, v in golden["state"].items()}
    assert set(mapped) == set(ours)
    assert all(mapped[k].numel() == ours[k].numel() for k in ours)
    assert sum(p.numel() for p in model.parameters()) == 28_652_773


def test_eval_forward_matches_official(golden):
    model = build(golden)
    fwd = golden["fwd"]
    out, idx, test = magnitude_mil_eval(model, golden["batch"], golden["test"])
    check_topk_forward(out, idx, fwd, "eval", TOL)                      # scores, magnitudes, top-k, top-k means
    l1 = gather_snippets(out.features, idx).norm(p=1, dim=-1)                 # (2B, C, k): inside the MC loss
    assert rel_err(l1[:2], fwd["eval_topk_l1_normal_f64"]) < TOL
    assert rel_err(l1[2:], fwd["eval_topk_l1_abnormal_f64"]) < TOL
    assert rel_err(test.scores[0], fwd["test_scores_f64"]) < TOL
    assert rel_err(test.magnitudes[0], fwd["test_magnitudes_f64"]) < TOL


@pytest.fixture(scope="module")
def official_step(golden):
    model = build(golden)
    out, idx, terms = magnitude_mil_train_step(model, golden["batch"], MGFNLoss(**HEAD))
    return model, out, idx, terms


def expected_terms(step, suffix="f64"):
    """The official values of our terms (the MC terms weighted as mgfn_loss weights them)."""
    return {"classification": step[f"loss_cls_{suffix}"],
            "mc_separation": 1e-3 * 1e-3 * step[f"loss_con_{suffix}"],
            "mc_normal": 1e-3 * step[f"loss_con_n_{suffix}"],
            "mc_anomalous": 1e-3 * step[f"loss_con_a_{suffix}"],
            "sparsity": step[f"loss_sparse_{suffix}"], "smoothness": step[f"loss_smooth_{suffix}"],
            "loss": step[f"loss_total_{suffix}"]}


def check_terms(terms, step, suffix="f64"):
    for name, value in expected_terms(step, suffix).items():
        assert rel_err(terms[name], value) < TOL, name


def test_train_step_loss_terms_and_gradients_match_official(golden, official_step):
    model, out, idx, terms = official_step
    step, meta = golden["step"], golden["meta"]
    check_topk_forward(out, idx, step, "train", TOL)
    check_terms(terms, step)
    assert rel_err(terms["mc_separation"] + terms["mc_normal"] + terms["mc_anomalous"] + terms["classification"],
                   step["loss_mgfn_f64"]) < TOL
    params = dict(model.named_parameters())
    assert len(meta["param_names"]) == len(params)
    for i, name in enumerate(meta["param_names"]):
        assert rel_err(params[official_key(name)].grad.norm(), step["grad_norms_f64"][i]) < TOL, name
    for name in meta["grad_full"]:
        grad = params[official_key(name)].grad
        assert rel_err(grad, step["grad_" + name.replace(".", "_") + "_f64"].reshape(grad.shape)) < TOL, name
    buffers = dict(model.named_buffers())
    for name in meta["running_after_step"]:
        assert rel_err(buffers[official_key(name)], step["after_" + name.replace(".", "_") + "_f64"]) < TOL, name


def test_the_default_loss_is_the_one_before_the_merged_pull_request(golden, official_step):
    """Sparsity on the anomalous scores and RTFM's flattened smoothness: the authors' train.py before
    a6588e1 (April 2023, after publication), which produced the published numbers: the default."""
    _, out, idx, _ = official_step
    assert {k: getattr(MGFNLoss(), k) for k in BEFORE_PR} == BEFORE_PR
    with torch.no_grad():
        terms = MGFNLoss()(gather_snippets(out.features, idx), gather_snippets(out.scores, idx),
                                      out.scores, torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=out.scores.dtype))
    check_terms(terms, golden["step"], "f64_before_a6588e1")


SWITCHES = [
    ({"same_class_pairs": "videos"}, "mc_normal"),
    ({"same_class_pairs": "videos"}, "mc_anomalous"),
    ({"magnitude_norm": 2.0}, "mc_separation"),
    ({"margin": 100.0}, "mc_separation"),
    ({"separation_weight": 1.0}, "mc_separation"),
    ({"sparsity_videos": "anomalous"}, "sparsity"),
    ({"smoothness_videos": "anomalous"}, "smoothness"),
    ({"smooth_across_videos": True}, "smoothness"),
    ({"lambda_mc": 2e-3}, "mc_normal"),
]


@pytest.mark.parametrize("switch, term", SWITCHES)
def test_each_non_official_switch_changes_its_term(golden, official_step, switch, term):
    _, out, idx, _ = official_step
    with torch.no_grad():
        terms = MGFNLoss(**{**HEAD, **switch})(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                                   torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=out.scores.dtype))
    assert rel_err(terms[term], expected_terms(golden["step"])[term]) > 1e-4


@pytest.mark.parametrize("term", ["classification", "mc_separation", "mc_normal", "mc_anomalous", "sparsity",
                                  "smoothness"])
def test_the_golden_check_fails_on_an_injected_change_of_each_term(golden, official_step, term):
    """A relative change of 1e-6 in any one term makes `check_terms` (the comparison above) fail."""
    _, _, _, terms = official_step
    changed = {k: v.detach().clone() for k, v in terms.items()}
    changed[term] = changed[term] * (1 + 1e-6)
    changed["loss"] = sum(v for k, v in changed.items() if k != "loss")
    with pytest.raises(AssertionError):
        check_terms(changed, golden["step"])


def test_float32_forward_matches_the_official_float32_run(golden):
    model = build(golden).float()
    model.eval()
    fwd = golden["fwd"]
    with torch.no_grad():
        out = model(golden["batch"].float())
    np.testing.assert_allclose(out.scores.numpy(), fwd["eval_scores_f32"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(out.magnitudes.numpy(), fwd["eval_magnitudes_f32"], rtol=0, atol=5e-5)


@pytest.mark.parametrize("name", ["mgfn/synthetic.yaml", "mgfn/ucf_crime.yaml", "mgfn/xd_violence.yaml"])
def test_every_experiment_defaults_to_the_loss_behind_the_published_numbers(name):
    """The named experiments compose the loss before PR a6588e1 (the published numbers' code); HEAD's loss
    is recipe/mgfn_head_98e9389.yaml, one --config away."""
    from vadbench.paths import load_config

    loss = load_config(name)["model"]["init_args"]["loss"]["init_args"]
    assert {k: loss[k] for k in BEFORE_PR} == BEFORE_PR, name
    head = load_config(name, "recipe/mgfn_head_98e9389.yaml")["model"]["init_args"]["loss"]["init_args"]
    assert {k: head[k] for k in HEAD} == HEAD, name

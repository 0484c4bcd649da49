"""RTFM in the official recipe against the official code (tests/golden/data, README there).

Our `RTFMModel` (attention_norm=count, dropout p=0 as in the fixture) and `RTFMLoss` (squared
magnitude, top-k-mean BCE, one-norm sparsity, flattened smoothness) in float64 must reproduce the
official eval scores, magnitudes, top-k, test path, every loss term and the gradients to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import (check_topk_forward, clip_fixture, load_official, magnitude_mil_eval,
                                   magnitude_mil_train_step, rel_err, rtfm_key_map)
from vadbench.models.rtfm.loss import RTFMLoss
from vadbench.models.rtfm.torch_model import RTFMModel, gather_snippets

TOL = 1e-9
OFFICIAL_LOSS = dict(magnitude_loss="squared", classification="topk_mean", sparsity="l2", smooth_across_videos=True)
TERMS = {"classification": "bce", "magnitude": "magnitude", "sparsity": "sparsity", "smoothness": "smooth",
         "loss": "total"}


@pytest.fixture(scope="module")
def golden():
    return clip_fixture("rtfm_official_forward", "rtfm_official_loss_grad", "rtfm_official")


def build(golden, **kwargs) -> tuple[RTFMModel, dict[str, str]]:
    model = RTFMModel(**{"dropout": 0.0, "exclusion_rate": 0.0, "attention_norm": "count", **kwargs})
    names = load_official(model, golden["state"], rtfm_key_map())
    return model, names


def test_eval_forward_matches_official(golden):
    model, _ = build(golden)
    fwd = golden["fwd"]
    out, idx, test = magnitude_mil_eval(model, golden["batch"], golden["test"])
    check_topk_forward(out, idx, fwd, "eval", TOL)                      # scores, magnitudes, top-k, top-k means
    meanfeat_norm = gather_snippets(out.features, idx).mean(2).norm(dim=-1)     # (2B, C): inside the FM loss
    assert rel_err(meanfeat_norm[:2], fwd["eval_topk_meanfeat_norm_normal_f64"]) < TOL
    assert rel_err(meanfeat_norm[2:], fwd["eval_topk_meanfeat_norm_abnormal_f64"]) < TOL
    assert rel_err(test.scores[0], fwd["test_scores_f64"]) < TOL
    assert rel_err(test.magnitudes[0], fwd["test_magnitudes_f64"]) < TOL


def test_softmax_attention_is_not_the_official_forward(golden):
    """The paper's softmax (our default) gives other scores: the fixture can tell the two apart."""
    model, _ = build(golden, attention_norm="softmax")
    model.eval()
    with torch.no_grad():
        out = model(golden["batch"])
    assert rel_err(out.scores, golden["fwd"]["eval_scores_f64"]) > 1e-4


@pytest.fixture(scope="module")
def official_step(golden):
    model, names = build(golden)
    out, idx, terms = magnitude_mil_train_step(model, golden["batch"], RTFMLoss(**OFFICIAL_LOSS))
    return model, names, out, idx, terms


def test_train_step_loss_terms_and_gradients_match_official(golden, official_step):
    model, names, out, idx, terms = official_step
    step, meta = golden["step"], golden["meta"]
    check_topk_forward(out, idx, step, "train", TOL)
    for ours, official in TERMS.items():
        assert rel_err(terms[ours], step[f"loss_{official}_f64"]) < TOL, ours
    params = dict(model.named_parameters())
    for i, name in enumerate(meta["param_names"]):
        if name == "Aggregate.non_local.W.0.bias":   # zero up to rounding (precedes a train-mode BatchNorm)
            continue
        assert rel_err(params[names[name]].grad.norm(), step["grad_norms_f64"][i]) < TOL, name
    for name in meta["grad_full"]:
        assert rel_err(params[names[name]].grad, step["grad_" + name.replace(".", "_") + "_f64"]) < TOL, name


@pytest.mark.parametrize("switch, term", [
    ({"sparsity": "l2_per_video"}, "sparsity"),        # per-video norms averaged: sqrt(B) smaller
    ({"sparsity": "l1"}, "sparsity"),
    ({"smooth_across_videos": False}, "smoothness"),
    ({"magnitude_loss": "hinge"}, "magnitude"),
    ({"classification": "per_snippet"}, "classification"),
    ({"margin": 50.0}, "magnitude"),
])
def test_each_non_official_switch_changes_its_term(golden, official_step, switch, term):
    """Each loss switch away from the official value moves its term far outside the tolerance."""
    _, _, out, idx, _ = official_step
    loss_fn = RTFMLoss(**{**OFFICIAL_LOSS, **switch})
    with torch.no_grad():
        terms = loss_fn(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                        torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=out.scores.dtype))
    official = golden["step"][f"loss_{TERMS[term]}_f64"]
    assert rel_err(terms[term], official) > 1e-3


def test_float32_forward_matches_the_official_float32_run(golden):
    """In float32 (how the suite trains) the forward agrees with the official float32 run within a
    few times the official code's own float32-vs-float64 gap."""
    model, _ = build(golden)
    model.float().eval()
    fwd = golden["fwd"]
    with torch.no_grad():
        out = model(golden["batch"].float())
    np.testing.assert_allclose(out.scores.numpy(), fwd["eval_scores_f32"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.magnitudes.numpy(), fwd["eval_magnitudes_f32"], rtol=0, atol=2e-4)
    idx = model.topk(out)
    np.testing.assert_array_equal(idx[2:].numpy(), fwd["eval_topk_abnormal_f32"])

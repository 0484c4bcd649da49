"""BN-WVAD in the official recipe against the official code (cool-xuan/BN-WVAD 4fa3a5d;
tests/golden/data/README.md, section BN-WVAD).

Our `BNWVADModel` and `BNWVADLoss` in float64 must reproduce the official eval scores (DFM x head
score) and their parts, the test path of two videos (5 crops averaged), and one training step: the
BatchNorm running statistics after it, the sample-batch selection, the normal and MPP loss terms and
the gradients (before the official gradient clipping), at the official ratios and at ratio_batch 0.2,
where the sample-level picks add to the batch-level ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.crop_models import check_full_gradients, check_gradients, check_test_path
from tests.golden.official import feature_file, load, load_official, official_state, rel_err, rename
from vadbench.models.bn_wvad import BNWVADLoss, BNWVADModel, official_key_map

TOL = 1e-9
SEED = "golden-bnwvad-v1"


@pytest.fixture(scope="module")
def golden():
    arrays, meta = load("bn_wvad_official_golden")
    keys = meta["normal_video_keys"] + meta["abnormal_video_keys"]
    videos = {k: feature_file(k, meta["T"], meta["crops"], meta["feature_dim"]) for k in keys}
    one_crop = np.stack([videos[k][:, [c]] for k, c in zip(keys, meta["train_crop_pick"])])      # (4, T, 1, D)
    tests = {k.rsplit("/", 1)[1]: torch.from_numpy(feature_file(k, t, meta["crops"], meta["feature_dim"]))[None].double()
             for k, t in meta["test_videos"].items()}
    return {"a": arrays, "meta": meta, "one_crop": torch.from_numpy(one_crop).double(), "tests": tests,
            "state": official_state("bn_wvad_official", seed=SEED)}


def build(golden, **kwargs) -> tuple[BNWVADModel, dict[str, str]]:
    model = BNWVADModel(**kwargs)
    names = load_official(model, golden["state"], official_key_map())
    return model, names


def test_eval_scores_their_parts_and_the_test_path_match_official(golden):
    model, _ = build(golden)
    model.eval()
    a = golden["a"]
    with torch.no_grad():
        assert rel_err(model(golden["one_crop"]), a["eval_scores_f64"]) < TOL
        _, head_scores, dfm = model.head(golden["one_crop"][:, :, 0])
        assert rel_err(head_scores, a["eval_normal_scores_f64"]) < TOL
        assert rel_err(dfm[0], a["eval_distance1_f64"]) < TOL and rel_err(dfm[1], a["eval_distance2_f64"]) < TOL
    check_test_path(model, golden["tests"], a, TOL)


def train_step(golden, variant="", loss_fn=None, **model_args):
    model, names = build(golden, **({"ratio_batch": 0.2} if variant else {}), **model_args)
    model.train()
    out = model.training_forward(golden["one_crop"])
    terms = (loss_fn or BNWVADLoss())(out)
    terms["loss"].backward()
    return model, names, out, terms


@pytest.mark.parametrize("variant", ["", "rb02_"])
def test_train_step_statistics_selection_losses_and_gradients_match_official(golden, variant):
    model, names, out, terms = train_step(golden, variant)
    a, meta = golden["a"], golden["meta"]
    tag = f"{variant}f64"
    assert rel_err(out.normal_scores, a[f"train_pre_normal_scores_{tag}"]) < TOL
    for i in range(2):
        assert rel_err(out.means[i], a[f"train_running_mean{i + 1}_{tag}"]) < TOL
        assert rel_err(out.variances[i], a[f"train_running_var{i + 1}_{tag}"]) < TOL
        assert rel_err(out.normal[i], a[f"train_select_normals{i + 1}_{tag}"]) < TOL
        assert rel_err(out.abnormal[i], a[f"train_select_abnormals{i + 1}_{tag}"]) < TOL
    assert rel_err(terms["normal"], a[f"train_loss_normal_loss_{tag}"]) < TOL
    assert rel_err(terms["mpp_1"], a[f"train_loss_mpp_layer1_{tag}"]) < TOL
    assert rel_err(terms["mpp_1"] + terms["mpp_2"], a[f"train_loss_mpp_loss_{tag}"]) < TOL
    assert rel_err(terms["loss"], a[f"train_loss_total_loss_{tag}"]) < TOL
    check_gradients(model, names, meta["param_names"], a[f"train_grad_norms_{tag}"], a[f"train_grad_wsums_{tag}"], TOL)
    if not variant:
        assert check_full_gradients(model, names, meta["param_names"], a, "train_grad_", TOL) == 7
        # the official clip_grad_norm_(1.0) (our trainer.gradient_clip_val) gives the recorded step
        params = dict(model.named_parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        clipped = np.array([float(params[names[n]].grad.norm()) for n in meta["param_names"]])
        assert rel_err(clipped, a["train_clipped_grad_norms_f64"]) < TOL


@pytest.mark.parametrize("change, term", [
    ({"loss": {"mpp_weights": (5.0, 10.0)}}, "mpp_2"),
    ({"loss": {"margin": 2.0}}, "mpp_1"),
    ({"loss": {"lambda_normal": 0.5}}, "normal"),
    ({"model": {"selection": "sample"}}, "mpp_1"),   # (at the official ratios the batch picks hold the sample picks)
    ({"model": {"distance": "euclidean"}}, "mpp_1"),
])
def test_each_non_official_switch_changes_its_term(golden, change, term):
    _, _, _, terms = train_step(golden, loss_fn=BNWVADLoss(**change.get("loss", {})), **change.get("model", {}))
    a = golden["a"]
    official = {"normal": a["train_loss_normal_loss_f64"], "mpp_1": a["train_loss_mpp_layer1_f64"],
                "mpp_2": a["train_loss_mpp_loss_f64"] - a["train_loss_mpp_layer1_f64"]}
    assert rel_err(terms[term], official[term]) > 1e-3


def test_score_ablations_are_not_the_official_score(golden):
    for score in ("classifier", "dfm"):
        model, _ = build(golden, score=score)
        model.eval()
        with torch.no_grad():
            assert rel_err(model(golden["one_crop"]), golden["a"]["eval_scores_f64"]) > 1e-3


def test_float32_forward_matches_the_official_float32_run(golden):
    model, _ = build(golden)
    model.float().eval()
    with torch.no_grad():
        scores = model(golden["one_crop"].float())
    np.testing.assert_allclose(scores.numpy(), golden["a"]["eval_scores_f32"], rtol=2e-6, atol=1e-5)


def test_key_map_covers_the_official_state_dict(golden):
    ours = set(BNWVADModel().state_dict())
    assert {rename(k, official_key_map()) for k in golden["state"]} == ours

"""UR-DMU in the official recipe against the official code (henrryzh1/UR-DMU 40cfdf5;
tests/golden/data/README.md, section UR-DMU).

Our `URDMUModel` (dropout 0 as in the fixture) and `URDMULoss` in float64 must reproduce the official
eval scores, the test path of two videos (5 crops averaged), the training forward (scores and the four
memory scores), every loss term and the gradients of one step, for the official per-crop-file batch
(one crop per video) and the official model's 4-D path (two crops per video, averaged).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.crop_models import check_full_gradients, check_gradients, check_test_path
from tests.golden.official import feature_file, load, load_official, official_state, rel_err, rename, u
from vadbench.models.urdmu import URDMULoss, URDMUModel, official_key_map

TOL = 1e-9
SEED = "golden-urdmu-v1"
# our term -> (official loss-dict / model-output name, weight of the official total)
TERMS = {"classification": ("loss_att_loss", 1.0), "abnormal_memory": ("loss_A_loss", 0.1),
         "normal_memory_on_abnormal": ("loss_N_Aatt", 0.1), "normal_memory": ("loss_N_loss", 0.1),
         "abnormal_memory_on_normal": ("loss_A_Nloss", 0.1), "triplet": ("loss_triplet", 0.1),
         "kl": ("loss_kl_loss", 0.001), "distance": ("distance", 0.0001), "loss": ("loss_total_loss", 1.0)}
MEMORY_SCORES = {"abnormal_on_abnormal": "A_att", "normal_on_normal": "N_att", "abnormal_on_normal": "A_Natt",
                 "normal_on_abnormal": "N_Aatt"}


@pytest.fixture(scope="module")
def golden():
    arrays, meta = load("urdmu_official_golden")
    videos = {k: feature_file(k, meta["T"], meta["crops"], meta["feature_dim"])
              for k in meta["normal_video_keys"] + meta["abnormal_video_keys"]}
    keys = meta["normal_video_keys"] + meta["abnormal_video_keys"]
    one_crop = np.stack([videos[k][:, [c]] for k, c in zip(keys, meta["train_crop_pick"])])      # (4, T, 1, D)
    two_crops = np.stack([videos[k][:, meta["train4d_crops"]] for k in keys])                   # (4, T, 2, D)
    tests = {k.rsplit("/", 1)[1]: torch.from_numpy(feature_file(k, t, meta["crops"], meta["feature_dim"]))[None].double()
             for k, t in meta["test_videos"].items()}
    return {"a": arrays, "meta": meta, "one_crop": torch.from_numpy(one_crop).double(),
            "two_crops": torch.from_numpy(two_crops).double(), "tests": tests,
            "state": official_state("urdmu_official", seed=SEED)}


def build(golden, **kwargs) -> tuple[URDMUModel, dict[str, str]]:
    model = URDMUModel(**{"dropout": 0.0, **kwargs})
    return model, load_official(model, golden["state"], official_key_map())


def epsilon(sequences: int, t: int) -> torch.Tensor:
    """The reparameterisation noise the harness fed the official model (README)."""
    return torch.from_numpy(np.sqrt(2.0) * u(f"{SEED}/urdmu/epsilon", sequences * t, 512).reshape(sequences, t, 512))


def train_step(model, x, loss_fn=None):
    model.train()
    model.zero_grad()
    out = model.training_forward(x, noise=epsilon(x.shape[0] // 2 * x.shape[2], x.shape[1]))
    terms = (loss_fn or URDMULoss())(out, torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=x.dtype))
    terms["loss"].backward()
    return out, terms


def test_eval_forward_and_test_path_match_official(golden):
    model, _ = build(golden)
    model.eval()
    a = golden["a"]
    with torch.no_grad():
        assert rel_err(model(golden["one_crop"]), a["eval_scores_f64"]) < TOL
    check_test_path(model, golden["tests"], a, TOL)


@pytest.fixture(scope="module", params=["train", "train4d"])
def official_step(request, golden):
    model, names = build(golden)
    x = golden["one_crop"] if request.param == "train" else golden["two_crops"]
    out, terms = train_step(model, x)
    return request.param, model, names, out, terms


def test_train_step_loss_terms_and_gradients_match_official(golden, official_step):
    prefix, model, names, out, terms = official_step
    a, meta = golden["a"], golden["meta"]
    assert rel_err(out.scores, a[f"{prefix}_frame_f64"]) < TOL
    for ours, official in MEMORY_SCORES.items():
        assert rel_err(getattr(out, ours), a[f"{prefix}_{official}_f64"]) < TOL, ours
    assert set(terms) == set(TERMS)
    for ours, (official, weight) in TERMS.items():
        assert rel_err(terms[ours], weight * a[f"{prefix}_{official}_f64"]) < TOL, ours
    check_gradients(model, names, meta["param_names"], a[f"{prefix}_grad_norms_f64"], a[f"{prefix}_grad_wsums_f64"], TOL)
    assert check_full_gradients(model, names, meta["param_names"], a, f"{prefix}_grad_", TOL) == 7


@pytest.mark.parametrize("loss_args, term", [
    ({"kl_sum_over": "feature"}, "kl"),
    ({"triplet_margin": 0.5}, "triplet"),
    ({"distance_margin": 50.0}, "distance"),
    ({"lambda_memory": 0.2}, "normal_memory"),
])
def test_each_non_official_switch_changes_its_term(golden, loss_args, term):
    model, _ = build(golden)
    _, terms = train_step(model, golden["one_crop"], URDMULoss(**loss_args))
    official, weight = TERMS[term]
    assert rel_err(terms[term], weight * golden["a"][f"train_{official}_f64"]) > 1e-3


def test_local_row_normalisation_is_not_the_official_forward(golden):
    model, _ = build(golden, local_normalisation="rows")
    model.eval()
    with torch.no_grad():
        assert rel_err(model(golden["one_crop"]), golden["a"]["eval_scores_f64"]) > 1e-6


def test_float32_forward_matches_the_official_float32_run(golden):
    model, _ = build(golden)
    model.float().eval()
    with torch.no_grad():
        scores = model(golden["one_crop"].float())
        test0 = model(golden["tests"]["test0"].float())[0]
    np.testing.assert_allclose(scores.numpy(), golden["a"]["eval_scores_f32"], rtol=0, atol=2e-6)
    np.testing.assert_allclose(test0.numpy(), golden["a"]["test0_scores_f32"], rtol=0, atol=2e-6)


def test_key_map_covers_the_official_state_dict(golden):
    model = URDMUModel()
    ours = set(model.state_dict())
    mapped = {rename(k, official_key_map()) for k in golden["state"]}
    assert mapped == ours

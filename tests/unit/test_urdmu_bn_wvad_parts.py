"""UR-DMU / BN-WVAD parts the golden tests do not reach: crop sampling, the module switches (ablations),
the selection's edge case, the official key renaming (tiny sizes)."""

from __future__ import annotations

import pytest
import torch

from vadbench.models.bn_wvad import BNWVADLoss, BNWVADModel, select_snippets
from vadbench.models.components.crop_instance_module import rename_official
from vadbench.models.components.crops import training_crops
from vadbench.models.urdmu import URDMULoss, URDMUModel

SMALL = dict(feature_dim=16, embed_dim=32, heads=2, dim_head=8, mlp_dim=32)


def test_one_random_crop_per_video_is_one_of_its_crops_and_seeded():
    x = torch.arange(4 * 3 * 5 * 2, dtype=torch.float32).view(4, 3, 5, 2)   # (B, T, C, D)
    torch.manual_seed(0)
    a = training_crops(x, "one_random")
    torch.manual_seed(0)
    assert torch.equal(a, training_crops(x, "one_random")) and a.shape == (4, 3, 1, 2)
    for b in range(4):
        assert any(torch.equal(a[b, :, 0], x[b, :, c]) for c in range(5))
    picks = {int((a[b, 0, 0, 0] - x[b, 0, 0, 0]) // 2) for _ in range(20) for b in range(4)
             for a in [training_crops(x, "one_random")]}
    assert len(picks) > 1                                                     # not always the same crop
    assert training_crops(x, "all") is x
    assert torch.allclose(training_crops(x, "mean")[:, :, 0], x.mean(2))
    with pytest.raises(ValueError, match="crop_sampling"):
        training_crops(x, "first")


@pytest.mark.parametrize("switches, absent", [
    ({}, set()),
    ({"abnormal_memory": False}, {"abnormal_memory", "abnormal_memory_on_normal", "triplet", "distance"}),
    ({"normal_memory": False}, {"normal_memory", "normal_memory_on_abnormal", "triplet", "kl", "distance"}),
    ({"uncertainty": False}, {"kl"}),
    ({"local_attention": False}, set()),
    ({"global_attention": False}, set()),
])
def test_urdmu_switches_build_train_and_drop_their_terms(switches, absent):
    torch.manual_seed(0)
    model = URDMUModel(**SMALL, abnormal_slots=8, normal_slots=8, **switches)
    out = model.training_forward(torch.randn(4, 16, 2, 16))                 # 2 + 2 videos, 2 crops each
    terms = URDMULoss()(out, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    full = {"classification", "abnormal_memory", "abnormal_memory_on_normal", "normal_memory",
            "normal_memory_on_abnormal", "triplet", "kl", "distance", "loss"}
    assert set(terms) == full - absent
    terms["loss"].backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "encoder_var" not in n or "kl" in terms)
    model.eval()
    assert model(torch.randn(2, 9, 3, 16)).shape == (2, 9)


def test_urdmu_no_memory_at_all_is_a_plain_classifier():
    model = URDMUModel(**SMALL, abnormal_memory=False, normal_memory=False)
    assert model.classifier[0].in_features == 32
    terms = URDMULoss()(model.training_forward(torch.randn(4, 16, 1, 16)), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert set(terms) == {"classification", "loss"}


def test_bn_wvad_selection_counts_and_the_all_selected_edge_case():
    torch.manual_seed(0)
    feats, dfm = torch.randn(4, 3, 10), torch.rand(4, 10)                   # 2 normal + 2 anomalous, T = 10
    nor, abn = select_snippets(feats, dfm, 0.2, 0.4, "sample")
    assert abn.shape == (4, 3) and nor.shape == (4, 3)                        # 2 per video
    nor, abn = select_snippets(feats, dfm, 0.2, 0.4, "batch")
    assert abn.shape == (8, 3)                                                # int(2 * 10 * 0.4)
    nor, abn = select_snippets(feats, dfm, 1.0, 0.4)                          # every anomalous snippet
    assert abn.shape == (20, 3) and nor.shape == (20, 3)                      # k = T (the official code crashes)


@pytest.mark.parametrize("switches", [{}, {"selection": "batch", "distance": "euclidean"}, {"score": "dfm"}])
def test_bn_wvad_switches_train_and_score(switches):
    torch.manual_seed(0)
    model = BNWVADModel(**SMALL, ratios=(4, 8), **switches)
    terms = BNWVADLoss()(model.training_forward(torch.randn(4, 20, 2, 16)))
    assert set(terms) == {"normal", "mpp_1", "mpp_2", "loss"}
    terms["loss"].backward()
    model.eval()
    scores = model(torch.randn(2, 9, 3, 16))
    assert scores.shape == (2, 9) and torch.isfinite(scores).all()


def test_official_keys_are_renamed_and_unknown_keys_refused():
    state = {"normal_head.bn1.running_mean": torch.zeros(2), "embedding.conv_1.0.weight": torch.zeros(1)}
    out = rename_official(state, {"normal_head.bn1": "normal_head.bn1", "embedding.conv_1.0": "embedding.conv"})
    assert set(out) == {"normal_head.bn1.running_mean", "embedding.conv.weight"}
    with pytest.raises(ValueError, match="no counterpart"):
        rename_official({"head.fc.weight": torch.zeros(1)}, {})


def test_bn_wvad_synthetic_recipe_changes_only_lr_and_steps_and_real_configs_stay_official():
    """bn_wvad/synthetic.yaml's recipe (lr 3e-5, 600 steps; README "Measured") must not leak into the
    real-data configs, which keep the official optimizer (Adam lr 1e-4, weight decay 5e-5) and clipping."""
    from vadbench.paths import load_config

    def recipe(name):
        cfg = load_config(name)
        opt = cfg["model"]["init_args"]["optimizer"]
        loss = cfg["model"]["init_args"]["loss"]["init_args"]
        return (opt["class_path"], opt["init_args"], loss, cfg["trainer"]["gradient_clip_val"],
                cfg["model"]["init_args"]["net"]["init_args"]["bn_momentum"])

    official = ("torch.optim.Adam", {"lr": 1e-4, "weight_decay": 5e-5}, {"lambda_normal": 1.0,
                "mpp_weights": [5.0, 20.0], "margin": 1.0}, 1.0, 0.1)
    for name in ("bn_wvad/ucf_crime.yaml", "bn_wvad/xd_violence.yaml"):
        assert recipe(name) == official, name
    synthetic = recipe("bn_wvad/synthetic.yaml")
    assert synthetic[1] == {"lr": 3e-5, "weight_decay": 5e-5}
    assert synthetic[:1] + synthetic[2:] == official[:1] + official[2:]
    assert load_config("bn_wvad/synthetic.yaml")["trainer"]["max_steps"] == 600

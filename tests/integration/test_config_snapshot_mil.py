"""Every MIL config resolves (`vadbench fit --config X --print_config`) to the values it had before the
configs were composed from parts and the models received `net` / `loss` / `optimizer` objects.

`MOVED` maps each old flattened path (`init_args` levels removed, see tests/config_snapshot.py) to its
new one. Parameters of the torch core moved into `model.net`, loss weights into `model.loss`. Values
the data and the model share (`feature_dim`, `patch_scales`) are written once on
the data side and linked into the model (`MIL_LINKS`): `--print_config` does not print link targets,
so their old model paths map to the data's, and a second test checks that the built model received them.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import yaml

from tests.config_snapshot import ABSENT, differences, snapshot, snapshot_names
from vadbench.trainer_cli import run_cli

MIL_MODELS = ("rtfm", "ssrl", "msip", "sultani", "sta_mil")
NAMES = [n for n in snapshot_names() if n.split("/")[0] in MIL_MODELS]

RTFM_NET = ("k", "dropout", "classifier_hidden", "exclusion_rate", "use_dilated", "use_nonlocal", "attention_norm")
RTFM_LOSS = ("margin", "lambda_fm", "lambda_sparsity", "lambda_smooth", "magnitude_loss", "classification",
             "sparsity", "smooth_across_videos")
NET = {
    "rtfm": RTFM_NET,
    "ssrl": RTFM_NET + ("use_psr", "psr_dilated", "psr_nonlocal", "share_psr", "mpa_conv", "mpa_dropout"),
    "msip": RTFM_NET + ("hidden_dim", "readout_dim", "use_relation", "use_hgc", "hgc_cross_scale", "hgc_direction",
                        "hgc_intra_graph"),
    "sultani": ("hidden", "dropout", "l2_normalize"),
    "sta_mil": ("num_crops", "crop_mode", "qk_channels", "recurrence", "use_sta", "scorer", "rnn_hidden", "rnn_layers",
                "rnn_cell", "rnn_dropout", "fc_hidden", "fc_dropout", "chunk_size"),
}
LOSS = {"rtfm": RTFM_LOSS, "ssrl": RTFM_LOSS, "msip": RTFM_LOSS, "sultani": ("margin", "lambda_smooth", "lambda_sparsity"),
        "sta_mil": ("use_mce", "lambda_mce", "mce_margin", "ranking_margin", "lambda_smooth", "lambda_sparsity")}
LINKED = {"model.feature_dim": "data.feature_dim", "model.patch_scales": "data.patch_scales",
          # frames per snippet became a data fact (issue #13): `null` = the extraction sidecars' stride, else 16;
          # the evaluation takes it from the batches (tested in test_mil_validation / the Ped2 README test)
          "model.frames_per_snippet": None, "data.frames_per_snippet": None}


# Issue #12 made the official code's recipe the default (configs/recipe/<model>_official.yaml); these are
# the values it changed, per model (new flattened path -> (before, now)). Everything else must be as before.
RTFM_OFFICIAL = {
    "model.net.attention_norm": ("softmax", "count"),
    "model.net.relation_bias": (ABSENT, False),      # the official conv_4 / conv_5 have no bias
    "model.loss.magnitude_loss": ("hinge", "squared"),
    "model.loss.classification": ("per_snippet", "topk_mean"),
    "model.loss.sparsity": ("l1", "l2"),
    "model.loss.smooth_across_videos": (False, True),
    "model.optimizer.weight_decay": (0.0005, 0.005),
}
UCF_0_BASED = {"data.ucf_frame_numbering": (ABSENT, "0-based")}   # RTFM's gt-ucf.npy (RTFM / SSRL / MSIP)
RECIPE_CHANGES = {
    "rtfm": RTFM_OFFICIAL,
    "msip": RTFM_OFFICIAL,                       # MSIP has no code: it borrows RTFM/SSRL's recipe
    "ssrl": {**RTFM_OFFICIAL, "model.net.mpa_conv": ("paper", "official"),
             "model.net.mpa_dropout": (None, {"patch47": 0.7})},
    "sultani": {"model.optimizer.lr": (0.001, 0.01), "model.optimizer.eps": (1e-10, 1e-8),
                "model.optimizer.weight_decay": (0.001, 0.002), "model.loss.reduction": (ABSENT, "official_sum"),
                "model.test_scoring": (ABSENT, "official_segments")},
    "sta_mil": {},                               # no code: the reconstruction is unchanged
}
PER_CONFIG_CHANGES = {
    "rtfm/ucf_crime.yaml": UCF_0_BASED, "msip/ucf_crime.yaml": UCF_0_BASED,
    "ssrl/ucf_crime.yaml": {**UCF_0_BASED, "trainer.max_steps": (15000, 150000)},   # official: 150k per stage
    "ssrl/shanghaitech.yaml": {"trainer.max_steps": (15000, 150000)},
    "rtfm/synthetic.yaml": {"data.batch_size": (16, 32)},   # the official 32 + 32 videos (RTFM README)
}


def recipe_changes(name: str) -> dict:
    return {**RECIPE_CHANGES[name.split("/")[0]], **PER_CONFIG_CHANGES.get(name, {})}


def moved(model: str) -> dict[str, str]:
    out = dict(LINKED)
    out.update({f"model.{p}": f"model.net.{p}" for p in NET[model]})
    out.update({f"model.{p}": f"model.loss.{p}" for p in LOSS[model]})
    return out


def print_config(name: str, *extra: str) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        run_cli(["fit", "--config", name, *extra, "--print_config"])
    assert exit_.value.code in (0, None), f"{name} {extra}: the config does not parse"
    return yaml.safe_load(out.getvalue())


def test_every_mil_config_has_a_snapshot():
    assert len(NAMES) == 21


@pytest.mark.parametrize("name", NAMES)
def test_mil_config_resolves_as_before(name):
    new = print_config(name)
    assert differences(snapshot(name), new, moved(name.split("/")[0]), recipe_changes(name)) == []
    assert new["model"]["class_path"] == snapshot(name)["model"]["class_path"]   # `--model SSRL` etc. unchanged


def test_an_old_path_does_not_parse():
    from vadbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--model.init_args.patch_scales: Option 'patch_scales' is not accepted"):
        print_config("ssrl/synthetic.yaml", "--model.init_args.patch_scales=[]")


def test_a_changed_value_is_reported():
    """The comparison can fail: a k set on the command line shows up as a difference."""
    new = print_config("ssrl/ucf_crime.yaml", "--model.init_args.net.init_args.k=5")
    assert differences(snapshot("ssrl/ucf_crime.yaml"), new, moved("ssrl"), recipe_changes("ssrl/ucf_crime.yaml")) == \
        ["model.k: 3 before, 5 now (at model.net.k)"]


def test_an_intentional_change_must_hold_exactly():
    """The map of recipe changes does not hide a wrong value: the paper recipe on top differs from it."""
    new = print_config("rtfm/ucf_crime.yaml", "--config", "recipe/rtfm_paper.yaml")
    problems = differences(snapshot("rtfm/ucf_crime.yaml"), new, moved("rtfm"), recipe_changes("rtfm/ucf_crime.yaml"))
    assert len(problems) == 7 and all("intentional change" in p or "new key" in p for p in problems), problems


def test_rtfm_ucf_crime_prints_the_official_recipe():
    """`vadbench fit --config rtfm/ucf_crime.yaml --print_config` shows the official code's recipe."""
    cfg = print_config("rtfm/ucf_crime.yaml")["model"]["init_args"]
    assert cfg["net"]["init_args"]["attention_norm"] == "count"
    loss = cfg["loss"]["init_args"]
    assert (loss["magnitude_loss"], loss["classification"], loss["sparsity"], loss["smooth_across_videos"]) == \
        ("squared", "topk_mean", "l2", True)
    assert (loss["margin"], loss["lambda_fm"], loss["lambda_sparsity"], loss["lambda_smooth"]) == (100.0, 1e-4, 8e-3, 8e-4)
    assert cfg["optimizer"]["class_path"] == "torch.optim.Adam"
    assert (cfg["optimizer"]["init_args"]["lr"], cfg["optimizer"]["init_args"]["weight_decay"]) == (1e-3, 5e-3)
    assert print_config("rtfm/ucf_crime.yaml")["data"]["init_args"]["ucf_frame_numbering"] == "0-based"
    assert print_config("rtfm_ucf.yaml") == print_config("rtfm/ucf_crime.yaml")   # the short name of the issue
    paper = print_config("rtfm/ucf_crime.yaml", "--config", "recipe/rtfm_paper.yaml")["model"]["init_args"]
    assert paper["loss"]["init_args"]["magnitude_loss"] == "hinge"
    assert paper["optimizer"]["init_args"]["weight_decay"] == 5e-4


@pytest.mark.parametrize("name", ["ssrl/synthetic.yaml", "msip/synthetic.yaml", "sta_mil/synthetic.yaml",
                                  "rtfm/synthetic.yaml", "sultani/synthetic.yaml"])
def test_linked_values_reach_the_model(name):
    from vadbench.commands.complexity import build_cli

    cli = build_cli([name], ["--data.init_args.feature_dim=24"])
    net = cli.model.model
    assert net.feature_dim == 24
    if name.startswith(("ssrl", "msip")):
        assert net.patch_scales == ["patch23", "patch35", "patch47"]

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

from tests.config_snapshot import differences, snapshot, snapshot_names
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
    assert differences(snapshot(name), new, moved(name.split("/")[0])) == []
    assert new["model"]["class_path"] == snapshot(name)["model"]["class_path"]   # `--model SSRL` etc. unchanged


def test_an_old_path_does_not_parse():
    from vadbench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--model.init_args.patch_scales: Option 'patch_scales' is not accepted"):
        print_config("ssrl/synthetic.yaml", "--model.init_args.patch_scales=[]")


def test_a_changed_value_is_reported():
    """The comparison can fail: a k set on the command line shows up as a difference."""
    new = print_config("ssrl/ucf_crime.yaml", "--model.init_args.net.init_args.k=5")
    assert differences(snapshot("ssrl/ucf_crime.yaml"), new, moved("ssrl")) == \
        ["model.k: 3 before, 5 now (at model.net.k)"]


@pytest.mark.parametrize("name", ["ssrl/synthetic.yaml", "msip/synthetic.yaml", "sta_mil/synthetic.yaml",
                                  "rtfm/synthetic.yaml", "sultani/synthetic.yaml"])
def test_linked_values_reach_the_model(name):
    from vadbench.commands.complexity import build_cli

    cli = build_cli([name], ["--data.init_args.feature_dim=24"])
    net = cli.model.model
    assert net.feature_dim == 24
    if name.startswith(("ssrl", "msip")):
        assert net.patch_scales == ["patch23", "patch35", "patch47"]

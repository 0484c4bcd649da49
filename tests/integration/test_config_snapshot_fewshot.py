"""Every few-shot config (TRX, SKPS-Net) resolves (`--print_config`) to the values it had before the
compose refactor (tests/data/config_snapshot_before/), and the data -> model links hold.

`MOVED` maps the old flattened paths (init_args removed) to the new ones: the LightningModules now
receive `net` (the pure-torch core), `loss` and `optimizer` as objects, and the TRX head settings
sit in one `head` block (`TRXHeadConfig`) that TRX and SKPS-Net share. `model.seq_len` is linked
from `data.seq_len` (vadbench/models/fewshot_base.py: FEWSHOT_LINKS); jsonargparse leaves link
targets out of `--print_config`, so its old value is compared with `data.seq_len` and the link is
checked on the instantiated model below.
"""

from __future__ import annotations

import contextlib
import io

import pytest
import yaml

from tests.config_snapshot import ABSENT, differences, snapshot, snapshot_names
from vadbench.paths import load_config
from vadbench.trainer_cli import VadbenchCLI, _resolve_config_args, run_cli

HEAD = ("cardinalities", "proj_dim", "pe_scale", "dropout")
TRX_NET = ("backbone", "backbone_weights")
SKPS_NET = TRX_NET + ("local_backbone", "local_backbone_weights", "selection_layer", "use_patch", "patch_size",
                      "patch_input_size", "global_input_size", "patch_mode", "weighting", "temperature",
                      "use_relation", "relation_temporal", "relation_motion", "relation_kernel_3d", "refined_loss",
                      "heads_per_subspace", "hausdorff_reduction", "eval_logits", "stop_gradient",
                      "random_map_prob", "extra_trm")
COMMON = {
    "model.seq_len": "data.seq_len",          # linked: written once, on the data
    "model.loss_reduction": "model.loss.reduction",
    **{f"model.{k}": f"model.net.head.{k}" for k in HEAD},
}
MOVED = {
    "trx": {**COMMON, **{f"model.{k}": f"model.net.{k}" for k in TRX_NET}},
    "skps_net": {**COMMON, **{f"model.{k}": f"model.net.{k}" for k in SKPS_NET},
                 "model.temporal_weight": "model.loss.temporal_weight"},
}
FEWSHOT = [n for n in snapshot_names() if n.split("/")[0] in MOVED]

# Issue #12: the values changed on purpose (new flattened path -> (before, now)). TRX: the official
# code's recipe (configs/recipe/trx_official.yaml) on every config; real data: torchvision's ImageNet
# ResNet-50s (the papers'); SKPS-Net (no code): the journal's uniform random patches.
TRX_OFFICIAL = {"model.net.backbone_passes": (ABSENT, "separate"), "model.net.backbone_input": (ABSENT, "unit")}
IMAGENET = {"model.net.backbone_weights": (None, "imagenet")}
SKPS_IMAGENET = {**IMAGENET, "model.net.local_backbone_weights": (None, "imagenet")}
SKPS_RANDOM_MAP = {"model.net.random_map": (ABSENT, "point")}


def recipe_changes(name: str) -> dict:
    model, dataset = name[:-5].split("/")
    real = not dataset.startswith("synthetic")
    if model == "trx":
        return {**TRX_OFFICIAL, **(IMAGENET if real else {})}
    return {**SKPS_RANDOM_MAP, **(SKPS_IMAGENET if real else {})}


def print_config_of(args: list[str]) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_cli(["fit", *args, "--print_config"])
    return yaml.safe_load(out.getvalue())


def print_config(name: str) -> dict:
    return print_config_of(["--config", name])


def test_every_fewshot_config_has_a_snapshot():
    assert len(FEWSHOT) == 20, FEWSHOT   # 8 TRX + 12 SKPS-Net configs


@pytest.mark.parametrize("name", FEWSHOT)
def test_fewshot_config_resolves_to_the_values_before_the_refactor(name):
    new = print_config(name)
    problems = differences(snapshot(name), new, MOVED[name.split("/")[0]], recipe_changes(name))
    assert not problems, "\n".join(problems)
    # the model part is nested objects now, not a flat signature
    assert new["model"]["init_args"]["net"]["class_path"].endswith(("TRXModel", "SKPSNetModel"))
    assert new["model"]["init_args"]["loss"]["class_path"].endswith(("TRXLoss", "SKPSLoss"))


def test_a_changed_value_is_reported():
    """The comparison can fail: a config with another proj_dim differs from its snapshot."""
    new = print_config("trx/synthetic_5w1s.yaml")
    new["model"]["init_args"]["net"]["init_args"]["head"]["proj_dim"] = 64
    problems = differences(snapshot("trx/synthetic_5w1s.yaml"), new, MOVED["trx"], recipe_changes("trx/synthetic_5w1s.yaml"))
    assert problems == ["model.proj_dim: 128 before, 64 now (at model.net.head.proj_dim)"]


def test_trx_paper_recipe_undoes_the_official_one():
    """`--config recipe/trx_paper.yaml` selects one backbone pass and ImageNet-normalised frames: the
    intentional-change map then reports both (it cannot hide a wrong value)."""
    new = print_config_of(["--config", "trx/hmdb51_5w5s.yaml", "--config", "recipe/trx_paper.yaml"])
    assert new["model"]["init_args"]["net"]["init_args"]["backbone_passes"] == "joint"
    problems = differences(snapshot("trx/hmdb51_5w5s.yaml"), new, MOVED["trx"], recipe_changes("trx/hmdb51_5w5s.yaml"))
    assert len(problems) == 2 and all("new key" in p for p in problems), problems


@pytest.mark.parametrize("name, seq_len", [("skps_net/synthetic_5w1s.yaml", 4), ("trx/synthetic_5w5s.yaml", 8)])
def test_frames_per_video_are_linked_from_the_data(name, seq_len):
    cli = VadbenchCLI(args=_resolve_config_args(["--config", name, f"--data.init_args.seq_len={seq_len - 1}"]),
                      run=False)
    assert cli.datamodule.seq_len == seq_len - 1
    net = cli.model.net
    assert net.seq_len == seq_len - 1
    heads = [net.transformers] if hasattr(net, "transformers") else [h.transformers for h in net.final_head.heads]
    assert heads[0][0].tuples.max() == seq_len - 2   # tuples over T frames


def test_links_are_skipped_for_model_data_pairs_without_the_linked_keys(tmp_path):
    """Subclass mode: a few-shot model with MIL data, or a MIL model with episodic data, still parses."""
    mil = load_config("rtfm/synthetic.yaml")
    (tmp_path / "mil_data.yaml").write_text(yaml.safe_dump({"data": mil["data"]}))
    (tmp_path / "mil_model.yaml").write_text(yaml.safe_dump({"model": mil["model"]}))
    trx_on_mil = print_config_of(["--config", "model/trx.yaml", "--config", str(tmp_path / "mil_data.yaml")])
    assert trx_on_mil["model"]["class_path"] == "vadbench.models.trx.TRX"
    assert trx_on_mil["data"]["class_path"] == mil["data"]["class_path"]
    mil_on_episodes = print_config_of(["--config", str(tmp_path / "mil_model.yaml"), "--config", "data/synthetic_video.yaml"])
    assert mil_on_episodes["model"]["class_path"] == mil["model"]["class_path"]
    assert mil_on_episodes["data"]["init_args"]["seq_len"] == 8

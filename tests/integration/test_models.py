"""Every discovered model, every packaged config: no list of models anywhere (anomalib's
tests/integration/model/test_models.py).

- each packaged experiment config (one that composes to a model and a data block) resolves with
  `--print_config` and its classes instantiate;
- each LightningModule found by `vadbench.models.discovery` has a packaged synthetic config and fits
  two steps and tests on it through the CLI, writing a result JSON with finite metrics.
A new model folder is picked up by both with no edit here.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math

import pytest
import yaml

from tests.imagenet_cache import imagenet_cache  # noqa: F401 - fixture (real-data few-shot configs: imagenet weights)
from vadbench.models.discovery import lightning_modules
from vadbench.paths import list_configs, load_config

EXPERIMENTS = [name for name in list_configs() if {"model", "data"} <= set(load_config(name))]
MODULES = lightning_modules()


def _class(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def synthetic_configs(cls: type) -> list[str]:
    """Packaged configs that train `cls` on synthetic data."""
    out = []
    for name in EXPERIMENTS:
        cfg = load_config(name)
        path = (cfg.get("model") or {}).get("class_path")
        dataset = ((cfg.get("data") or {}).get("init_args") or {}).get("dataset")
        if path and dataset == "synthetic" and _class(path) is cls:
            out.append(name)
    return out


def test_discovery_finds_every_model_folder():
    from vadbench.models.discovery import MODELS_DIR, model_folders

    folders = {p.parent.name for p in MODELS_DIR.glob("*/lightning_model.py")}
    assert {m.name for m in model_folders()} == folders and len(folders) >= 7
    assert {cls.__module__.split(".")[2] for cls in MODULES.values()} == folders  # each folder defines a LightningModule
    assert len(EXPERIMENTS) >= 40


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_packaged_config_resolves_and_instantiates(name, imagenet_cache):  # noqa: F811
    from vadbench.cli import VadbenchCLI, _resolve_config_args

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        VadbenchCLI(args=_resolve_config_args(["fit", "--config", name, "--print_config"]))
    assert stop.value.code in (0, None)
    printed = yaml.safe_load(out.getvalue())
    cfg = load_config(name)
    assert printed["model"]["class_path"] == cfg["model"]["class_path"]
    assert printed["data"]["class_path"] == cfg["data"]["class_path"]
    cli = VadbenchCLI(args=_resolve_config_args(["--config", name]), run=False)
    assert isinstance(cli.model, _class(cfg["model"]["class_path"]))
    assert isinstance(cli.datamodule, _class(cfg["data"]["class_path"]))


@pytest.mark.parametrize("class_path", sorted(MODULES))
def test_every_lightning_module_fits_and_tests_on_synthetic_data(class_path, tmp_path):
    from vadbench.cli import run_cli
    from vadbench.results import load_records

    configs = synthetic_configs(MODULES[class_path])
    assert configs, f"{class_path} has no packaged config on synthetic data (data.init_args.dataset: synthetic)"
    run_cli(["fit", "--config", configs[0], "--trainer.max_steps=2", "--trainer.accumulate_grad_batches=1",
             "--trainer.limit_test_batches=2", "--trainer.num_sanity_val_steps=0",
             "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
             f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / 'results'}"])
    (record,) = load_records([tmp_path / "results"])
    assert record["config"]["model"]["class_path"] == load_config(configs[0])["model"]["class_path"]
    assert record["data_source"] == "synthetic" and record["metrics"]
    assert all(math.isfinite(v) for v in record["metrics"].values() if isinstance(v, float))


def _ablations() -> list[tuple[str, str, list[str]]]:
    from vadbench.leaderboard.metafile import load_metafile

    return [(model, tag, over) for model, info in sorted(load_metafile().models.items())
            for tag, over in info.ablations.items()]


@pytest.mark.parametrize("model, tag, overrides", _ablations(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_ablation_override_sets_its_value_on_the_models_synthetic_config(model, tag, overrides):
    """A metafile's `ablations:` name the model's real config keys (a renamed key fails here, naming the file)."""
    from tests.config_snapshot import flatten
    from vadbench.cli import VadbenchCLI, _resolve_config_args
    from vadbench.leaderboard.metafile import load_metafile

    info = load_metafile().models[model]
    synthetic = [c for c in info.configs if "synthetic" in c]
    assert synthetic, f"{info.path} lists no synthetic config"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as stop:
        VadbenchCLI(args=_resolve_config_args(["fit", "--config", synthetic[0], *overrides, "--print_config"]))
    assert stop.value.code in (0, None), f"{info.path}: ablation {tag!r} does not parse: {overrides}"
    printed = flatten(yaml.safe_load(out.getvalue()))
    for over in overrides:
        key, _, value = over.removeprefix("--").partition("=")
        key = key.replace(".init_args", "")
        assert printed[key] == yaml.safe_load(value), (info.path, tag, over)

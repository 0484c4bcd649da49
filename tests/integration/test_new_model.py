"""Adding a model = one folder (torch core, LightningModule, loss, a config, a metafile), no other edit.

A throw-away MIL model is written into a temporary folder named by `VADBENCH_MODEL_DIRS`; the test shows
that discovery finds it, its config parses and trains a step through the CLI, its paper numbers appear in
the leaderboard and its table in `vadbench reproduce`'s plan.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

TORCH_MODEL = '''
import torch
from torch import nn


class ToyMILModel(nn.Module):
    """Linear snippet scorer: features (B, T, C, D) -> scores (B, T) in [0, 1] (crops averaged)."""

    def __init__(self, feature_dim: int = 128, hidden: int = 16):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(features.mean(dim=2)).squeeze(-1))
'''

LOSS = '''
import torch
from torch import nn


class ToyMILLoss(nn.Module):
    """Binary cross-entropy of each video's top snippet score against the video label."""

    def forward(self, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        top = scores.masked_fill(~mask, 0.0).amax(dim=1).clamp(1e-6, 1 - 1e-6)
        return nn.functional.binary_cross_entropy(top, labels.float())
'''

LIGHTNING_MODEL = '''
import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable

from vadbench.metrics.frame_level import FrameAnomalyMetrics
from toy_mil.loss import ToyMILLoss
from toy_mil.torch_model import ToyMILModel


class ToyMIL(L.LightningModule):
    model_id = "toy_mil"

    def __init__(self, net: ToyMILModel, loss: ToyMILLoss, optimizer: OptimizerCallable = torch.optim.Adam):
        super().__init__()
        self.net, self.loss, self.optimizer = net, loss, optimizer
        self.test_metrics = FrameAnomalyMetrics(16)

    def training_step(self, batch, batch_idx):
        loss = self.loss(self.net(batch.features), batch.labels, batch.mask)
        self.log("train/loss", loss, batch_size=batch.batch_size)
        return loss

    def test_step(self, batch, batch_idx):
        self.test_metrics.update(self.net(batch.features), batch.frame_labels, batch.mask, batch.video_index)

    def on_test_epoch_end(self):
        self.log_dict({f"test/{k}": float(v) for k, v in self.test_metrics.compute().items()})
        self.test_metrics.reset()

    def configure_optimizers(self):
        return self.optimizer(self.parameters())
'''

CONFIG = '''
seed_everything: 0
trainer:
  max_steps: 5
model:
  class_path: toy_mil.lightning_model.ToyMIL
  init_args:
    net: {class_path: toy_mil.torch_model.ToyMILModel}   # feature_dim: linked from the data
    loss: {class_path: toy_mil.loss.ToyMILLoss}
    optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.01}}
data:
  class_path: vadbench.data.mil.MILFeatureDataModule
  init_args:
    dataset: synthetic
    root: null
    feature_dim: 64
    batch_size: 8
'''

METAFILE = '''
model: toy_mil
paper: {title: "A Toy MIL Model", venue: "nowhere", year: 2026, url: null}
configs: [./configs/synthetic.yaml]
papers:
  toy_paper:
    short: TOY
    decimals: 1
    proposes: [toy_mil]
    title: "A Toy MIL Model (nowhere 2026)"
    model_selection: last
    tables:
      table1: "The toy's only table"
results:
  - {paper: toy_paper, table: table1, model: toy_mil, label: "Toy", dataset: ucf_crime, setting: default, metric: frame_auc_micro, value: 61.5}
  - {paper: toy_paper, table: table1, model: toy_mil, label: "Toy, bigger", dataset: ucf_crime, setting: "dim=wide", metric: frame_auc_micro, value: 62.5}
ablations:
  "dim=wide": ["--model.init_args.net.init_args.hidden=32"]
tables:
  toy-table1:
    title: "Toy table 1"
    paper: toy_paper
    table: table1
    config: "./configs/{dataset}.yaml"
    synthetic_config: "./configs/synthetic.yaml"
    datasets: [ucf_crime]
    metrics: [frame_auc_micro]
    seeds: [0, 1]
    rows:
      - {label: "Toy", model: toy_mil, setting: default}
      - {label: "Toy, bigger", model: toy_mil, setting: "dim=wide"}
'''


@pytest.fixture
def toy_model_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "my_models"
    pkg = root / "toy_mil"
    (pkg / "configs").mkdir(parents=True)
    files = {"__init__.py": "", "torch_model.py": TORCH_MODEL, "loss.py": LOSS, "lightning_model.py": LIGHTNING_MODEL,
             "metafile.yml": METAFILE, "configs/synthetic.yaml": CONFIG, "configs/ucf_crime.yaml": CONFIG}
    for name, text in files.items():
        (pkg / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    monkeypatch.setenv("VADBENCH_MODEL_DIRS", str(root))
    monkeypatch.syspath_prepend(str(root))
    return root


def test_a_throwaway_model_folder_is_discovered_runs_and_is_tabled(toy_model_dir, tiny_synthetic_mil, tmp_path, capsys):
    from vadbench.cli import main, run_cli
    from vadbench.leaderboard.board import group_records, published_tables, render_markdown
    from vadbench.leaderboard.metafile import load_metafile
    from vadbench.leaderboard.specs import load_specs, plan_runs
    from vadbench.models.discovery import MODELS_DIR, lightning_modules, model_folders
    from vadbench.results import load_records

    pkg = toy_model_dir / "toy_mil"
    # discovered beside the packaged models
    assert "toy_mil" in [m.name for m in model_folders()] and "rtfm" in [m.name for m in model_folders()]
    modules = lightning_modules()
    assert modules["toy_mil.lightning_model.ToyMIL"].model_id == "toy_mil"

    # its config parses and trains through the CLI, and the test writes a result for it
    cfg = pkg / "configs" / "synthetic.yaml"
    results = tmp_path / "results"
    cli = run_cli(["fit", "--config", str(cfg), f"--data.init_args.root={tiny_synthetic_mil}", "--trainer.max_steps=1",
                   "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                   f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={results}"])
    assert type(cli.model).__name__ == "ToyMIL" and cli.trainer.global_step == 1
    (rec,) = load_records([results])
    assert rec["model"] == "toy_mil" and 0.0 <= rec["metrics"]["frame_auc_micro"] <= 1.0

    # the leaderboard reads its metafile: its paper, its table, its number beside ours
    meta = load_metafile()
    assert meta.best("toy_mil", "default", "ucf_crime", "frame_auc_micro").value == 61.5
    assert "TOY table1" in [t.title for t in published_tables(meta)]
    packaged = load_metafile(MODELS_DIR)
    assert meta.papers["ssrl_eccv22"] and len(meta.entries) == len(packaged.entries) + 2   # the packaged ones are all still there
    text = render_markdown(meta, group_records([{**rec, "dataset": "ucf_crime", "data_source": "real"}]), 1)
    assert "| toy_mil | default | real |" in text and "61.5 [TOY table1]" in text

    assert meta.models["toy_mil"].config_paths() == [cfg]
    # the `vadbench` command finds the folder from the environment variable alone
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    shown = subprocess.run([sys.executable, "-m", "vadbench.cli", "fit", "--config", str(cfg), "--print_config"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0 and "class_path: toy_mil.lightning_model.ToyMIL" in shown.stdout, shown.stderr[-2000:]

    # and `vadbench reproduce` plans its table: configs beside the metafile, its ablation's overrides
    specs = load_specs()
    runs, missing = plan_runs(specs, specs.get("toy-table1"))
    assert not missing and len(runs) == 4
    assert {r.config for r in runs} == {pkg / "configs" / "ucf_crime.yaml"}
    wide = [r for r in runs if r.row.setting == "dim=wide"][0]
    assert wide.overrides == ["--model.init_args.net.init_args.hidden=32"]
    assert main(["reproduce", "--list"]) == 0 and "toy-table1" in capsys.readouterr().out
    assert main(["reproduce", "toy-table1", "--dry-run", "--data", "synthetic", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "4 run(s), 1 already in" in out  # the fit above is the synthetic default, seed 0
    assert "[exists] toy_mil__synthetic__default__seed0" in out and "[to run] toy_mil__synthetic__dim=wide__seed1" in out


def test_without_the_folder_the_model_is_gone(tmp_path, monkeypatch):
    """Nothing was registered anywhere: the packaged discovery does not know the toy."""
    from vadbench.leaderboard.specs import load_specs
    from vadbench.models.discovery import model_folders

    monkeypatch.delenv("VADBENCH_MODEL_DIRS", raising=False)
    assert "toy_mil" not in [m.name for m in model_folders()]
    assert "toy-table1" not in load_specs().tables
    monkeypatch.setenv("VADBENCH_MODEL_DIRS", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere .*does not exist"):
        model_folders()

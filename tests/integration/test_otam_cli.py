"""OTAM configs from the CLI: the synthetic one runs fit + test and its checkpoint rebuilds the model;
real-data ones parse with the reference recipe."""

import json
from pathlib import Path

import pytest
import torch

from tests.imagenet_cache import imagenet_cache  # noqa: F401 - fixture
from vadbench.cli import VadbenchCLI, main
from vadbench.models.otam import OTAM, OTAMHeadConfig
from vadbench.trainer_cli import _resolve_config_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "otam"
TINY = ["--trainer.max_steps=2", "--trainer.accumulate_grad_batches=1", "--trainer.enable_progress_bar=false",
        "--data.init_args.test_episodes=3", "--data.init_args.train_query=1", "--data.init_args.seq_len=4",
        "--data.init_args.frame_height=32", "--data.init_args.crop_size=28",
        "--model.init_args.net.init_args.backbone=resnet_tiny", "--model.init_args.net.init_args.head.smoothing=0.2",
        "--data.init_args.synthetic.size=32", "--data.init_args.synthetic.frames=12",
        "--data.init_args.synthetic.videos_per_class=6", "--data.init_args.synthetic.train_classes=5",
        "--data.init_args.synthetic.val_classes=1", "--data.init_args.synthetic.test_classes=5"]


def test_synthetic_config_fit_test_and_checkpoint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    assert main(["fit", "--config", str(CONFIGS / "synthetic_5w1s.yaml"), *TINY, f"--results_dir={results}"]) == 0
    records = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert len(records) == 1
    rec = records[0]
    assert rec["model"] == "otam" and rec["setting"] == "5w1s" and rec["backbone"] == "random_init"
    assert 0.0 <= rec["metrics"]["accuracy"] <= 1.0 and rec["metrics"]["num_episodes"] == 3
    assert rec["extras"]["otam_smoothing"] == 0.2 and rec["extras"]["otam_directions"] == "both"
    ckpt = next(tmp_path.rglob("last.ckpt"))
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    model = OTAM.load_from_checkpoint(ckpt)     # net and loss rebuilt from the saved config alone
    assert model.net.head == OTAMHeadConfig(smoothing=0.2)
    assert (model.net.backbone_passes, model.net.backbone_input) == ("separate", "unit")
    assert model.loss.reduction == "mean"
    assert all(torch.equal(v, saved["state_dict"][k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["hmdb51", "kinetics100", "ucf_crime_v2"])
def test_real_dataset_configs_parse_with_the_reference_recipe(tmp_path, name, imagenet_cache):  # noqa: F811
    args = ["--config", str(CONFIGS / f"{name}_5w5s.yaml"), f"--data.init_args.root={tmp_path}"]
    if name == "ucf_crime_v2":
        args.append(f"--data.init_args.test_root={tmp_path}")
    cli = VadbenchCLI(args=_resolve_config_args(args), run=False)
    assert isinstance(cli.model, OTAM)
    net = cli.model.net
    assert net.backbone_name == "resnet50" and net.feature_dim == 2048 and net.backbone_weights == "imagenet"
    assert (net.backbone_passes, net.backbone_input) == ("separate", "unit")     # recipe/otam_official.yaml
    assert net.head == OTAMHeadConfig(smoothing=0.1, cosine_eps=0.01, directions="both", vertical_moves="reference")
    assert cli.model.loss.reduction == "mean" and cli.trainer.accumulate_grad_batches == 16
    opt = cli.model.configure_optimizers()
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 0.001
    assert cli.datamodule.test_episodes == 10000 and cli.datamodule.test_dataset_id == name

"""TRX configs from the CLI: synthetic ones run fit + test end to end; real-data ones parse and build."""

import json
from pathlib import Path

import pytest

import torch

from vadbench.cli import VadbenchCLI, main
from vadbench.trainer_cli import _resolve_config_args
from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.trx import TRX
from tests.imagenet_cache import imagenet_cache  # noqa: F401 - fixture

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "trx"
TINY = ["--trainer.max_steps=2", "--trainer.accumulate_grad_batches=1", "--trainer.enable_progress_bar=false",
        "--data.init_args.test_episodes=3", "--data.init_args.train_query=1", "--data.init_args.seq_len=4",
        "--data.init_args.frame_height=32", "--data.init_args.crop_size=28",
        "--model.init_args.net.init_args.head.proj_dim=16", "--data.init_args.synthetic.size=32", "--data.init_args.synthetic.frames=12",
        "--data.init_args.synthetic.videos_per_class=6", "--data.init_args.synthetic.train_classes=5",
        "--data.init_args.synthetic.val_classes=1", "--data.init_args.synthetic.test_classes=5"]


@pytest.mark.parametrize("shot", [1, pytest.param(5, marks=pytest.mark.slow)])
def test_synthetic_config_fit_and_test(tmp_path, monkeypatch, shot):
    monkeypatch.chdir(tmp_path)
    config = str(CONFIGS / f"synthetic_5w{shot}s.yaml")
    results = tmp_path / "results"
    assert main(["fit", "--config", config, *TINY, f"--results_dir={results}"]) == 0
    records = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert len(records) == 1
    rec = records[0]
    assert rec["model"] == "trx" and rec["dataset"] == "synthetic" and rec["data_source"] == "synthetic"
    assert rec["setting"] == f"5w{shot}s" and rec["backbone"] == "random_init" and rec["model_selection"] == "last"
    assert 0.0 <= rec["metrics"]["accuracy"] <= 1.0 and rec["metrics"]["num_episodes"] == 3
    assert "accuracy_ci95" in rec["metrics"]
    assert rec["extras"]["way"] == 5 and rec["extras"]["shot"] == shot and rec["extras"]["test_episodes"] == 3
    if shot == 1:  # `vadbench test` from the saved checkpoint
        ckpt = next(tmp_path.rglob("last.ckpt"))
        assert main(["test", "--config", config, *TINY, f"--ckpt_path={ckpt}", f"--results_dir={results}"]) == 0
        again = [json.loads(p.read_text()) for p in results.glob("*.json")]
        assert len(again) == 2
        assert {r["metrics"]["accuracy"] for r in again} == {rec["metrics"]["accuracy"]}  # same weights, same episodes
        # the checkpoint holds the nested config (save_hyperparameters() under the CLI), linked seq_len included,
        # and rebuilds net, loss and optimizer from it alone
        saved = torch.load(ckpt, map_location="cpu", weights_only=False)
        hp = saved["hyper_parameters"]
        assert hp["net"]["class_path"] == "vadbench.models.trx.TRXModel"
        assert hp["net"]["init_args"]["head"]["proj_dim"] == 16 and hp["net"]["init_args"]["head"]["seq_len"] == 4
        assert hp["loss"]["init_args"]["reduction"] == "sum" and hp["optimizer"]["init_args"]["momentum"] == 0.9
        model = TRX.load_from_checkpoint(ckpt)
        assert model.net.seq_len == 4 and [t.num_tuples for t in model.net.transformers] == [6, 4]   # T = 4
        assert model.net.transformers[0].proj_dim == 16
        assert all(torch.equal(v, saved["state_dict"][k]) for k, v in model.state_dict().items())
        opt = model.configure_optimizers()
        assert type(opt).__name__ == "SGD" and opt.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("name", ["hmdb51", "kinetics100", "ucf_crime_v2"])
@pytest.mark.parametrize("shot", [1, 5])
def test_real_dataset_configs_parse_and_instantiate(tmp_path, name, shot, imagenet_cache):
    args = ["--config", str(CONFIGS / f"{name}_5w{shot}s.yaml"), f"--data.init_args.root={tmp_path}"]
    if name == "ucf_crime_v2":
        args.append(f"--data.init_args.test_root={tmp_path}")
    cli = VadbenchCLI(args=_resolve_config_args(args), run=False)
    assert isinstance(cli.model, TRX) and isinstance(cli.datamodule, EpisodicVideoDataModule)
    net = cli.model.net
    assert net.backbone_name == "resnet50" and net.feature_dim == 2048 and net.seq_len == 8
    assert net.backbone_weights == "imagenet" and net.backbone_loaded          # the papers' ImageNet ResNet-50
    assert (net.backbone_passes, net.backbone_input) == ("separate", "unit")    # recipe/trx_official.yaml
    assert net.cardinalities == [2, 3] and [t.proj_dim for t in net.transformers] == [1152, 1152]
    assert cli.model.loss.reduction == "sum"
    dm = cli.datamodule
    assert (dm.way, dm.shot, dm.seq_len, dm.frame_height, dm.crop_size) == (5, shot, 8, 256, 224)
    assert dm.test_episodes == 10000 and cli.trainer.accumulate_grad_batches == 16
    opt = cli.model.configure_optimizers()
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 0.001
    assert dm.test_dataset_id == name
    if name == "ucf_crime_v2":
        assert dm.dataset_id == "kinetics100" and dm.test_split == "all"

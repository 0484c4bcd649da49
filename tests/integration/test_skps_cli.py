"""SKPS-Net configs from the CLI: synthetic fit + test + key-patch strips; real-data configs parse
and build with the paper's values; synthetic training stays on the eval scale (slow)."""

import json
from pathlib import Path

import pytest
import torch

from vadbench.cli import VadbenchCLI, main, run_cli
from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.skps_net import SKPSNet

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "skps_net"
TINY = ["--trainer.max_steps=2", "--trainer.enable_progress_bar=false", "--data.init_args.test_episodes=3",
        "--data.init_args.train_query=1", "--data.init_args.seq_len=3", "--model.init_args.seq_len=3",
        "--data.init_args.frame_height=32", "--data.init_args.crop_size=32", "--model.init_args.patch_size=16",
        "--model.init_args.proj_dim=16", "--data.init_args.synthetic.size=32",
        "--data.init_args.synthetic.frames=8", "--data.init_args.synthetic.videos_per_class=3",
        "--data.init_args.synthetic.train_classes=5", "--data.init_args.synthetic.val_classes=1",
        "--data.init_args.synthetic.test_classes=5"]


def test_synthetic_config_fit_test_and_keypatch_strips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(CONFIGS / "synthetic_5w1s.yaml")
    results = tmp_path / "results"
    assert main(["fit", "--config", config, *TINY, f"--results_dir={results}"]) == 0
    rec = json.loads(next(results.glob("*.json")).read_text())
    assert rec["model"] == "skps_net" and rec["dataset"] == "synthetic" and rec["setting"] == "5w1s"
    assert rec["backbone"] == "random_init" and rec["metrics"]["num_episodes"] == 3
    assert 0.0 <= rec["metrics"]["accuracy"] <= 1.0
    assert rec["extras"]["patch_mode"] == "selected" and rec["extras"]["stop_gradient"] is True
    ckpt = next(tmp_path.rglob("last.ckpt"))
    assert main(["test", "--config", config, *TINY, f"--ckpt_path={ckpt}", f"--results_dir={results}"]) == 0
    again = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert {r["metrics"]["accuracy"] for r in again} == {rec["metrics"]["accuracy"]}
    out = tmp_path / "kp"
    assert main(["skps_keypatch", "--config", config, *TINY[3:], f"--ckpt_path={ckpt}", f"--out={out}",
                 "--videos=2"]) == 0
    boxes = json.loads((out / "keypatches.json").read_text())
    assert len(boxes) == 2 and len(list(out.glob("*.png"))) == 2
    for box in boxes.values():
        assert len(box["centres_xy"]) == 3 and all(8 <= v <= 24 for xy in box["centres_xy"] for v in xy)


def test_every_config_parses_and_instantiates_with_paper_values(tmp_path):
    """All 12 configs in one process (ResNet-50 construction dominates the cost)."""
    assert len(list(CONFIGS.glob("*.yaml"))) == 12
    for name in ("hmdb51", "kinetics100", "ucf_crime_v2", "synthetic"):
        for shot in (1, 5, 10):
            args = ["--config", str(CONFIGS / f"{name}_5w{shot}s.yaml")]
            if name != "synthetic":
                args.append(f"--data.init_args.root={tmp_path}")
            if name == "ucf_crime_v2":
                args.append(f"--data.init_args.test_root={tmp_path}")
            cli = VadbenchCLI(args=args, run=False)
            model, dm = cli.model, cli.datamodule
            assert isinstance(model, SKPSNet) and isinstance(dm, EpisodicVideoDataModule)
            h = model.hparams
            assert (dm.way, dm.shot) == (5, shot) and h.patch_mode == "selected"
            assert h.use_patch and h.use_relation and h.refined_loss and h.extra_trm
            assert h.stop_gradient and h.random_map_prob == 0.5 and list(h.cardinalities) == [2, 3]
            opt = model.configure_optimizers()
            assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 0.001
            if name == "synthetic":
                assert dm.dataset_id == "synthetic" and h.seq_len == dm.seq_len
                continue
            assert h.weighting == "raw" and cli.config.trainer.gradient_clip_val is None
            assert (h.backbone, h.local_backbone, h.patch_size, h.selection_layer) == \
                ("resnet50", "resnet50", 128, "layer4")
            assert model.model.feature_dim == 4096 and h.proj_dim == 1152
            assert (dm.seq_len, dm.frame_height, dm.crop_size) == (8, 256, 224)
            assert dm.train_query == (2 if shot == 10 else 3) and dm.test_episodes == 10000
            assert dm.train_episodes == (20000 if name == "hmdb51" else 30000)
            assert dm.test_dataset_id == name
            if name == "ucf_crime_v2":   # cross-dataset: trained on Kinetics-100, tested on UCF-Crime v2
                assert dm.dataset_id == "kinetics100" and dm.test_split == "all"


def _eval_to_train_feature_scale(model, frames):
    """Mean |feature| in eval mode over mean |feature| in train mode, same frames and centres rule."""
    net = model.model
    net.random_map_prob = 0.0
    with torch.no_grad():
        net.eval()
        eval_features = net.embed(frames)
        net.train()
        train_features = net.embed(frames)
    net.eval()
    g = net.global_dim
    return {part: float(eval_features[..., sl].abs().mean() / train_features[..., sl].abs().mean())
            for part, sl in (("global", slice(0, g)), ("local", slice(g, None)))}


@pytest.mark.slow
def test_synthetic_training_keeps_eval_features_on_the_training_scale(tmp_path, monkeypatch):
    """Regression for the constant predictions (test accuracy exactly 0.200) of the synthetic config.

    Random-init ResNets with the paper's SGD (lr 1e-3, momentum 0.9) get gradient norms of ~5e3 at
    the first steps; without clipping the weights move so fast that BatchNorm's running statistics
    lag behind and eval-mode features end up 100-1000x the train-mode ones, the local subspace's
    distances (~1e6) swamp the logits and one class wins every query. The synthetic configs clip
    the gradient norm (`trainer.gradient_clip_val: 1.0`); measured ratio after 10 steps: 0.3-0.6
    with clipping, about 100 without.
    """
    monkeypatch.chdir(tmp_path)
    cli = run_cli(["fit", "--config", str(CONFIGS / "synthetic_5w1s.yaml"), "--trainer.max_steps=10",
                   "--trainer.enable_progress_bar=false", "--data.init_args.train_query=1",
                   "--data.init_args.test_episodes=20", f"--results_dir={tmp_path / 'results'}"])
    batch = next(iter(cli.datamodule.train_dataloader()))
    scale = _eval_to_train_feature_scale(cli.model, torch.cat([batch.support, batch.query]))
    print("eval / train feature scale:", scale)
    assert all(0.1 < v < 5.0 for v in scale.values()), scale
    rec = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert rec["metrics"]["num_episodes"] == 20

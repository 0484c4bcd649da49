"""SKPS-Net configs from the CLI: synthetic fit + test + key-patch strips; real-data configs parse
and build with the paper's values; Table 4 on synthetic videos (slow)."""

import json
from pathlib import Path

import pytest

from vadbench.cli import VadbenchCLI, main
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


@pytest.mark.parametrize("name", ["hmdb51", "kinetics100", "ucf_crime_v2"])
@pytest.mark.parametrize("shot", [1, 5, 10])
def test_real_dataset_configs_parse_and_instantiate(tmp_path, name, shot):
    args = ["--config", str(CONFIGS / f"{name}_5w{shot}s.yaml"), f"--data.init_args.root={tmp_path}"]
    if name == "ucf_crime_v2":
        args.append(f"--data.init_args.test_root={tmp_path}")
    cli = VadbenchCLI(args=args, run=False)
    model, dm = cli.model, cli.datamodule
    assert isinstance(model, SKPSNet) and isinstance(dm, EpisodicVideoDataModule)
    h = model.hparams
    assert (h.backbone, h.local_backbone, h.patch_size, h.selection_layer) == ("resnet50", "resnet50", 128, "layer4")
    assert model.model.feature_dim == 4096 and list(h.cardinalities) == [2, 3] and h.proj_dim == 1152
    assert h.use_patch and h.use_relation and h.refined_loss and h.patch_mode == "selected"
    assert h.stop_gradient and h.random_map_prob == 0.5 and h.extra_trm
    assert (dm.way, dm.shot, dm.seq_len, dm.frame_height, dm.crop_size) == (5, shot, 8, 256, 224)
    assert dm.train_query == (2 if shot == 10 else 3) and dm.test_episodes == 10000
    assert dm.train_episodes == (20000 if name == "hmdb51" else 30000)
    opt = model.configure_optimizers()
    assert type(opt).__name__ == "SGD" and opt.param_groups[0]["lr"] == 0.001
    assert dm.test_dataset_id == name
    if name == "ucf_crime_v2":   # cross-dataset: trained on Kinetics-100, tested on UCF-Crime v2
        assert dm.dataset_id == "kinetics100" and dm.test_split == "all"


@pytest.mark.slow
def test_table4_selected_patches_beat_central_patches_on_small_off_centre_objects(tmp_path, monkeypatch):
    """SKPS-Net Table 4 on synthetic videos: the class cue is a small object in a quadrant, away
    from the centre, so a central patch never sees it; fixed seed, same budget for both models."""
    monkeypatch.chdir(tmp_path)
    config = str(CONFIGS / "synthetic_5w1s.yaml")
    accuracy = {}
    for mode in ("selected", "central"):
        results = tmp_path / f"results_{mode}"
        assert main(["fit", "--config", config, "--trainer.max_steps=60", "--trainer.enable_progress_bar=false",
                     "--data.init_args.train_query=1", "--data.init_args.test_episodes=60",
                     f"--model.init_args.patch_mode={mode}", f"--setting={mode}", f"--results_dir={results}"]) == 0
        accuracy[mode] = json.loads(next(results.glob("*.json")).read_text())["metrics"]["accuracy"]
    print("Table 4 (synthetic):", accuracy)
    assert accuracy["selected"] > accuracy["central"], accuracy

"""STA-MIL through the CLI: synthetic end to end, every packaged config parses and instantiates,
and the real UCF-Crime C3D feature file loads through the MIL datamodule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REAL, require
from vadbench.cli import main
from vadbench.data.mil import MILFeatureDataModule
from vadbench.models.sta_mil import STAMIL
from vadbench.paths import resolve_config
from vadbench.trainer_cli import VadbenchCLI, _resolve_config_args

CONFIGS = ["ucf_crime", "ucf_crime_c3d", "shanghaitech", "shanghaitech_c3d", "ucsd_ped2", "ucsd_ped2_c3d", "synthetic"]
C3D_TXT = REAL / "salva-u_AnomalyDetectionInVideoSurveillance2021/C3D/output/Arrest002_x264.txt"


@pytest.fixture(scope="module")
def small_synthetic(tmp_path_factory) -> Path:
    """16 training and 8 test videos of 32-d, 2-crop synthetic features (UCF-Crime layout)."""
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    cfg = SyntheticMILConfig(feature_dim=32, crops=2, train_normal=8, train_abnormal=8, test_normal=4,
                             test_abnormal=4, min_snippets=20, max_snippets=40)
    return write_synthetic_mil(tmp_path_factory.mktemp("sta_mil_synth") / "mil", cfg)


@pytest.mark.parametrize("scorer,use_mce", [("bd_rnn", "true"), ("fc", "false")])
def test_fit_and_test_on_synthetic_write_auc_and_score_gap(small_synthetic, tmp_path, scorer, use_mce):
    results = tmp_path / "results"
    code = main(["fit", "--config", "sta_mil/synthetic.yaml",
                 "--data.init_args.root", str(small_synthetic), "--data.init_args.feature_dim=32",
                 "--data.init_args.batch_size=4",
                 "--model.init_args.net.init_args.num_crops=2",
                 f"--model.init_args.net.init_args.scorer={scorer}", f"--model.init_args.loss.init_args.use_mce={use_mce}",
                 "--trainer.max_steps=4", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
                 "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path / 'runs'}",
                 "--setting", f"{scorer}_mce_{use_mce}", "--results_dir", str(results)])
    assert code == 0
    [path] = list(results.glob("*.json"))
    record = json.loads(path.read_text())
    assert record["model"] == "sta_mil" and record["dataset"] == "synthetic"
    assert record["setting"] == f"{scorer}_mce_{use_mce}"
    m = record["metrics"]
    for key in ("frame_auc_micro", "score_mean_negative", "score_mean_positive", "score_gap"):
        assert np.isfinite(m[key]), key
    assert 0 <= m["frame_auc_micro"] <= 1
    assert m["score_gap"] == pytest.approx(m["score_mean_positive"] - m["score_mean_negative"], abs=1e-6)
    assert record["extras"]["scorer"] == scorer and record["extras"]["use_mce"] == (use_mce == "true")
    if scorer == "fc":
        return

    ckpt = next((tmp_path / "runs").rglob("last.ckpt"))
    code = main(["test", "--config", "sta_mil/synthetic.yaml",
                 "--data.init_args.root", str(small_synthetic), "--data.init_args.feature_dim=32",
                 "--model.init_args.net.init_args.num_crops=2",
                 f"--model.init_args.net.init_args.scorer={scorer}", f"--model.init_args.loss.init_args.use_mce={use_mce}",
                 "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
                 f"--trainer.default_root_dir={tmp_path / 'runs_test'}",
                 "--ckpt_path", str(ckpt), "--results_dir", str(results)])
    assert code == 0
    again = [json.loads(p.read_text()) for p in results.glob("*.json") if p != path]
    assert len(again) == 1
    assert again[0]["metrics"]["frame_auc_micro"] == pytest.approx(m["frame_auc_micro"])  # same weights, same AUC


@pytest.mark.parametrize("name", CONFIGS)
def test_packaged_configs_parse_and_instantiate(name):
    cli = VadbenchCLI(args=_resolve_config_args(["--config", str(resolve_config(f"sta_mil/{name}.yaml")),
                                                 "--trainer.logger=false"]), run=False)
    model, data = cli.model, cli.datamodule
    assert isinstance(model, STAMIL) and isinstance(data, MILFeatureDataModule)
    net, loss = model.hparams.net["init_args"], model.hparams.loss["init_args"]
    assert net["feature_dim"] == model.model.feature_dim == data._feature_dim       # linked from the data
    assert (net["qk_channels"], net["recurrence"], net["scorer"], net["rnn_hidden"], net["rnn_layers"],
            loss["use_mce"]) == (10, 2, "bd_rnn", 64, 2, True)
    assert (loss["lambda_mce"], loss["mce_margin"], loss["lambda_smooth"], loss["lambda_sparsity"]) == \
        (2e-2, 0.4, 2e-4, 4e-5)
    assert (model.loss.lambda_mce, model.loss.mil.lambda_smooth) == (2e-2, 2e-4)   # the objects got them too
    opt = model.optimizer_factory(model.parameters())
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["lr"] == 1e-4
    assert data.dataset_id == name.replace("_c3d", "")
    with torch.no_grad():  # one short video through the configured dims (T = 2 keeps the N x C map small)
        scores = model.model(torch.randn(1, 2, net["num_crops"], net["feature_dim"])).scores
    assert scores.shape == (1, 2) and torch.isfinite(scores).all()


def test_real_c3d_file_loads_through_the_datamodule(tmp_path):
    """Arrest002_x264.txt: Sultani et al.'s C3D fc6 output, 32 segments x 4096, rows L2-normalised."""
    txt = np.loadtxt(require(C3D_TXT), dtype=np.float64)
    assert txt.shape == (32, 4096)
    root = tmp_path / "feats"
    root.mkdir()
    np.save(root / "Arrest002_x264_c3d.npy", txt.astype(np.float32))
    np.save(root / "Normal_Videos_copy_x264_c3d.npy", txt[::-1].astype(np.float32))  # a "normal" copy
    split = tmp_path / "split.txt"
    split.write_text("Arrest002_x264 1\nNormal_Videos_copy_x264 0\n")
    # the real annotation of Arrest002 is for its full-length video: a stand-in interval inside the
    # 32 x 16 frames these 32 segments cover
    annotations = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    annotations.write_text("Arrest002_x264.mp4  Arrest  100  300  -1  -1\n")
    dm = MILFeatureDataModule(dataset="ucf_crime", root=str(root), train_list=str(split), test_list=str(split),
                              annotations=str(annotations), feature_suffix="_c3d.npy", feature_dim=4096,
                              batch_size=1, num_segments=32)
    dm.setup("fit")
    assert dm.feature_dim == 4096
    batch = next(iter(dm.train_dataloader()))
    assert batch.features.shape == (2, 32, 1, 4096)
    assert batch.labels.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(batch.features[1, :, 0].numpy(), txt, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(batch.features[1, :, 0].norm(dim=-1).numpy(), 1.0, atol=1e-5)
    test = next(iter(dm.test_dataloader()))
    assert test.features.shape == (1, 32, 1, 4096)
    assert test.frame_labels.shape == (1, 512) and int(test.frame_labels.sum()) == 201

    bad = root / "Broken_c3d.npy"
    np.save(bad, txt[:, :100].astype(np.float32))
    split.write_text("Arrest002_x264 1\nBroken 0\n")
    with pytest.raises(ValueError, match="Broken_c3d.npy.*feature dim 100.*4096"):
        MILFeatureDataModule(dataset="ucf_crime", root=str(root), train_list=str(split), test_list=str(split),
                             annotations=str(annotations), feature_suffix="_c3d.npy", feature_dim=4096).setup("fit")

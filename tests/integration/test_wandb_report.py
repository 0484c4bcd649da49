"""Two synthetic fits with the wandb logger (offline) and `vadbench report`: everything read back
from the offline run files, never a network call (WANDB_MODE=offline, a temp WANDB_DIR)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vadbench.cli import main
from vadbench.results import load_records

pytest.importorskip("wandb")


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory but what we ask for
    return tmp_path


def test_two_fits_and_report_read_back_from_offline_runs(tiny_synthetic_mil, offline_wandb):
    from vadbench.leaderboard.wandb_report import read_offline_run

    tmp = offline_wandb
    common = [f"--data.init_args.root={tiny_synthetic_mil}", "--data.init_args.feature_dim=64", "--data.init_args.batch_size=8", "--trainer.max_steps=6",
              "--trainer.log_every_n_steps=2", "--trainer.enable_progress_bar=false",
              "--trainer.enable_model_summary=false", "--trainer.default_root_dir=runs",  # relative, as by default
              f"--results_dir={tmp / 'results'}"]
    for seed in (0, 1):
        assert main(["fit", "--config", "rtfm/synthetic.yaml", "--config", "logger/wandb.yaml", *common,
                     f"--seed_everything={seed}"]) == 0
    assert sorted(p.name for p in tmp.iterdir()) == ["results", "runs"]  # no ./wandb, ./vadbench, config.yaml
    records = sorted(load_records([tmp / "results"]), key=lambda r: r["seed"])
    assert [r["seed"] for r in records] == [0, 1]
    run_dirs = {}
    for rec in records:
        info = rec["wandb"]
        assert info["mode"] == "offline" and info["name"] == f"rtfm-synthetic-default-seed{rec['seed']}"
        assert Path(info["dir"]).parent == Path(rec["extras"]["run_dir"]) / "wandb"  # inside the run's own folder
        assert Path(rec["extras"]["run_dir"]).is_relative_to(tmp / "runs")
        run = read_offline_run(info["dir"])
        run_dirs[info["id"]] = run
        # name, group, tags, job type
        assert run["run"]["id"] == info["id"] and run["run"]["name"] == info["name"]
        assert run["run"]["group"] == "rtfm-synthetic-default" and run["run"]["job_type"] == "fit"
        assert {"rtfm", "synthetic", f"seed{rec['seed']}"} <= set(run["run"]["tags"])
        # the full resolved config: model class, data, trainer, seed, optimizer
        cfg = run["config"]
        # one copy of each value: no LightningModule hyper-parameters repeated beside the nested `model:` block
        assert not {"net", "loss", "optimizer", "_instantiator", "scheduler", "ckpt_path"} & set(cfg), sorted(cfg)
        assert cfg["model"]["class_path"] == "vadbench.models.rtfm.RTFM"
        assert cfg["data"]["init_args"]["root"] == str(tiny_synthetic_mil)
        assert cfg["data"]["init_args"]["batch_size"] == 8 and cfg["trainer"]["max_steps"] == 6
        assert cfg["seed_everything"] == rec["seed"]
        assert cfg["model"]["init_args"]["optimizer"]["init_args"]["lr"] == pytest.approx(0.001)
        assert cfg["vadbench/dataset"] == "synthetic" and cfg["vadbench/setting"] == "default"
        import yaml

        saved = yaml.safe_load((Path(info["dir"]) / "files" / "vadbench_config.yaml").read_text())
        assert saved["model"] == cfg["model"] and saved["seed_everything"] == rec["seed"]
        # per-step metrics with the loss terms
        steps = [h for h in run["history"] if "train/loss" in h]
        assert [h["trainer/global_step"] for h in steps] == [1, 3, 5]
        assert {"train/loss", "train/magnitude", "train/classification", "train/sparsity"} <= set(steps[0])
        # test metrics as summary values, equal to the result JSON
        for name in ("frame_auc_micro", "frame_ap_micro", "frame_auc_macro", "frame_auc_abnormal", "frame_ap_abnormal",
                     "frame_far_normal"):
            assert run["summary"][f"test/{name}"] == pytest.approx(rec["metrics"][name])
        # ROC and PR curves as wandb.plot charts (tables of points)
        roc, pr = run["tables"]["test/roc_curve_table"], run["tables"]["test/pr_curve_table"]
        assert roc["columns"] == ["class", "fpr", "tpr"] and pr["columns"] == ["class", "recall", "precision"]
        fpr = [r[1] for r in roc["data"]]
        assert fpr[0] == 0.0 and fpr[-1] == 1.0 and fpr == sorted(fpr)
        assert f"AUC {100 * rec['metrics']['frame_auc_micro']:.2f}" in roc["data"][0][0]
        # artifacts: result JSON + scores, checkpoint
        arts = {a["type"]: a for a in run["artifacts"] if a["type"] in ("result", "model")}
        assert sorted(arts["result"]["files"]) == ["result.json", "scores.npz"]
        assert arts["model"]["files"] == ["last.ckpt"]
    assert len(run_dirs) == 2

    # the comparison report: numeric tables linked to both runs, HTML for readers without wandb
    assert main(["report", "--results", str(tmp / "results"), "--out", str(tmp / "report")]) == 0
    html = (tmp / "report" / "report.html").read_text()
    assert "rtfm-synthetic-default-seed0" in html and "rtfm-synthetic-default-seed1" in html
    import os

    link = Path(os.path.relpath(records[0]["wandb"]["dir"], tmp / "report")).as_posix()
    assert f'href="{link}"' in html  # links to the offline run
    assert "<img" in html and (tmp / "report" / "plots" / "roc_pr_synthetic.png").is_file()
    report_dir = next((tmp / "report" / "wandb").glob("offline-run-*"))
    report = read_offline_run(report_dir)
    assert report["run"]["job_type"] == "report"
    paths = sorted(r["wandb"]["path"] for r in records)
    assert sorted(report["config"]["linked_runs"]) == paths
    # synthetic runs are compared on their own test set, never beside a paper's UCF-Crime numbers
    assert not [k for k in report["tables"] if k.startswith("paper/")]
    (key,) = [k for k in report["tables"] if k.startswith("runs/synthetic")]
    table = report["tables"][key]
    rows = [dict(zip(table["columns"], r)) for r in table["data"]]
    auc = [r for r in rows if r["metric"] == "frame_auc_micro"]
    assert len(auc) == 1
    row = auc[0]
    values = [100 * r["metrics"]["frame_auc_micro"] for r in records]
    mean = sum(values) / 2
    std = (sum((v - mean) ** 2 for v in values)) ** 0.5  # sample std, n - 1 = 1
    assert isinstance(row["ours_mean"], float) and row["ours_mean"] == pytest.approx(mean, abs=1e-4)
    assert row["ours_std"] == pytest.approx(std, abs=1e-4) and row["n_seeds"] == 2 and row["seeds"] == "0,1"
    assert row["paper"] is None and row["diff"] is None  # synthetic: not comparable
    assert sorted(row["runs"].split()) == paths
    assert row["data_fingerprint"] == records[0]["data_fingerprint"]
    # the loss curves of both seeds, read back from their offline wandb runs (no CSV log with the wandb logger)
    assert (tmp / "report" / "plots" / "loss_synthetic.png").is_file() and "loss_synthetic.png" in html
    from vadbench.leaderboard.curves import read_history, run_folder

    for rec in records:
        history = read_history(run_folder(rec))
        assert sorted(history["train/loss"]) == [1, 3, 5] and "train/magnitude" in history
    # the README's upload command names these offline runs (no upload here: never a network call)
    import glob

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sync = [line for line in readme.splitlines() if line.startswith("wandb sync ")][0].split("#")[0].split()[2:]
    found = sorted(p for pattern in sync for p in glob.glob(str(tmp / pattern)))
    assert sorted([str(Path(r["wandb"]["dir"])) for r in records] + [str(report_dir)]) == found


def test_lightning_wandb_logger_by_class_name_gets_the_same_defaults(tiny_synthetic_mil, offline_wandb):
    """`--trainer.logger WandbLogger` (Lightning's class): offline, files under the run folder, named."""
    from vadbench.leaderboard.wandb_report import read_offline_run

    tmp = offline_wandb
    assert main(["fit", "--config", "sultani/synthetic.yaml", "--trainer.logger=WandbLogger",
                 f"--data.init_args.root={tiny_synthetic_mil}", "--data.init_args.feature_dim=64", "--data.init_args.batch_size=8", "--trainer.max_steps=2",
                 "--trainer.enable_progress_bar=false", "--setting=smoke", "--results_dir=results"]) == 0
    assert sorted(p.name for p in tmp.iterdir()) == ["results", "runs"]
    rec = load_records([tmp / "results"])[0]
    run = read_offline_run(rec["wandb"]["dir"])
    assert run["run"]["name"] == "sultani-synthetic-smoke-seed0" and run["run"]["group"] == "sultani-synthetic-smoke"
    assert run["config"]["model"]["class_path"].startswith("vadbench.models.sultani")
    assert not {"net", "loss", "optimizer", "_instantiator"} & set(run["config"])   # no duplicate top-level keys
    assert run["summary"]["test/frame_auc_micro"] == pytest.approx(rec["metrics"]["frame_auc_micro"])

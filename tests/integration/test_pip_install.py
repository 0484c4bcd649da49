"""`pip install .` (not only `-e`): the wheel carries the packaged configs, manifests and metafiles, and a
researcher's day (issue 25) works from an empty folder with the installed package: help and argument errors
before Lightning is imported, a checkpoint that tests itself, outputs under the working folder, inputs from
./results, the committed board out of reach. One venv per session (the `wheel_install` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_pip_install_into_a_fresh_venv_and_run_from_another_folder(wheel_install):
    w = wheel_install
    elsewhere = w.new_folder()
    where = subprocess.run([str(w.python), "-c", "import vadbench, vadbench.paths as p; print(vadbench.__file__); "
                            "print(p.CONFIGS_DIR); print(p.MANIFESTS_DIR)"],
                           capture_output=True, text=True, env=w.env, cwd=elsewhere, timeout=120)
    assert where.returncode == 0, where.stderr
    module, configs, manifests = (Path(x) for x in where.stdout.split())
    assert w.venv in module.parents, f"vadbench imported from {module}, not the venv"
    src_pkg = w.src / "vadbench"
    shipped = {p.relative_to(src_pkg) for pattern in ("configs/**/*.yaml", "data_manifests/**/*", "models/*/metafile.yml")
               for p in src_pkg.glob(pattern) if p.is_file()}
    installed = module.parent
    missing = sorted(str(p) for p in shipped if not (installed / p).is_file())
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert (configs / "ssrl" / "ucf_crime.yaml").is_file() and any(manifests.iterdir())
    version = subprocess.run([str(w.vadbench), "--version"], capture_output=True, text=True, env=w.env, cwd=elsewhere)
    assert version.stdout.startswith("vadbench ")
    usage = subprocess.run([str(w.vadbench), "fit", "--help"], capture_output=True, text=True, env=w.env, cwd=elsewhere)
    assert usage.returncode == 0 and "ssrl:" in usage.stdout and "ucf_crime" in usage.stdout   # the packaged names
    assert sorted(p.name for p in elsewhere.iterdir()) == []   # nothing written where it ran
    assert sys.executable  # the test's own interpreter is untouched


# One process of the installed package, from an empty folder: each step prints `STEP <name> <exit status>`
# and, for the first ones, which heavy modules were imported by then.
DAY = r"""
import glob, sys
from vadbench.cli import main

def step(name, argv):
    try:
        rc = main(argv)
    except SystemExit as stop:
        rc = stop.code or 0
    heavy = [m for m in ("torch", "lightning") if m in sys.modules]
    print(f"STEP {name} {rc} heavy={','.join(heavy) or '-'}", flush=True)

TINY = ["--trainer.max_steps=2", "--trainer.log_every_n_steps=1", "--data.init_args.batch_size=2",
        "--data.init_args.feature_dim=16",
        "--data.init_args.synthetic={train_normal: 6, train_abnormal: 6, test_normal: 3, test_abnormal: 3, "
        "min_snippets: 16, max_snippets: 32}"]
step("fit_help", ["fit", "--help"])
step("test_no_args", ["test"])
step("misspelt_option", ["fit", "--config", "rtfm/synthetic.yaml", "--trainer.max_step", "2"])
step("unknown_config", ["fit", "--config", "rtfm/nothere.yaml"])
step("print_config", ["fit", "--config", "ssrl_ucf.yaml", "--print_config"])
step("help_all", ["fit", "--help-all"])
step("fit", ["fit", "--config", "rtfm/synthetic.yaml", *TINY])
ckpt = glob.glob("runs/rtfm/synthetic/default/seed0-*/checkpoints/last.ckpt")
step("test_ckpt", ["test", "--ckpt_path", *ckpt, "--setting", "retest"])
step("predict_ckpt", ["predict", "--ckpt_path", *ckpt])
step("no_root", ["fit", "--config", "rtfm/ucf_crime.yaml"])
step("leaderboard", ["leaderboard"])
step("committed", ["leaderboard", "--committed"])
step("report", ["report", "--no-wandb"])
step("plot_roc", ["plot", "roc", "--results", "results", "--out", "roc.png"])
step("reproduce_real", ["reproduce", "rtfm-baseline", "--dry-run", "--seeds", "0"])
step("reproduce_synthetic", ["reproduce", "rtfm-baseline", "--data", "synthetic", "--dry-run", "--seeds", "0"])
step("data_info", ["data", "info", "ucf_crime"])
"""


def test_a_researchers_day_with_the_installed_package(wheel_install, tmp_path):
    w = wheel_install
    work = w.new_folder()
    env = {**w.env, "VADBENCH_HOME": str(tmp_path / "home"), "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(w.python), "-c", DAY], capture_output=True, text=True, env=env, cwd=work, timeout=900)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    steps = {}
    for line in proc.stdout.splitlines():
        if line.startswith("STEP "):
            _, name, rc, heavy = line.split(" ", 3)
            steps[name] = (int(rc), heavy.removeprefix("heavy="))
    assert list(steps) == ["fit_help", "test_no_args", "misspelt_option", "unknown_config", "print_config",
                           "help_all", "fit", "test_ckpt",
                           "predict_ckpt", "no_root", "leaderboard", "committed", "report", "plot_roc",
                           "reproduce_real", "reproduce_synthetic", "data_info"], text[-3000:]
    # help and the common argument errors: answered before torch / Lightning are imported
    assert steps["fit_help"] == (0, "-") and "packaged experiments" in proc.stdout and "--help-all" in proc.stdout
    for name in ("test_no_args", "misspelt_option", "unknown_config"):
        assert steps[name] == (2, "-"), (name, steps[name])
    assert "give --config NAME (vadbench configs lists them) or --ckpt_path" in proc.stderr
    assert "--trainer.max_step: no such option (did you mean --trainer.max_steps?)" in proc.stderr
    # a packaged config by its short name, resolved from the empty folder
    assert steps["print_config"][0] == 0
    assert "class_path: vadbench.models.ssrl.SSRL" in proc.stdout and "dataset: ucf_crime" in proc.stdout
    assert steps["help_all"][0] == 0 and "--trainer.max_steps" in proc.stdout   # Lightning's full help, a flag away
    # a checkpoint tests itself (its run folder's config.yaml; the user's --setting still applies)
    assert steps["fit"][0] == steps["test_ckpt"][0] == steps["predict_ckpt"][0] == 0
    results = [json.loads(p.read_text()) for p in (work / "results").glob("*.json")]
    assert sorted(r["setting"] for r in results) == ["default", "retest"]
    assert list(work.glob("runs/rtfm/synthetic/default/predict-seed0-*/predictions/rtfm-synthetic.csv"))
    assert "vadbench: synthetic data in" in proc.stderr
    # a failed fit: one line naming `vadbench data info`, and no run folder left behind
    assert steps["no_root"][0] == 2 and "`vadbench data info ucf_crime`" in proc.stderr
    assert not (work / "runs" / "rtfm" / "ucf_crime").exists()
    # inputs from ./results, outputs under the working folder; the committed board is not in a wheel
    assert steps["leaderboard"][0] == 0 and (work / "leaderboard" / "README.md").is_file()
    assert steps["committed"][0] == 2 and "not in an installed package" in proc.stderr
    assert steps["report"][0] == 0 and (work / "report" / "plots" / "loss_synthetic.png").is_file()
    assert steps["plot_roc"][0] == 0 and (work / "roc.png").is_file()
    assert steps["reproduce_real"][0] == 0 and "[needs --root ucf_crime]" in proc.stdout
    assert "--results_dir results " in proc.stdout and "--results_dir results/synthetic " in proc.stdout
    assert str(w.venv) in proc.stdout.split("STEP reproduce_synthetic")[1]   # data info: the packaged manifest
    assert "site-packages/leaderboards" not in text
    assert sorted(p.name for p in work.iterdir()) == ["leaderboard", "report", "results", "roc.png", "runs"]

"""`pip install .` (not only `-e`): the wheel carries the packaged configs, manifests and metafiles,
and `vadbench fit --config ssrl_ucf.yaml --print_config` works from any folder."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = {".git", "runs", "results", "build", "dist", "leaderboard", "report", "wandb", "__pycache__", ".pytest_cache"}


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_and_run_from_another_folder(tmp_path):
    src = tmp_path / "src"   # a copy: pip builds in the source folder (build/, *.egg-info) and must not touch ours
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # The new venv sees the packages of the environment running the tests (pip, the build backend,
    # vadbench's dependencies): in a fresh venv, what `make install` installed from the project's own
    # files, never the base interpreter's packages by accident (issue #20: `system_site_packages`
    # meant the base interpreter's, so a fresh venv failed on a build tool the project never installed).
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    outer = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    Path(purelib, "_tests_outer_env.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in outer if Path(d).is_dir()) + "\n")
    env["PIP_NO_INDEX"] = "1"          # never a network call: the dependencies are the system's
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    out = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", str(src)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(py), "-c", "import vadbench, vadbench.paths as p; print(vadbench.__file__); "
                            "print(p.CONFIGS_DIR); print(p.MANIFESTS_DIR)"],
                           capture_output=True, text=True, env=env, cwd=elsewhere, timeout=120)
    assert where.returncode == 0, where.stderr
    module, configs, manifests = (Path(x) for x in where.stdout.split())
    assert env_dir in module.parents, f"vadbench imported from {module}, not the venv"
    src_pkg = src / "vadbench"
    shipped = {p.relative_to(src_pkg) for pattern in ("configs/**/*.yaml", "data_manifests/**/*", "models/*/metafile.yml")
               for p in src_pkg.glob(pattern) if p.is_file()}
    installed = module.parent
    missing = sorted(str(p) for p in shipped if not (installed / p).is_file())
    assert not missing, f"not in the wheel: {missing[:10]}"
    assert (configs / "ssrl" / "ucf_crime.yaml").is_file() and any(manifests.iterdir())
    vadbench = env_dir / "bin" / "vadbench"
    run = subprocess.run([str(vadbench), "fit", "--config", "ssrl_ucf.yaml", "--print_config"],
                         capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "class_path: vadbench.models.ssrl.SSRL" in run.stdout and "dataset: ucf_crime" in run.stdout
    version = subprocess.run([str(vadbench), "--version"], capture_output=True, text=True, env=env, cwd=elsewhere)
    assert version.stdout.startswith("vadbench ")
    assert sorted(p.name for p in elsewhere.iterdir()) == []   # nothing written where it ran
    assert sys.executable  # the test's own interpreter is untouched

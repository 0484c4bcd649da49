"""Shared fixtures: where ../shared is (tests using it skip cleanly when absent), tiny synthetic data."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import venv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

# One intra-op thread: the tests' tensors are small, and on a busy 2-core machine more threads
# oversubscribe the cores (measured 40x slower). Subprocesses inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VADBENCH_SHARED", REPO.parent / "shared"))
REAL = SHARED / "real_data"
REFERENCE = SHARED / "reference_data"


# The longest tests (minutes on 2 cores). `make test` runs 2 xdist workers with `--dist load
# --maxschedchunk 1`: xdist hands the first two tests to worker 1 and the next two to worker 2, then
# one at a time, so these two go first and to different workers instead of ending the run one after
# the other.
LONGEST_FIRST = ("test_table4_selected_key_patch_beats_central_patch_on_synthetic_5shot",
                 "test_full_ssrl_beats_rtfm_and_its_clip_only_stage")


def pytest_collection_modifyitems(config, items):
    """Order: longest test, a slow one, the second longest, the other slow ones, the rest."""
    longest = sorted((i for i in items if i.name in LONGEST_FIRST), key=lambda i: LONGEST_FIRST.index(i.name))
    slow = [i for i in items if i.get_closest_marker("slow") and i.name not in LONGEST_FIRST]
    fast = [i for i in items if not i.get_closest_marker("slow")]
    if len(longest) > 1:   # positions 0 and 2: the first two tests go to one worker, the next two to the other
        slow = slow[:1] + longest[1:] + slow[1:]
        longest = longest[:1]
    items[:] = longest + slow + fast


@pytest.fixture
def one_torch_thread(monkeypatch):
    """One torch thread for in-process extraction/training (restored afterwards)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def require(path: Path) -> Path:
    """Skip the calling test when a ../shared file is absent."""
    if not path.exists():
        pytest.skip(f"{path} not available (../shared absent)")
    return path


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path_factory, monkeypatch):
    """Generated data goes to a per-session temp folder, never to the user's cache."""
    home = tmp_path_factory.getbasetemp() / "vadbench_home"
    monkeypatch.setenv("VADBENCH_HOME", str(home))
    monkeypatch.setenv("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def tiny_synthetic_mil(tmp_path_factory) -> Path:
    """A small synthetic MIL dataset on disk (UCF-Crime layout)."""
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    out = tmp_path_factory.mktemp("synth") / "mil"
    cfg = SyntheticMILConfig(feature_dim=64, crops=2, train_normal=24, train_abnormal=24, test_normal=8,
                             test_abnormal=8, min_snippets=24, max_snippets=60)
    return write_synthetic_mil(out, cfg)


WHEEL_SKIP = {".git", "runs", "results", "build", "dist", "leaderboard", "report", "wandb", "__pycache__",
              ".pytest_cache"}


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory) -> SimpleNamespace:
    """vadbench installed with `pip install .` (a wheel, not editable) into a fresh venv that sees the system's
    dependencies (no network: PIP_NO_INDEX). Built once per session; tests run it from `new_folder()`s.

    Fields: `python`, `vadbench` (the console script), `venv`, `env` (no PYTHONPATH: the source tree is not
    importable), `new_folder()` (an empty folder outside the repository)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"   # a copy: pip builds in the source folder (build/, *.egg-info) and must not touch ours
    # outputs a developer may have in the checkout are left out, at its top level only (`vadbench/leaderboard/`
    # is package code, `./leaderboard/` an output)
    shutil.copytree(REPO, src, symlinks=True,
                    ignore=lambda d, names: [n for n in names if (n in WHEEL_SKIP and Path(d) == REPO)
                                             or n in ("__pycache__", ".pytest_cache") or n.endswith(".egg-info")])
    env_dir = base / "venv"
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
    count = iter(range(10**6))

    def new_folder() -> Path:
        folder = base / f"elsewhere{next(count)}"
        folder.mkdir()
        return folder

    return SimpleNamespace(python=py, vadbench=env_dir / "bin" / "vadbench", venv=env_dir, src=src, env=env,
                           new_folder=new_folder)

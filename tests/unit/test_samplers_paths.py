import os
import subprocess
import sys

import pytest

from vadbench.data.samplers import EvalDistributedSampler
from vadbench.paths import CONFIGS_DIR, resolve_config


@pytest.mark.parametrize("n,world", [(7, 2), (8, 2), (5, 3), (1, 4), (0, 2)])
def test_eval_sampler_partitions_exactly(n, world):
    parts = [list(EvalDistributedSampler(range(n), num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for p in parts for i in p) == list(range(n))
    assert [len(EvalDistributedSampler(range(n), world, r)) for r in range(world)] == [len(p) for p in parts]


@pytest.mark.parametrize("name,expected", [
    ("rtfm/ucf_crime.yaml", "rtfm/ucf_crime.yaml"),
    ("configs/rtfm/ucf_crime.yaml", "rtfm/ucf_crime.yaml"),
    ("rtfm_ucf.yaml", "rtfm/ucf_crime.yaml"),
    ("rtfm_ucf_crime.yaml", "rtfm/ucf_crime.yaml"),
    ("sultani_sh.yaml", "sultani/shanghaitech.yaml"),
    ("rtfm_ped2.yaml", "rtfm/ucsd_ped2.yaml"),
    ("trainer/ddp_sim.yaml", "trainer/ddp_sim.yaml"),
])
def test_packaged_config_names_resolve_from_anywhere(name, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_config(name) == CONFIGS_DIR / expected


def test_user_yaml_wins_and_unknown_names_fail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = tmp_path / "rtfm_ucf.yaml"
    own.write_text("seed_everything: 1\n")
    assert resolve_config("rtfm_ucf.yaml") == own
    with pytest.raises(FileNotFoundError, match="neither a file nor a packaged config"):
        resolve_config("nothing_here.yaml")


def test_cli_print_config_from_another_directory(tmp_path):
    out = subprocess.run([sys.executable, "-m", "vadbench.cli", "fit", "--config", "rtfm_ucf.yaml", "--print_config"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    assert "class_path: vadbench.models.rtfm.RTFM" in out.stdout and "dataset: ucf_crime" in out.stdout

"""End to end: `vadbench reproduce rtfm-baseline --data synthetic` trains and tests Sultani and RTFM on
the synthetic MIL set (tiny: 3 steps, 1 seed, a small generated set) in subprocesses, and prints the
table beside the MSIP paper's numbers; a second call finds the results and runs nothing."""

from __future__ import annotations

import json

import pytest

from vadbench.cli import main as vadbench_main
from vadbench.results import load_records

SMALL_SYNTHETIC = json.dumps({"train_normal": 16, "train_abnormal": 16, "test_normal": 4, "test_abnormal": 4,
                              "min_snippets": 16, "max_snippets": 32})


@pytest.mark.slow
def test_reproduce_rtfm_baseline_synthetic_end_to_end(tmp_path, capsys):
    res, work = tmp_path / "results", tmp_path / "work"
    argv = ["reproduce", "rtfm-baseline", "--data", "synthetic", "--seeds", "0", "--max-steps", "3",
            "--results-dir", str(res), "--work-dir", str(work), "--out", str(tmp_path / "table.md"),
            "--", f"--data.init_args.synthetic={SMALL_SYNTHETIC}", "--trainer.enable_progress_bar=false"]
    rc = vadbench_main(argv)
    out = capsys.readouterr().out
    logs = sorted((work / "logs").glob("*.log"))
    assert rc == 0, out + "\n".join(p.read_text()[-2000:] for p in logs)
    recs = load_records([res])
    assert sorted((r["model"], r["dataset"], r["setting"], r["seed"], r["data_source"]) for r in recs) == [
        ("rtfm", "synthetic", "default", 0, "synthetic"), ("sultani", "synthetic", "default", 0, "synthetic")]
    for r in recs:
        assert 0.0 <= r["metrics"]["frame_auc_micro"] <= 1.0
        assert r["config"]["trainer"]["max_steps"] == 3
    table = (tmp_path / "table.md").read_text()
    assert table in out
    rtfm = next(line for line in table.splitlines() if line.startswith("| RTFM |"))
    ours = 100 * next(r for r in recs if r["model"] == "rtfm")["metrics"]["frame_auc_micro"]
    assert rtfm == f"| RTFM | rtfm | default | last | 0 | {ours:.2f} | 84.30 | 97.21 |"
    assert "| Sultani et al. (I3D) | sultani | default | last | 0 |" in table
    # a second call finds both results and runs nothing
    assert vadbench_main(argv) == 0
    assert "2 run(s), 2 already in" in capsys.readouterr().out
    assert len(load_records([res])) == 2


def test_table_without_configs_names_them(tmp_path, capsys, monkeypatch):
    """A table whose config files are absent (a user's trimmed checkout) is an error naming them."""
    monkeypatch.setattr("vadbench.leaderboard.specs.CONFIGS_DIR", tmp_path / "configs")   # holds nothing
    assert vadbench_main(["reproduce", "ssrl-table5", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "configs" / "ssrl") in err and "do not exist" in err

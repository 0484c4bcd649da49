"""`vadbench leaderboard --wandb`: numeric comparison tables logged to an offline wandb run."""

from __future__ import annotations

import pytest

from vadbench.commands import leaderboard as lb_cmd
from vadbench.results import make_record, write_record

wandb = pytest.importorskip("wandb")


def test_leaderboard_logs_numeric_tables_to_an_offline_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    res = tmp_path / "results"
    for seed, auc in ((0, 0.83), (1, 0.85)):
        rec = make_record(model="rtfm", model_class="x", dataset="ucf_crime", metrics={"frame_auc_micro": auc},
                          model_selection="last", data_source="real", seed=seed)
        rec["wandb"] = {"id": f"run{seed}", "path": f"me/vadbench/run{seed}", "name": f"rtfm-s{seed}"}
        write_record(res, rec)
    assert lb_cmd.main(["--results", str(res), "--out", str(tmp_path / "board"), "--wandb",
                        "--wandb-project", "vadbench-test"]) == 0
    assert "wandb sync" in capsys.readouterr().out
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    from vadbench.leaderboard.wandb_report import read_offline_run

    run = read_offline_run(runs[0])
    assert run["run"]["job_type"] == "report"
    assert run["config"]["linked_runs"] == ["me/vadbench/run0", "me/vadbench/run1"]
    table = run["tables"]["runs/ucf_crime"]
    row = dict(zip(table["columns"], table["data"][0]))
    # numbers, not "84.00 ± 1.41": wandb can sort and chart them
    assert row["ours_mean"] == pytest.approx(84.0) and row["ours_std"] == pytest.approx(1.41421356, abs=1e-4)
    assert row["n_seeds"] == 2 and row["paper"] == pytest.approx(84.3) and row["diff"] == pytest.approx(-0.3)
    assert row["runs"] == "me/vadbench/run0 me/vadbench/run1"
    paper = run["tables"]["paper/ssrl-table1"]
    assert dict(zip(paper["columns"], paper["data"][0]))["paper ucf_crime"] == pytest.approx(84.3)

"""`vadbench leaderboard --wandb`: tables and plots logged to an offline wandb run."""

from __future__ import annotations

import pytest

from vadbench.commands import leaderboard as lb_cmd
from vadbench.results import make_record, write_record

wandb = pytest.importorskip("wandb")


def test_leaderboard_logs_offline_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    res = tmp_path / "results"
    for seed, auc in ((0, 0.83), (1, 0.85)):
        write_record(res, make_record(model="rtfm", model_class="x", dataset="ucf_crime",
                                      metrics={"frame_auc_micro": auc}, model_selection="last",
                                      data_source="real", seed=seed))
    assert lb_cmd.main(["--results", str(res), "--out", str(tmp_path / "board"), "--wandb",
                        "--wandb-project", "vadbench-test"]) == 0
    out = capsys.readouterr().out
    assert "wandb sync" in out
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "wandb").iterdir())
    files = {p.name for p in runs[0].rglob("*")}
    assert any(name.endswith(".wandb") for name in files)  # the offline log `wandb sync` uploads
    tables = [p for p in runs[0].rglob("*.table.json")]
    assert any("ucf_crime" in p.name for p in tables), sorted(files)
    text = next(p for p in tables if "ucf_crime" in p.name).read_text()
    assert "84.00 ± 1.41" in text and "84.30 [SSRL table1]" in text

"""Leaderboard tables: grouping over seeds, paper look-up, differences, determinism, committed files."""

from __future__ import annotations

import csv
import io
import json

import pytest

from vadbench.commands import leaderboard as lb_cmd
from vadbench.leaderboard.board import group_records, render_csv, render_markdown, reproduce_table, results_tables
from vadbench.leaderboard.metafile import load_metafile
from vadbench.leaderboard.specs import load_specs
from vadbench.paths import LEADERBOARDS_DIR
from vadbench.results import make_record, write_record


def write(results, model, dataset, seed, auc, setting="default", data_source="real", selection="last", **extra):
    rec = make_record(model=model, model_class=f"x.{model}", dataset=dataset, metrics={"frame_auc_micro": auc, **extra},
                      model_selection=selection, data_source=data_source, seed=seed, setting=setting)
    return write_record(results, rec)


@pytest.fixture(scope="module")
def meta():
    return load_metafile()


def test_mean_std_over_seeds_and_difference_to_paper(tmp_path, meta):
    for seed, auc in enumerate([0.80, 0.82, 0.84]):
        write(tmp_path, "rtfm", "ucf_crime", seed, auc, num_frames=100.0)
    write(tmp_path, "rtfm", "synthetic", 0, 0.7, data_source="synthetic")
    from vadbench.results import load_records

    groups = group_records(load_records([tmp_path]))
    assert [(g.dataset, g.seeds) for g in groups] == [("synthetic", [0]), ("ucf_crime", [0, 1, 2])]
    real = groups[1]
    mean, std, n = real.mean_std("frame_auc_micro")
    assert (mean, n) == (pytest.approx(0.82), 3) and std == pytest.approx(0.02)
    assert "num_frames" not in real.metrics  # counts are not leaderboard metrics
    tables = {t.title: t for t in results_tables(meta, groups)}
    row = tables["ucf_crime"].rows[0]
    header = tables["ucf_crime"].header
    assert row[header.index("frame AUC (%) ours")] == "82.00 ± 2.00"
    assert row[header.index("frame AUC (%) ours") + 1] == "84.30 [SSRL table1]"
    assert row[header.index("frame AUC (%) ours") + 2] == "-2.30"
    # synthetic data has no paper column / no difference
    assert "paper" not in tables["synthetic"].header
    rows = list(csv.DictReader(io.StringIO(render_csv(meta, groups))))
    ucf = [r for r in rows if r["dataset"] == "ucf_crime" and r["metric"] == "frame_auc_micro"][0]
    assert float(ucf["ours_mean"]) == pytest.approx(82.0) and float(ucf["diff"]) == pytest.approx(-2.3)
    assert ucf["paper_model_selection"] == "oracle_best_on_test"
    syn = [r for r in rows if r["dataset"] == "synthetic"][0]
    assert syn["diff"] == "" and syn["paper_value"] == ""


def test_provenance_splits_rows_and_reruns_count_once(tmp_path, meta):
    write(tmp_path, "rtfm", "ucf_crime", 0, 0.80)
    write(tmp_path, "rtfm", "ucf_crime", 0, 0.81, selection="oracle_best_on_test")
    first = json.loads(write(tmp_path, "sultani", "ucf_crime", 0, 0.70).read_text())
    rerun = dict(first, created="2999-01-01T00:00:00+00:00", metrics={"frame_auc_micro": 0.75})
    (tmp_path / "rerun.json").write_text(json.dumps(rerun))
    from vadbench.results import load_records

    groups = group_records(load_records([tmp_path]))
    keys = [(g.model, g.model_selection, g.mean_std("frame_auc_micro")[0]) for g in groups]
    assert keys == [("rtfm", "last", 0.80), ("rtfm", "oracle_best_on_test", 0.81), ("sultani", "last", 0.75)]


def test_markdown_is_deterministic_and_lists_every_paper_table(tmp_path, meta):
    write(tmp_path, "rtfm", "ucf_crime", 1, 0.83)
    write(tmp_path, "rtfm", "ucf_crime", 0, 0.84)
    from vadbench.results import load_records

    a = render_markdown(meta, group_records(load_records([tmp_path])), 2)
    b = render_markdown(meta, group_records(list(reversed(load_records([tmp_path])))), 2)
    assert a == b
    for paper, info in meta.papers.items():
        for table in info["tables"]:
            assert f"### {info['short']} {table}\n" in a
    assert "2026" not in a and "20" + "25" not in a  # no timestamps leak into the tables
    assert "| 87.43 |" in a  # SSRL's headline number among the published numbers


def test_reproduce_table_real_and_synthetic(tmp_path, meta):
    spec = load_specs().get("rtfm-baseline")
    write(tmp_path, "rtfm", "ucf_crime", 0, 0.85)
    write(tmp_path, "rtfm", "synthetic", 0, 0.6, data_source="synthetic")
    from vadbench.results import load_records

    groups = group_records(load_records([tmp_path]))
    real = reproduce_table(meta, spec, groups, "real")
    rtfm = [r for r in real.rows if r[1] == "rtfm"][0]
    i = real.header.index("ucf_crime frame AUC (%) ours")
    assert rtfm[i:i + 3] == ["85.00", "84.30", "+0.70"]
    sultani = [r for r in real.rows if r[1] == "sultani"][0]
    assert sultani[i:i + 3] == ["—", "77.92", "—"]  # not run yet; paper number still shown
    syn = reproduce_table(meta, spec, groups, "synthetic")
    rtfm = [r for r in syn.rows if r[1] == "rtfm"][0]
    assert rtfm[5:] == ["60.00", "84.30", "97.21"]
    assert "not comparable" in syn.caption


def test_leaderboard_cli_writes_and_checks(tmp_path, capsys):
    res = tmp_path / "results"
    write(res, "rtfm", "ucf_crime", 0, 0.84)
    out = tmp_path / "board"
    assert lb_cmd.main(["--results", str(res), "--out", str(out)]) == 0
    for name in lb_cmd.OUTPUT_FILES:
        assert (out / name).stat().st_size > 1000 or name.endswith(".csv")
    assert "<table>" in (out / "leaderboard.html").read_text()
    assert lb_cmd.main(["--results", str(res), "--out", str(out), "--check"]) == 0
    write(res, "rtfm", "ucf_crime", 1, 0.86)
    assert lb_cmd.main(["--results", str(res), "--out", str(out), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert lb_cmd.main(["--results", str(tmp_path / "absent"), "--out", str(out)]) == 2


def test_bad_result_file_is_named(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{not json")
    assert lb_cmd.main(["--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "broken.json" in capsys.readouterr().err


def test_committed_leaderboard_is_up_to_date():
    """leaderboards/README.md (+ .csv/.html) are exactly what `vadbench leaderboard` generates."""
    texts = lb_cmd.generate([str(LEADERBOARDS_DIR / "results")], LEADERBOARDS_DIR)
    texts.pop("_")
    for name, text in texts.items():
        on_disk = (LEADERBOARDS_DIR / name).read_bytes()
        assert on_disk == text.encode("utf-8"), f"leaderboards/{name} is stale: run `vadbench leaderboard`"


def test_two_test_sets_of_one_dataset_name_show_apart(tmp_path, meta):
    """SSRL on the patch synthetic set and RTFM on the feature synthetic set share the name
    "synthetic" but not the test set: separate groups, tables, titles and CSV lines."""
    for seed, auc in ((0, 0.90), (1, 0.92)):
        write(tmp_path, "rtfm", "synthetic", seed, auc, data_source="synthetic")
    for path in tmp_path.glob("rtfm*.json"):
        rec = json.loads(path.read_text())
        path.write_text(json.dumps(dict(rec, data_fingerprint="sha256:29e70156aaaa")))
    rec = make_record(model="rtfm", model_class="x.rtfm", dataset="synthetic", metrics={"frame_auc_micro": 0.60},
                      model_selection="last", data_source="synthetic", seed=0, data_fingerprint="sha256:bbf86d11bbbb")
    write_record(tmp_path, rec)
    from vadbench.results import load_records

    groups = group_records(load_records([tmp_path]))
    assert [(g.data_fingerprint, g.seeds) for g in groups] == [("sha256:29e70156aaaa", [0, 1]),
                                                                ("sha256:bbf86d11bbbb", [0])]
    assert groups[0].mean_std("frame_auc_micro")[0] == pytest.approx(0.91)  # not 0.807 over all three
    tables = {t.title: t for t in results_tables(meta, groups)}
    assert set(tables) == {"synthetic (test set 29e701)", "synthetic (test set bbf86d)"}
    i = tables["synthetic (test set 29e701)"].header.index("frame AUC (%) ours")
    assert tables["synthetic (test set 29e701)"].rows[0][i] == "91.00 ± 1.41"
    assert tables["synthetic (test set bbf86d)"].rows[0][i] == "60.00"
    rows = list(csv.DictReader(io.StringIO(render_csv(meta, groups))))
    assert sorted((r["data_fingerprint"], r["ours_mean"]) for r in rows) == [("sha256:29e70156aaaa", "91"),
                                                                             ("sha256:bbf86d11bbbb", "60")]
    md = render_markdown(meta, groups, 3)
    assert "### synthetic (test set 29e701)" in md and "### synthetic (test set bbf86d)" in md
    syn = reproduce_table(meta, load_specs().get("rtfm-baseline"), groups, "synthetic")
    rtfm = {r[0]: r[5] for r in syn.rows if r[1] == "rtfm"}
    assert rtfm == {"RTFM (test set 29e701)": "91.00 ± 1.41", "RTFM (test set bbf86d)": "60.00"}


def test_anomaly_detection_and_few_shot_never_share_a_table_and_ci_is_in_percent(tmp_path, meta):
    write(tmp_path, "rtfm", "synthetic", 0, 0.9, data_source="synthetic")
    rec = make_record(model="trx", model_class="x.trx", dataset="synthetic", setting="5w1s",
                      metrics={"accuracy": 0.62, "accuracy_ci95": 0.031}, model_selection="last",
                      data_source="synthetic", seed=0)
    write_record(tmp_path, rec)
    from vadbench.results import load_records

    tables = {t.title: t for t in results_tables(meta, group_records(load_records([tmp_path])))}
    assert set(tables) == {"synthetic, anomaly detection", "synthetic, few-shot"}
    fs = tables["synthetic, few-shot"]
    assert not any("AUC" in h for h in fs.header)
    assert not any("accuracy" in h for h in tables["synthetic, anomaly detection"].header)
    row = dict(zip(fs.header, fs.rows[0]))
    assert row["5w1s accuracy (%) ours"] == "62.00"
    assert row["5w1s accuracy 95% CI half-width (%) ours"] == "3.10"  # a half-width, in the accuracy's unit


def test_html_renders_markdown_and_names_the_results_source(tmp_path, meta):
    from vadbench.leaderboard.board import render_html

    res = tmp_path / "my_results"
    write(res, "rtfm", "ucf_crime", 0, 0.84)
    from vadbench.results import load_records

    text = render_html(meta, group_records(load_records([res])), 1, sources=[str(res)])
    assert "**" not in text and "<b>ours</b>" in text
    assert "my_results" in text and "leaderboards/results" not in text


def _fit_record(model, dataset, seed, auc, setting="default", config=None, **kw):
    return make_record(model=model, model_class=f"x.{model}", dataset=dataset, metrics={"frame_auc_micro": auc},
                       model_selection="last", seed=seed, setting=setting, config=config, **kw)


def test_random_init_features_have_no_difference_to_the_paper(tmp_path, meta):
    """A real Ped2 run on random-init `vadbench extract` features: backbone from the sidecars, the paper's
    number beside it, but no Δ (marked); a pretrained extractor gets the Δ."""
    from vadbench.results import load_records

    for seed, auc in enumerate([0.70, 0.72, 0.74]):
        for weights, setting in (("random_init", "default"), ("sha256:abc", "features=c3d")):
            write_record(tmp_path, _fit_record("sta_mil", "ucsd_ped2", seed, auc, setting=setting, data_source="real",
                                               extras={"extraction": {"backbone": "tiny3d", "weights": weights}}))
    groups = group_records(load_records([tmp_path]))
    assert {(g.setting, g.backbone) for g in groups} == {("default", "random_init"), ("features=c3d", "pretrained")}
    (table,) = results_tables(meta, groups)
    col = table.header.index("frame AUC (%) ours")
    rows = {r[1]: r for r in table.rows}
    assert rows["default"][3] == "random_init"
    assert rows["default"][col:col + 3] == ["72.00 ± 2.00", "96.7 [STA-MIL table1]", "n/c (random_init)"]
    assert rows["features=c3d"][col:col + 3] == ["72.00 ± 2.00", "92.3 [STA-MIL table1]", "-20.30"]
    csv_rows = {r["setting"]: r for r in csv.DictReader(io.StringIO(render_csv(meta, groups)))}
    assert csv_rows["default"]["diff"] == "" and csv_rows["default"]["paper_value"] == "96.7"
    assert float(csv_rows["features=c3d"]["diff"]) == pytest.approx(-20.3)
    assert "n/c (random_init)" in render_markdown(meta, groups, 6)


def test_duplicate_rows_are_found(tmp_path):
    """Two rows of a table from one experiment (same config but for the tag, or the same numbers) are found."""
    from vadbench.leaderboard.board import duplicate_rows
    from vadbench.results import load_records

    cfg = {"model": {"init_args": {"lr": 1e-3}}, "trainer": {"max_steps": 50, "default_root_dir": "/a"},
           "seed_everything": 0, "setting": "default"}
    for seed in (0, 1):
        write_record(tmp_path, _fit_record("sta_mil", "synthetic", seed, 0.7 + seed / 100, config=cfg,
                                           data_source="synthetic"))
        # the same config under another tag and folder: a duplicate
        same = {**cfg, "setting": "features=c3d", "trainer": {"max_steps": 50, "default_root_dir": "/b"}}
        write_record(tmp_path, _fit_record("sta_mil", "synthetic", seed, 0.7 + seed / 100, setting="features=c3d",
                                           config=same, data_source="synthetic"))
        # another config (lr), other numbers: a second experiment
        other = {**cfg, "model": {"init_args": {"lr": 1e-2}}}
        write_record(tmp_path, _fit_record("sta_mil", "synthetic", seed, 0.6 + seed / 100, setting="lr=1e-2",
                                           config=other, data_source="synthetic"))
        # another config but every number equal to the default's: a setting that changes nothing
        inert = {**cfg, "model": {"init_args": {"lr": 1e-3, "unused": 1}}}
        write_record(tmp_path, _fit_record("sta_mil", "synthetic", seed, 0.7 + seed / 100, setting="unused=1",
                                           config=inert, data_source="synthetic"))
    found = {(a.setting, b.setting): why for a, b, why in duplicate_rows(group_records(load_records([tmp_path])))}
    assert found == {("default", "features=c3d"): "identical resolved config for seed(s) [0, 1]",
                     ("default", "unused=1"): "identical metrics for every common seed [0, 1]",
                     ("features=c3d", "unused=1"): "identical metrics for every common seed [0, 1]"}


def test_published_xd_violence_tables_lead_with_ap_whatever_the_transcription_order(tmp_path):
    """A paper table's columns follow the dataset's headline metrics (tables.yaml `dataset_metrics`: AP first on
    XD-Violence), not the order its numbers were typed in; other datasets keep the transcription order."""
    from vadbench.leaderboard.board import published_tables

    folder = tmp_path / "toy"
    folder.mkdir()
    row = '{paper: p, table: t1, model: toy, label: Toy, setting: default, '
    (folder / "metafile.yml").write_text(
        "model: toy\npaper: {title: Toy}\n"
        "papers:\n  p: {short: P, tables: {t1: 'XD and UCF'}}\n"
        "results:\n"
        f"  - {row}dataset: ucf_crime, metric: frame_auc_abnormal, value: 60.0}}\n"
        f"  - {row}dataset: ucf_crime, metric: frame_auc_micro, value: 80.0}}\n"
        f"  - {row}dataset: xd_violence, metric: frame_auc_micro, value: 90.0}}\n"
        f"  - {row}dataset: xd_violence, metric: frame_ap_micro, value: 70.0}}\n"
        f"  - {row}dataset: xd_violence, metric: frame_pr_auc_micro, value: 71.0}}\n", encoding="utf-8")
    [table] = published_tables(load_metafile(tmp_path))
    assert table.header[3:] == ["ucf_crime AUC_A, anomalous videos (%)", "ucf_crime frame AUC (%)",
                                "xd_violence frame AP, official PR-AUC (%)", "xd_violence frame AP (%)",
                                "xd_violence frame AUC (%)"]
    assert table.rows == [["Toy", "toy", "default", "60.00", "80.00", "71.00", "70.00", "90.00"]]
def test_leaderboard_reads_your_results_and_rebuilds_the_committed_board_only_when_asked(tmp_path, monkeypatch,
                                                                                          capsys):
    """Issue 25: with no arguments the board is built from ./results into ./leaderboard (it read the
    repository's leaderboards/results before, and failed from a wheel); `--committed` is the repository's."""
    monkeypatch.chdir(tmp_path)
    assert lb_cmd.main([]) == 2
    assert "no ./results in" in capsys.readouterr().err
    write(tmp_path / "results", "rtfm", "ucf_crime", 0, 0.84)
    assert lb_cmd.main([]) == 0
    text = (tmp_path / "leaderboard" / "README.md").read_text()
    assert "`results`" in text and "| rtfm | default | real |" in text and "leaderboards/results" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard", "results"]
    assert lb_cmd.main(["--committed", "--check"]) == 0                 # the repository's board, read-only here
    assert f"{LEADERBOARDS_DIR} is up to date" in capsys.readouterr().out
    assert lb_cmd.main(["--committed", "--out", "x"]) == 2
    monkeypatch.setattr(lb_cmd, "LEADERBOARDS_DIR", tmp_path / "site-packages" / "leaderboards")   # a wheel
    assert lb_cmd.main(["--committed"]) == 2
    assert "not in an installed package" in capsys.readouterr().err

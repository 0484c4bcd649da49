"""`vadbench reproduce`: planning runs from table specs, skipping existing results, failures, devices.

The runs here are a stub `vadbench fit` (a tiny script writing a result JSON), so these tests are
fast; tests/integration/test_reproduce_synthetic.py runs the real thing end to end.
"""

from __future__ import annotations

import shutil
import sys
import textwrap

import pytest

from vadbench.commands import reproduce
from vadbench.leaderboard.specs import load_specs, plan_runs
from vadbench.paths import CONFIGS_DIR
from vadbench.results import load_records, make_record, write_record

STUB = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    from vadbench.results import make_record, write_record
    args = sys.argv[2:]
    opt = lambda k: args[args.index(k) + 1]
    cfg = Path(opt("--config"))
    if "fail" in cfg.parent.name:
        print("stub: this model fails", file=sys.stderr)
        sys.exit(3)
    synthetic = cfg.stem.startswith("synthetic")
    rec = make_record(model=cfg.parent.name, model_class="stub", dataset="synthetic" if synthetic else cfg.stem,
                      metrics={"frame_auc_micro": 0.5 + 0.01 * int(opt("--seed_everything"))},
                      model_selection="last", data_source="synthetic" if synthetic else "real",
                      seed=int(opt("--seed_everything")), setting=opt("--setting"),
                      extras={"cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "argv": args})
    write_record(opt("--results_dir"), rec)
''')


@pytest.fixture
def stub_env(tmp_path, monkeypatch):
    """A config tree (models `good` and `failing`), a folder of metafiles, and the stub as `vadbench fit`."""
    cfg = tmp_path / "configs"
    for model in ("good", "failing"):
        (cfg / model).mkdir(parents=True)
        for name in ("ucf_crime", "synthetic"):
            (cfg / model / f"{name}.yaml").write_text("# stub\n")
    specs = tmp_path / "metafiles"
    (specs / "good").mkdir(parents=True)
    (specs / "good" / "metafile.yml").write_text(textwrap.dedent(f'''
        model: good
        paper: {{title: "a stub model", venue: null, year: null, url: null}}
        ablations:
          "scales=clip": ["--data.init_args.patch_scales=[]"]
        tables:
          demo:
            title: "demo table"
            paper: ssrl_eccv22
            table: table1
            config: "{cfg}/{{model}}/{{dataset}}.yaml"
            synthetic_config: "{cfg}/{{model}}/synthetic.yaml"
            datasets: [ucf_crime]
            metrics: [frame_auc_micro]
            seeds: [0, 1]
            rows:
              - {{label: "good one", model: good, setting: default, paper_setting: default}}
              - {{label: "good ablation", model: good, setting: "scales=clip"}}
              - {{label: "broken", model: failing, setting: default}}
          missing:
            title: "needs configs nobody wrote"
            paper: ssrl_eccv22
            table: table1
            datasets: [ucf_crime, shanghaitech]
            metrics: [frame_auc_micro]
            rows:
              - {{label: "x", model: no_such_model, setting: default}}
    '''))
    stub = tmp_path / "stub_fit.py"
    stub.write_text(STUB)
    monkeypatch.setattr(reproduce, "FIT_COMMAND", [sys.executable, str(stub)])
    return tmp_path, specs


def test_plan_packaged_tables():
    specs = load_specs()
    assert {"rtfm-baseline", "ssrl-table3", "ssrl-table5", "sta-table2", "skps-table2", "skps-table3"} <= set(specs.tables)
    runs, missing = plan_runs(specs, specs.get("rtfm-baseline"))
    assert len(runs) == 2 * 2 * 3 and not missing
    assert {r.config for r in runs} == {CONFIGS_DIR / m / f"{d}.yaml" for m in ("rtfm", "sultani")
                                        for d in ("ucf_crime", "shanghaitech")}
    runs, _ = plan_runs(specs, specs.get("rtfm-baseline"), data="synthetic", seeds=[0], max_steps=3)
    assert [(r.row.model, r.dataset, r.config.name, r.data_source) for r in runs] == [
        ("sultani", "synthetic", "synthetic.yaml", "synthetic"), ("rtfm", "synthetic", "synthetic.yaml", "synthetic")]
    assert "--trainer.max_steps=3" in runs[0].overrides
    args = runs[1].fit_args("res", "work")
    assert args[:3] == ["fit", "--config", str(CONFIGS_DIR / "rtfm" / "synthetic.yaml")]
    assert args[args.index("--setting") + 1] == "default" and args[args.index("--seed_everything") + 1] == "0"
    # ablation settings become the model's overrides
    runs, _ = plan_runs(specs, specs.get("ssrl-table3"), seeds=[0])
    by_setting = {r.row.setting: r.overrides for r in runs if r.dataset == "ucf_crime"}
    assert by_setting["scales=clip+patch23"] == ["--data.init_args.patch_scales=[patch23]"]   # linked into the net
    assert by_setting["default"] == []


def test_few_shot_synthetic_falls_back_to_a_sibling_config(tmp_path, monkeypatch):
    specs = load_specs()
    runs, _ = plan_runs(specs, specs.get("skps-table2"), data="synthetic")
    trx = {r.row.setting: r for r in runs if r.row.model == "trx"}
    assert trx["5w1s"].config.name == "synthetic_5w1s.yaml" and trx["5w1s"].overrides[0].startswith("--trainer.max_steps")
    # a checkout with only the 1-shot config: the 10-shot row reuses it with the shot overrides
    (tmp_path / "trx").mkdir()
    shutil.copy(CONFIGS_DIR / "trx" / "synthetic_5w1s.yaml", tmp_path / "trx")
    monkeypatch.setattr("vadbench.leaderboard.specs.CONFIGS_DIR", tmp_path)
    runs, _ = plan_runs(specs, specs.get("skps-table2"), data="synthetic")
    trx = {r.row.setting: r for r in runs if r.row.model == "trx"}
    assert trx["5w10s"].config == tmp_path / "trx" / "synthetic_5w1s.yaml"
    assert "--data.init_args.shot=10" in trx["5w10s"].overrides


def test_missing_configs_fail_with_their_names(stub_env, capsys):
    tmp, specs = stub_env
    assert reproduce.main(["missing", "--metafiles", str(specs), "--results-dir", str(tmp / "r")]) == 2
    err = capsys.readouterr().err
    assert "no_such_model/ucf_crime.yaml" in err and "no_such_model/shanghaitech.yaml" in err
    assert reproduce.main(["nope", "--metafiles", str(specs)]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err


def test_runs_skip_existing_and_report_failures(stub_env, capsys):
    tmp, specs = stub_env
    res, work = tmp / "results", tmp / "work"
    write_record(res, make_record(model="good", model_class="stub", dataset="ucf_crime",
                                  metrics={"frame_auc_micro": 0.9}, model_selection="last", data_source="real",
                                  seed=0, setting="default"))
    base = ["demo", "--metafiles", str(specs), "--results-dir", str(res), "--work-dir", str(work)]
    assert reproduce.main(base + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 run(s), 1 already in" in out and "[exists] good__ucf_crime__default__seed0" in out
    assert "[to run] failing__ucf_crime__default__seed1" in out
    assert not (work / "logs").exists()  # dry run runs nothing

    assert reproduce.main(base) == 1  # the failing model's runs fail, the others complete
    captured = capsys.readouterr()
    assert "failing__ucf_crime__default__seed0: FAILED (exit 3); log:" in captured.err
    log = work / "logs" / "failing__ucf_crime__default__seed0.log"
    assert "this model fails" in log.read_text()
    recs = load_records([res])
    assert sorted((r["model"], r["setting"], r["seed"]) for r in recs) == [
        ("good", "default", 0), ("good", "default", 1), ("good", "scales=clip", 0), ("good", "scales=clip", 1)]
    ablation = [r for r in recs if r["setting"] == "scales=clip"][0]
    assert "--data.init_args.patch_scales=[]" in ablation["extras"]["argv"]
    # the table: ours (the pre-existing 0.9 and the stub's 0.51 for seed 1) beside SSRL's RTFM-less row
    assert "| good one | good | default | last | 0,1 | 70.50 ± 27.58 |" in captured.out

    assert reproduce.main(base) == 1  # only the failed runs are retried
    assert "6 run(s), 4 already in" in capsys.readouterr().out
    assert len(load_records([res])) == 4


def test_devices_spread_runs_one_gpu_each(stub_env, capsys):
    tmp, specs = stub_env
    res = tmp / "results"
    assert reproduce.main(["demo", "--metafiles", str(specs), "--results-dir", str(res), "--work-dir",
                           str(tmp / "w"), "--devices", "2", "--data", "synthetic"]) == 1
    recs = load_records([res])
    assert {r["extras"]["cuda_visible_devices"] for r in recs} <= {"0", "1"} and len(recs) == 4
    assert all("--trainer.devices=1" in r["extras"]["argv"] for r in recs)
    assert all(r["data_source"] == "synthetic" for r in recs)
    out = capsys.readouterr().out
    assert "on GPU 0" in out and "on GPU 1" in out
    assert "ours synthetic frame AUC (%)" in out


@pytest.mark.parametrize("data", ["real", "synthetic"])
def test_dry_run_plans_every_packaged_table(data, tmp_path, capsys):
    specs = load_specs()
    assert len(specs.tables) >= 15
    for tid in specs.tables:
        assert reproduce.main([tid, "--dry-run", "--data", data, "--results-dir", str(tmp_path)]) == 0, \
            capsys.readouterr().err
        out = capsys.readouterr().out
        # real data: no --root given, so every run is flagged (it would fail at once)
        assert f"vadbench reproduce {tid}: " in out and ("[to run]" if data == "synthetic" else "[needs --root") in out


def test_a_root_per_dataset(tmp_path, capsys):
    specs = load_specs()
    roots = {"ucf_crime": "/data/ucf", "shanghaitech": "/data/sh", "kinetics100": "/data/k100",
             "ucf_crime_v2": "/data/ucf_v2"}
    runs, _ = plan_runs(specs, specs.get("rtfm-baseline"), seeds=[0], roots=roots)
    by_ds = {(r.row.model, r.dataset): r.overrides for r in runs}
    assert by_ds[("rtfm", "ucf_crime")] == ["--data.init_args.root=/data/ucf"]
    assert by_ds[("sultani", "shanghaitech")] == ["--data.init_args.root=/data/sh"]
    # few-shot UCF-Crime v2: trained on Kinetics-100 (root), tested on UCF-Crime v2 (test_root)
    runs, _ = plan_runs(specs, specs.get("skps-table2"), roots=roots)
    skps = [r for r in runs if r.row.setting == "5w5s" and r.row.model == "skps_net"][0]
    assert skps.overrides == ["--data.init_args.root=/data/k100", "--data.init_args.test_root=/data/ucf_v2"]
    # a dataset without a root keeps the config's; synthetic runs never get one
    runs, _ = plan_runs(specs, specs.get("rtfm-baseline"), seeds=[0], roots={"ucf_crime": "/u"})
    assert [r.overrides for r in runs if r.dataset == "shanghaitech"] == [[], []]
    runs, _ = plan_runs(specs, specs.get("rtfm-baseline"), data="synthetic", seeds=[0], roots=roots, max_steps=2)
    assert all(r.overrides == ["--trainer.max_steps=2"] for r in runs)
    # from the command line
    assert reproduce.main(["rtfm-baseline", "--dry-run", "--seeds", "0", "--root", "ucf_crime=/data/ucf",
                           "--root", "shanghaitech=/data/sh", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rtfm/ucf_crime.yaml --data.init_args.root=/data/ucf --setting default" in out
    assert "sultani/shanghaitech.yaml --data.init_args.root=/data/sh --setting default" in out
    assert reproduce.main(["rtfm-baseline", "--dry-run", "--root", "ucf=/x"]) == 2
    assert "unknown dataset 'ucf'" in capsys.readouterr().err
    assert reproduce.main(["rtfm-baseline", "--dry-run", "--root", "/data/ucf"]) == 2
    assert "expected DATASET=FOLDER" in capsys.readouterr().err


def test_few_shot_settings_use_their_own_configs_and_else_the_closest_sibling(tmp_path):
    """TRX and SKPS-Net have a config per shot count (issue 12: TRX's 10-shot ones were missing); a setting
    without one falls back to the sibling with the closest shot count, plus the `shots:` overrides."""
    from vadbench.leaderboard.specs import _shot_fallback

    specs = load_specs()
    runs, missing = plan_runs(specs, specs.get("skps-table1"))
    assert not missing
    for model in ("trx", "skps_net"):
        ten = {r.dataset: r for r in runs if r.row.model == model and r.row.setting == "5w10s"}
        assert set(ten) == {"hmdb51", "kinetics100"}
        for ds, r in ten.items():
            assert r.config == CONFIGS_DIR / model / f"{ds}_5w10s.yaml" and r.overrides == []
    # the fallback itself, on a folder of sibling configs
    (tmp_path / "m").mkdir()
    for k in (1, 5, 10):
        (tmp_path / "m" / f"d_5w{k}s.yaml").write_text("{}")
    template = str(tmp_path / "{model}" / "{dataset}_{shots}.yaml")
    assert _shot_fallback(template, "m", "d", "5w4s", None) == tmp_path / "m" / "d_5w5s.yaml"
    assert _shot_fallback(template, "m", "d", "5w9s", None) == tmp_path / "m" / "d_5w10s.yaml"
    assert _shot_fallback(template, "m", "d", "5w2s", None) == tmp_path / "m" / "d_5w1s.yaml"


def test_sta_mil_c3d_row_is_not_planned_on_synthetic_data(capsys):
    """On synthetic data the C3D row would be the I3D row again (same config): it is not run there."""
    specs = load_specs()
    runs, _ = plan_runs(specs, specs.get("sta-table1"), data="synthetic", seeds=[0])
    assert [(r.row.model, r.row.setting) for r in runs] == [("sultani", "default"), ("sta_mil", "default")]
    # real data: the row's own config
    runs, _ = plan_runs(specs, specs.get("sta-table1"), seeds=[0])
    c3d = [r for r in runs if r.row.setting == "features=c3d"]
    assert [(r.dataset, r.config.name, r.overrides) for r in c3d] == [("ucf_crime", "ucf_crime_c3d.yaml", [])]
    assert reproduce.main(["sta-table1", "--data", "synthetic", "--dry-run", "--settings", "features=c3d"]) == 2
    assert "--settings features=c3d: table 'sta-table1' (synthetic data) has no run" in capsys.readouterr().err
    from vadbench.leaderboard.board import reproduce_table
    from vadbench.leaderboard.metafile import load_metafile

    table = reproduce_table(load_metafile(), specs.get("sta-table1"), [], data_source="synthetic")
    assert [r[0] for r in table.rows][-1] == "Ours (STA-MIL, C3D) (not run on synthetic data)"


def test_models_settings_datasets_run_part_of_a_table(stub_env, capsys):
    tmp, specs = stub_env
    base = ["demo", "--metafiles", str(specs), "--results-dir", str(tmp / "r"), "--work-dir", str(tmp / "w")]
    assert reproduce.main(base + ["--dry-run", "--settings", "scales=clip"]) == 0
    out = capsys.readouterr().out
    assert "2 run(s), 0 already in" in out and "good__ucf_crime__scales=clip__seed1" in out
    assert reproduce.main(base + ["--models", "good", "--settings", "default"]) == 0   # the failing model not run
    recs = load_records([tmp / "r"])
    assert sorted((r["model"], r["setting"], r["seed"]) for r in recs) == [("good", "default", 0),
                                                                             ("good", "default", 1)]
    capsys.readouterr()
    assert reproduce.main(base + ["--dry-run", "--datasets", "ucf_crime", "--models", "nobody"]) == 2
    assert "--models nobody: table 'demo' (real data) has no run with that; expected one of ['failing', 'good']" \
        in capsys.readouterr().err
    # a filtered-out row's missing config does not stop the others
    assert reproduce.main(["missing", "--metafiles", str(specs), "--dry-run", "--datasets", "shanghaitech"]) == 2
    assert "no_such_model/shanghaitech.yaml" in (err := capsys.readouterr().err) and "ucf_crime.yaml" not in err


def test_real_runs_without_a_data_folder_are_flagged_by_the_dry_run_and_refused(tmp_path, monkeypatch, capsys):
    """Issue 25: `--dry-run` listed 16 runs of ssrl-table3 that would all fail for want of a --root; now the
    dry run flags them and a real run stops before starting any. Results go to ./results (the working folder)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce, "FIT_COMMAND", [sys.executable, "-c", "raise SystemExit(99)"])   # never started
    assert reproduce.main(["rtfm-baseline", "--dry-run", "--seeds", "0"]) == 0
    out, err = capsys.readouterr()
    assert "[needs --root ucf_crime] rtfm__ucf_crime__default__seed0" in out
    assert "[needs --root shanghaitech] rtfm__shanghaitech__default__seed0" in out
    assert "--results_dir results --trainer.default_root_dir=runs/reproduce/rtfm-baseline/" in out
    assert "give --root shanghaitech=DIR --root ucf_crime=DIR" in err
    assert reproduce.main(["rtfm-baseline", "--seeds", "0"]) == 2
    assert "error: 4 run(s) have no data folder for shanghaitech, ucf_crime" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()                               # nothing was started
    (tmp_path / "ucf").mkdir()
    assert reproduce.main(["rtfm-baseline", "--dry-run", "--seeds", "0", "--root", "ucf_crime=ucf",
                           "--root", "shanghaitech=absent"]) == 0
    out = capsys.readouterr().out
    assert "[to run] rtfm__ucf_crime__default__seed0" in out
    assert "[needs --root shanghaitech] rtfm__shanghaitech__default__seed0" in out     # a folder that does not exist
    assert reproduce.main(["rtfm-baseline", "--data", "synthetic", "--dry-run", "--seeds", "0"]) == 0
    assert "--results_dir results/synthetic " in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [tmp_path / "ucf"]                 # dry runs write nothing


def test_skps_tables_plan_otam_and_strm_on_real_data_with_their_own_configs():
    """Issue 23: the SKPS-Net tables' OTAM, STRM and BiMACL rows run from their packaged real-data configs (Table 2:
    trained on Kinetics-100, tested on UCF-Crime v2), every shot count."""
    specs = load_specs()
    for table, datasets in (("skps-table1", {"hmdb51", "kinetics100"}), ("skps-table2", {"ucf_crime_v2"})):
        runs, missing = plan_runs(specs, specs.get(table))
        assert not missing, table
        for model in ("otam", "strm", "bimacl"):
            planned = {(r.dataset, r.row.setting): r for r in runs if r.row.model == model}
            assert set(planned) == {(d, s) for d in datasets for s in ("5w1s", "5w5s", "5w10s")}, (table, model)
            for (dataset, setting), r in planned.items():
                assert r.config == CONFIGS_DIR / model / f"{dataset}_{setting}.yaml" and r.overrides == []
                assert r.data_source == "real"

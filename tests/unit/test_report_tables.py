"""The report's tables, as a reader sees them (issue 25): no std with one seed, every frame metric in percent,
confidence intervals named as half-widths, shots side by side, synthetic runs kept out of the papers' tables,
links to the run folder and result file when wandb was off, test-set fingerprints in a footnote."""

from __future__ import annotations

import re

import pytest

from vadbench.commands import report as report_cmd
from vadbench.results import make_record, write_record


def write(results, model, dataset, seed, metrics, setting="default", data_source="real", fp="sha256:" + "a" * 64,
          run_dir=None):
    rec = make_record(model=model, model_class="x", dataset=dataset, metrics=metrics, model_selection="last",
                      data_source=data_source, seed=seed, setting=setting, data_fingerprint=fp,
                      extras={"run_dir": str(run_dir)} if run_dir else {})
    return write_record(results, rec)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("report")
    res = tmp_path / "results"
    run = tmp_path / "runs" / "rtfm" / "ucf_crime" / "default" / "seed0-x"
    run.mkdir(parents=True)
    write(res, "rtfm", "ucf_crime", 0, {"frame_auc_micro": 0.85, "frame_pr_auc_micro": 0.31,
                                         "frame_auc_brightest": 0.02}, run_dir=run)
    for seed in (0, 1):
        write(res, "rtfm", "synthetic", seed, {"frame_auc_micro": 0.9 + seed / 100}, data_source="synthetic",
              fp="sha256:" + "b" * 64)
        for shots, fp in (("5w1s", "c"), ("5w10s", "d")):
            write(res, "trx", "synthetic", seed, {"accuracy": 0.5 + seed / 10, "accuracy_ci95": 0.03},
                  setting=shots, data_source="synthetic", fp="sha256:" + fp * 64)
    out = tmp_path / "report"
    b = report_cmd.build([str(res)], out, plots=False)
    return b, {t.key: t for t in b["tables"]}, run, res


def rows(table, **where):
    recs = table.records()
    return [r for r in recs if all(r[k] == v for k, v in where.items())]


def test_one_seed_has_no_std_and_every_frame_metric_is_in_percent(built):
    _, tables, _, _ = built
    (real,) = [t for k, t in tables.items() if k.startswith("runs/ucf_crime")]
    auc, = rows(real, metric="frame_auc_micro")
    assert auc["n_seeds"] == 1 and auc["ours_std"] is None          # not "± 0.00"
    pr, = rows(real, metric="frame_pr_auc_micro")
    assert pr["ours_mean"] == pytest.approx(31.0) and pr["metric_label"].endswith("(%)")   # not 0.31 among percents
    new, = rows(real, metric="frame_auc_brightest")   # a frame metric nobody declared: percent all the same
    assert new["ours_mean"] == pytest.approx(2.0) and new["metric_label"] == "frame AUC brightest (%)"


def test_ci_is_a_half_width_and_shots_sit_side_by_side(built):
    _, tables, _, _ = built
    few = [t for k, t in tables.items() if k.startswith("runs/") and "few-shot" in k]
    assert len(few) == 1                                           # 5w1s and 5w10s (other episodes) together
    (t,) = few
    assert {r["setting"] for r in t.records()} == {"5w1s", "5w10s"}
    ci, = rows(t, setting="5w1s", metric="accuracy_ci95")
    assert ci["metric_label"] == "accuracy 95% CI half-width (%)" and ci["ours_mean"] == pytest.approx(3.0)
    assert ci["ours_std"] is None                                  # a half-width is a ± itself
    acc, = rows(t, setting="5w1s", metric="accuracy")
    assert acc["ours_std"] == pytest.approx(7.0711, abs=1e-3)      # the accuracy's std over the two seeds


def test_synthetic_runs_are_not_set_beside_the_papers_numbers(built):
    _, tables, _, _ = built
    papers = [t for k, t in tables.items() if k.startswith("paper/")]
    assert papers and all(r["data_source"] == "real" for t in papers for r in t.records())
    assert any(rows(t, model="rtfm", dataset="ucf_crime") for t in papers)


def test_html_links_run_folders_and_results_and_puts_fingerprints_in_footnotes(built):
    b, _, run, res = built
    html = b["html"]
    assert 'href="../runs/rtfm/ucf_crime/default/seed0-x">run folder</a>' in html
    assert re.search(r'href="\.\./results/rtfm__ucf_crime__default__seed0__\d+T\d+\.json">result</a>', html)
    for caption in re.findall(r"<caption>(.*?)</caption>", html, re.S):
        assert "sha256" not in caption                            # no hash paragraph above a table ...
    notes = re.findall(r'</table>\s*<p class="footnote">(.*?)</p>', html)
    assert len(notes) == len(re.findall("<table>", html))         # ... one footnote under each
    assert "sha256:" + "a" * 64 in " ".join(notes)
    assert "± 0.00" not in html and ">0.00<" not in html

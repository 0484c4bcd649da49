"""Scores files (save/load/validation) and the PNG plots: ROC/PR, timelines, accuracy vs shots."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from vadbench.commands import leaderboard as lb_cmd
from vadbench.commands import plot as plot_cmd
from vadbench.leaderboard import load_scores, save_scores, scores_path_for
from vadbench.leaderboard.plots import parse_shots, plot_roc_pr
from vadbench.results import load_records, make_record, write_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_png(path, min_bytes=8_000):
    w, h = png_size(path)
    assert 400 <= w <= 3000 and 200 <= h <= 2000, (w, h)
    assert path.stat().st_size > min_bytes
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.std() > 0.01  # not a blank canvas


def fake_videos(rng, n=8, quality=2.0, fps=4):
    """Half anomalous videos with one event; scores higher inside events by `quality` (noise 1)."""
    names, scores, labels = [], [], []
    for i in range(n):
        t = int(rng.integers(12, 30))
        snippet_label = np.zeros(t, dtype=int)
        if i % 2 == 0:
            start = int(rng.integers(2, t - 6))
            snippet_label[start:start + 4] = 1
        logits = rng.standard_normal(t) + quality * snippet_label - 1.0
        names.append(f"{'Abuse' if i % 2 == 0 else 'Normal'}{i:03d}_x264")
        scores.append(1 / (1 + np.exp(-logits)))
        labels.append(np.repeat(snippet_label, fps)[: t * fps - 2])  # last snippet partly padded
    return names, scores, labels


def write_result_with_scores(results, model, rng, quality, dataset="ucf_crime", seed=0):
    names, scores, labels = fake_videos(rng, quality=quality)
    rec = make_record(model=model, model_class="x", dataset=dataset, metrics={"frame_auc_micro": 0.8},
                      model_selection="last", data_source="real", seed=seed)
    path = write_record(results, rec)
    save_scores(path, names, scores, labels, frames_per_snippet=4)
    return path


def test_scores_round_trip_and_frame_expansion(tmp_path):
    import torch

    names = ["a", "b"]
    scores = [torch.tensor([0.1, 0.9, 0.2]), np.array([0.5, 0.6])]
    labels = [np.array([0, 0, 1, 1, 0]), torch.tensor([0, 0, 0, 0])]
    path = save_scores(tmp_path / "r.json", names, scores, labels, frames_per_snippet=2)
    assert path == tmp_path / "r.scores.npz" == scores_path_for(tmp_path / "r.json")
    sf = load_scores(path)
    assert [v.name for v in sf.videos] == names
    np.testing.assert_allclose(sf.video("a").frame_scores, [0.1, 0.1, 0.9, 0.9, 0.2], rtol=1e-6)
    s, lab = sf.frames()
    assert s.shape == lab.shape == (9,) and lab.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("scores, labels, match", [
    ([np.array([0.1, np.nan])], [np.array([0, 0])], "non-finite"),
    ([np.array([0.1])], [np.array([0, 0, 0])], "3 frame labels but only 1 snippets"),
    ([np.array([0.1, 0.2])], [np.array([0, 2])], "other than 0/1"),
    ([np.array([])], [np.array([])], "no snippet scores"),
])
def test_save_scores_rejects_bad_input(tmp_path, scores, labels, match):
    with pytest.raises(ValueError, match=match):
        save_scores(tmp_path / "x.scores.npz", ["vid"], scores, labels, frames_per_snippet=2)


def test_load_scores_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.scores.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="bad.scores.npz"):
        load_scores(bad)
    np.savez(tmp_path / "partial.scores.npz", version=np.int64(1))
    with pytest.raises(ValueError, match="lacks array"):
        load_scores(tmp_path / "partial.scores.npz")


def test_roc_needs_both_classes(tmp_path):
    with pytest.raises(ValueError, match="single class"):
        plot_roc_pr({"m": (np.array([0.1, 0.2]), np.array([0, 0]))}, tmp_path / "x.png")


def test_plot_cli_roc_timeline_shots(tmp_path):
    rng = np.random.default_rng(0)
    res = tmp_path / "results"
    good = write_result_with_scores(res, "rtfm", rng, quality=3.0)
    weak = write_result_with_scores(res, "sultani", rng, quality=0.5)
    out = tmp_path / "png"
    assert plot_cmd.main(["roc", "--results", str(res), "--dataset", "ucf_crime", "--out", str(out / "roc.png")]) == 0
    check_png(out / "roc.png")
    assert plot_cmd.main(["roc", "--scores", str(scores_path_for(good)), str(scores_path_for(weak)),
                          "--labels", "RTFM", "Sultani", "--out", str(out / "roc2.png")]) == 0
    check_png(out / "roc2.png")
    assert plot_cmd.main(["timeline", "--scores", str(scores_path_for(good)), str(scores_path_for(weak)),
                          "--labels", "RTFM", "Sultani", "--out", str(out / "timeline.png")]) == 0
    check_png(out / "timeline.png")
    assert plot_cmd.main(["timeline", "--scores", str(scores_path_for(good)), "--video", "absent",
                          "--out", str(out / "t.png")]) == 2
    # few-shot results: accuracy vs shots, with the papers' TRX numbers beside ours
    fs = tmp_path / "fewshot"
    for shots, acc in ((1, 0.4), (5, 0.6)):
        for seed in (0, 1):
            rec = make_record(model="trx", model_class="x", dataset="hmdb51",
                              metrics={"accuracy": acc + 0.01 * seed, "accuracy_ci95": 0.01},
                              model_selection="last", data_source="synthetic", seed=seed, setting=f"5w{shots}s")
            write_record(fs, rec)
    assert plot_cmd.main(["shots", "--results", str(fs), "--out", str(out / "shots.png")]) == 0
    check_png(out / "shots.png")
    assert plot_cmd.main(["shots", "--results", str(res), "--out", str(out / "none.png")]) == 2
    assert parse_shots("5w10s") == (5, 10) and parse_shots("5w1s,modules=kps") is None


def test_leaderboard_plots_are_embedded_and_deterministic(tmp_path):
    rng = np.random.default_rng(1)
    res = tmp_path / "results"
    write_result_with_scores(res, "rtfm", rng, quality=3.0)
    write_result_with_scores(res, "sultani", rng, quality=1.0)
    out = tmp_path / "board"
    assert lb_cmd.main(["--results", str(res), "--out", str(out), "--plots"]) == 0
    pngs = sorted((out / "plots").glob("*.png"))
    names = [p.name for p in pngs]
    assert "roc_pr_ucf_crime.png" in names and sum(n.startswith("timeline_ucf_crime_") for n in names) == 3
    for p in pngs:
        check_png(p)
    html = (out / "leaderboard.html").read_text()
    assert '<img src="plots/roc_pr_ucf_crime.png"' in html
    assert "(plots/roc_pr_ucf_crime.png)" in (out / "README.md").read_text()
    # same inputs, same bytes (no timestamp / software tag in the PNG)
    roc = out / "plots" / "roc_pr_ucf_crime.png"
    first = roc.read_bytes()
    from vadbench.leaderboard.plots import score_files_by_group

    curves = {k[1]: sf.frames() for k, sf in score_files_by_group(load_records([res])).items()}
    plot_roc_pr({"rtfm": curves["rtfm"], "sultani": curves["sultani"]}, roc, title="ucf_crime: frame-level curves")
    assert roc.read_bytes() == first


def test_timeline_draws_each_model_against_its_own_ground_truth():
    """Two models scored on different test sets of one video name: two panels, each shading its own
    labels over its own length (the old plot shaded the first file's labels under every curve)."""
    from vadbench.leaderboard.plots import timeline_figure
    from vadbench.leaderboard.scores import VideoScores

    a_labels = np.zeros(40, np.int64)
    a_labels[8:16] = 1
    b_labels = np.zeros(64, np.int64)
    b_labels[40:60] = 1
    series = {"rtfm": VideoScores("v", np.linspace(0, 1, 10), a_labels, 4),
              "ssrl": VideoScores("v", np.linspace(1, 0, 16), b_labels, 4),
              "sultani": VideoScores("v", np.full(10, 0.5), a_labels.copy(), 4)}
    fig = timeline_figure(series)
    axes = fig.axes
    assert len(axes) == 2
    spans, lengths, members = [], [], []
    for ax in axes:
        shaded = [p for p in ax.patches]
        spans.append([(round(p.get_x()), round(p.get_x() + p.get_width())) for p in shaded])
        lengths.append(ax.get_xlim()[1])
        members.append(sorted(line.get_label() for line in ax.get_lines()))
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "ground truth (anomalous frames)" in legend
    assert members == [["rtfm", "sultani"], ["ssrl"]]
    assert spans == [[(8, 16)], [(40, 60)]] and lengths == [40, 64]
    import matplotlib.pyplot as plt

    plt.close(fig)
    one = timeline_figure({"rtfm": series["rtfm"], "sultani": series["sultani"]})
    assert len(one.axes) == 1
    plt.close(one)


def _no_legend_on_any_axes(fig):
    """Every legend lies outside every axes box: it covers no curve, no shading, no other panel."""
    import matplotlib.pyplot as plt

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends, "no legend drawn"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), f"legend over the axes {ax.get_title()!r}"
    plt.close(fig)


def test_plot_roc_from_a_results_folder_without_naming_its_one_dataset(tmp_path, capsys):
    rng = np.random.default_rng(3)
    res = tmp_path / "results"
    write_result_with_scores(res, "rtfm", rng, quality=3.0)
    write_result_with_scores(res, "sultani", rng, quality=0.5)
    assert plot_cmd.main(["roc", "--results", str(res), "--out", str(tmp_path / "roc.png")]) == 0
    check_png(tmp_path / "roc.png")
    write_result_with_scores(res, "rtfm", rng, quality=3.0, dataset="shanghaitech")
    assert plot_cmd.main(["roc", "--results", str(res), "--out", str(tmp_path / "two.png")]) == 2
    err = capsys.readouterr().err
    assert "several datasets (shanghaitech, ucf_crime): choose one with --dataset" in err
    assert plot_cmd.main(["roc", "--results", str(res), "--dataset", "shanghaitech",
                          "--out", str(tmp_path / "sh.png")]) == 0


def test_each_test_set_gets_its_own_roc_and_pr_axes(tmp_path):
    """Two test sets of one dataset name (different data fingerprints): one row of ROC/PR axes each."""
    import json

    from vadbench.commands.plot import _curves_from_results
    from vadbench.leaderboard.plots import roc_pr_figure

    rng = np.random.default_rng(4)
    res = tmp_path / "results"
    for model, fp in (("rtfm", "sha256:aaaaaa11"), ("ssrl", "sha256:bbbbbb22")):
        path = write_result_with_scores(res, model, rng, quality=2.0, dataset="synthetic")
        path.write_text(json.dumps(dict(json.loads(path.read_text()), data_fingerprint=fp)))
    sets = _curves_from_results([str(res)], None)
    assert sorted(sets) == ["synthetic (test set aaaaaa)", "synthetic (test set bbbbbb)"]
    fig = roc_pr_figure(sets)
    assert len(fig.axes) == 4
    curves = [sorted(line.get_label().split(" (")[0] for line in ax.get_lines() if not line.get_label().startswith(
        "chance")) for ax in fig.axes]
    assert curves == [["rtfm"], ["rtfm"], ["ssrl"], ["ssrl"]]
    _no_legend_on_any_axes(fig)


def test_pr_plot_draws_the_chance_level_and_areas_are_in_percent():
    from vadbench.leaderboard.plots import roc_pr_figure

    rng = np.random.default_rng(5)
    labels = (rng.random(400) < 0.2).astype(int)
    scores = labels + rng.standard_normal(400)
    fig = roc_pr_figure({"": {"model": (scores, labels)}})
    ax_roc, ax_pr = fig.axes
    chance = [line for line in ax_pr.get_lines() if line.get_label().startswith("chance")]
    assert len(chance) == 1 and list(chance[0].get_ydata()) == pytest.approx([labels.mean()] * 2)
    texts = [t.get_text() for ax in (ax_roc, ax_pr) for t in ax.get_legend().get_texts()]
    assert any(t.startswith("model (AUC ") and t.endswith("%)") for t in texts)
    assert any(t.startswith("model (AP ") and t.endswith("%)") for t in texts)
    assert f"chance (AP {100 * labels.mean():.2f}% = anomalous frames)" in texts
    _no_legend_on_any_axes(fig)


def test_timeline_and_shots_legends_are_off_the_data():
    from vadbench.leaderboard.plots import shots_figure, timeline_figure
    from vadbench.leaderboard.scores import VideoScores

    gt = np.zeros(40, np.int64)
    gt[8:16] = 1
    _no_legend_on_any_axes(timeline_figure({"rtfm": VideoScores("v", np.linspace(0, 1, 10), gt, 4),
                                            "ssrl": VideoScores("v", np.linspace(1, 0, 10), gt, 4)}))
    points = [{"label": "trx", "model": "trx", "dataset": "hmdb51", "shots": k, "value": v, "err": 1.0}
              for k, v in ((1, 40.0), (5, 60.0))]
    points += [{"label": "trx", "model": "trx", "dataset": "hmdb51", "shots": 5, "value": 75.6, "paper": True}]
    _no_legend_on_any_axes(shots_figure(points))


def test_plots_read_the_results_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert plot_cmd.main(["roc", "--out", "roc.png"]) == 2
    assert "result path(s) not found: ['results']" in capsys.readouterr().err
    write_result_with_scores(tmp_path / "results", "rtfm", np.random.default_rng(6), quality=2.0)
    assert plot_cmd.main(["roc", "--out", "roc.png"]) == 0 and (tmp_path / "roc.png").is_file()

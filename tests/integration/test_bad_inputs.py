"""Bad-input corpus: every user error exits non-zero with one message naming the file and what was
expected, no traceback; and the silent cases of issue #13 (empty lists, NaN found before training,
sidecar mismatch, a corrupt training file that `test` does not read, concurrent fits)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lightning.pytorch  # noqa: F401  (at collection: its log handler must not bind to one test's captured stderr)
import numpy as np
import pytest
import torch

from vadbench.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def data(tmp_path_factory) -> Path:
    from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil

    out = tmp_path_factory.mktemp("bad") / "mil"
    return write_synthetic_mil(out, SyntheticMILConfig(feature_dim=32, crops=1, train_normal=4, train_abnormal=4,
                                                       test_normal=2, test_abnormal=2, min_snippets=20,
                                                       max_snippets=30))


def _args(root: Path, tmp_path: Path, verb: str = "fit", *extra: str) -> list[str]:
    return [verb, "--config", "rtfm/synthetic.yaml", f"--data.init_args.root={root}",
            "--data.init_args.feature_dim=32", "--data.init_args.batch_size=2",
            "--trainer.max_steps=2", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={tmp_path / 'runs'}",
            f"--results_dir={tmp_path / 'results'}", *extra]


def _fails(capsys, argv: list[str], *expected: str) -> str:
    """Run the CLI in-process; assert exit != 0, one `vadbench: error:` message holding `expected`."""
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err, err
    msgs = [l for l in err.splitlines() if l.startswith("vadbench: error:")]
    assert len(msgs) == 1, err
    text = err[err.index("vadbench: error:"):]
    for e in expected:
        assert e in text, (e, text)
    return text


def _no_checkpoint(tmp_path: Path) -> bool:
    return not list((tmp_path / "runs").rglob("*.ckpt"))


def test_empty_test_list_is_an_error_not_an_empty_result(data, tmp_path, capsys):
    empty = tmp_path / "empty.list"
    empty.write_text("")
    _fails(capsys, _args(data, tmp_path, "fit", f"--data.init_args.test_list={empty}"),
           "test split is empty", str(empty))
    assert _no_checkpoint(tmp_path) and not (tmp_path / "results").exists()
    _fails(capsys, _args(data, tmp_path, "test", f"--data.init_args.test_list={empty}"), "test split is empty")
    assert not (tmp_path / "results").exists()


def test_empty_train_list(data, tmp_path, capsys):
    empty = tmp_path / "empty.list"
    empty.write_text("\n")
    _fails(capsys, _args(data, tmp_path, "fit", f"--data.init_args.train_list={empty}"),
           "train split is empty", str(empty))


def test_train_list_with_one_class(data, tmp_path, capsys):
    normal_only = tmp_path / "normal.list"
    normal_only.write_text("".join(l + "\n" for l in (data / "train.list").read_text().splitlines() if "Normal" in l))
    _fails(capsys, _args(data, tmp_path, "fit", f"--data.init_args.train_list={normal_only}"),
           "has no anomalous video", str(normal_only))


def test_nan_in_a_test_file_is_found_before_training(data, tmp_path, capsys):
    bad = sorted((data / "features" / "test").glob("Normal*.npy"))[0]
    arr = np.load(bad)
    arr[-1, 0, 3] = np.nan  # the last snippet: only a full scan finds it
    np.save(bad, arr)
    _fails(capsys, _args(data, tmp_path, "fit", "--trainer.max_steps=100000"), str(bad), "NaN/Inf", "index (")
    assert _no_checkpoint(tmp_path)  # no training step ran


def test_inf_in_a_train_file_fails_fit_but_not_test(data, tmp_path, capsys):
    bad = sorted((data / "features" / "train").glob("Abuse*.npy"))[0]
    arr = np.load(bad)
    arr[2, 0, 0] = np.inf
    np.save(bad, arr)
    _fails(capsys, _args(data, tmp_path, "fit"), str(bad), "NaN/Inf")
    assert _no_checkpoint(tmp_path)
    assert main(_args(data, tmp_path, "test")) == 0  # test reads no training file
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert rec["metrics"]["num_videos"] == 4


def test_truncated_feature_file_named(data, tmp_path, capsys):
    bad = sorted((data / "features" / "test").glob("Arrest*.npy"))[0]
    bad.write_bytes(bad.read_bytes()[:200])
    _fails(capsys, _args(data, tmp_path, "test"), str(bad.name), "feature")


def _write_sidecars(root: Path, **settings) -> None:
    for f in root.rglob("*_i3d.npy"):
        shape = list(np.load(f, mmap_mode="r").shape)
        base = {"backbone": "i3d_r50", "weights": "w", "snippet_len": 16, "stride": 16, "feature_dim": 32,
                "crop": "center", "views": 1}
        Path(str(f) + ".json").write_text(json.dumps({"settings": {**base, **settings}, "video": {"shape": shape}}))


def test_sidecar_snippet_length_disagrees_with_config(data, tmp_path, capsys):
    _write_sidecars(data, snippet_len=8, stride=8)
    text = _fails(capsys, _args(data, tmp_path, "fit", "--data.init_args.frames_per_snippet=16"),
                  "data.init_args.frames_per_snippet is 16", "stride = 8", ".npy.json")
    assert _no_checkpoint(tmp_path), text


def test_sidecar_backbone_and_dim_disagree_with_config(data, tmp_path, capsys):
    _write_sidecars(data, feature_dim=32)
    _fails(capsys, _args(data, tmp_path, "fit", "--data.init_args.extraction={backbone: c3d}"),
           "data.init_args.extraction.backbone is 'c3d'", "backbone = 'i3d_r50'", ".npy.json")
    one = sorted((data / "features" / "train").glob("*.npy"))[0]
    meta = json.loads(Path(str(one) + ".json").read_text())
    meta["settings"]["weights"] = "other"
    Path(str(one) + ".json").write_text(json.dumps(meta))
    _fails(capsys, _args(data, tmp_path, "fit"), "extracted with different settings", "weights", one.name)


def test_sidecar_frames_per_snippet_is_used_when_the_config_leaves_it_unset(data, tmp_path):
    """The test batches carry the data's F: frame labels and frame scores both use 8 frames per snippet."""
    from vadbench.cli import run_cli

    _write_sidecars(data, snippet_len=8, stride=8)
    truth = data / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    lengths = {f.name[: -len("_i3d.npy")]: np.load(f, mmap_mode="r").shape[0] for f in (data / "features" / "test").glob("*.npy")}
    # rescale the annotation to 8-frame snippets so it fits the shorter video
    lines = []
    for line in truth.read_text().splitlines():
        p = line.split()
        lines.append(" ".join(p[:2] + [str(max(1, int(x) // 2)) if int(x) > 0 else x for x in p[2:]]))
    truth.write_text("\n".join(lines) + "\n")
    cli = run_cli(_args(data, tmp_path, "fit", "--data.init_args.frames_per_snippet=null", "--trainer.max_steps=1",
                        "--data.init_args.ucf_frame_numbering=0-based"))
    assert cli.datamodule.frames_per_snippet == 8
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert rec["metrics"]["num_frames"] == 8 * sum(lengths.values())
    assert rec["extras"]["frames_per_snippet"] == 8 and rec["extras"]["extraction"]["stride"] == 8
    # issue #20: the result file records the values the scoring used, never the model's default 16
    facts, config = rec["run_facts"], rec["config"]
    assert facts["frames_per_snippet"] == 8 and "extraction sidecars" in facts["frames_per_snippet_from"]
    assert config["model"]["init_args"]["frames_per_snippet"] == 8 == config["data"]["init_args"]["frames_per_snippet"]
    assert facts["ucf_frame_numbering"] == "0-based" == config["data"]["init_args"]["ucf_frame_numbering"]
    assert facts["ground_truth"] == str(truth) and facts["feature_dim"] == 32
    scores = np.load(str(next((tmp_path / "results").glob("*.json"))).removesuffix(".json") + ".scores.npz")
    assert int(scores["frames_per_snippet"]) == 8


def test_truncated_checkpoint_given_to_ckpt_path(data, tmp_path, capsys):
    assert main(_args(data, tmp_path, "fit", "--run_test=false")) == 0
    (last,) = (tmp_path / "runs").rglob("last.ckpt")
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    for verb in ("fit", "test"):
        _fails(capsys, _args(data, tmp_path, verb, f"--ckpt_path={cut}"), str(cut), "checkpoint")
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    _fails(capsys, _args(data, tmp_path, "test", f"--ckpt_path={junk}"), str(junk), "checkpoint")
    _fails(capsys, _args(data, tmp_path, "test", f"--ckpt_path={tmp_path / 'nope.ckpt'}"), "nope.ckpt", "not found")


def test_real_dataset_without_a_data_root_says_which_option(tmp_path, capsys):
    text = _fails(capsys, ["fit", "--config", "rtfm/ucf_crime.yaml", f"--trainer.default_root_dir={tmp_path}"],
                  "--data.init_args.root")
    assert len(text.strip().splitlines()) == 1


def test_missing_annotation_and_feature_files(data, tmp_path, capsys):
    _fails(capsys, _args(data, tmp_path, "test", f"--data.init_args.annotations={tmp_path / 'gt.txt'}"), "gt.txt")
    victim = sorted((data / "features" / "test").glob("*.npy"))[0]
    victim.unlink()
    _fails(capsys, _args(data, tmp_path, "test"), victim.name, "not found")


def test_a_feature_path_that_is_a_directory_is_named_as_one(data, tmp_path, capsys):
    """Issue #20: a folder in a feature file's place was reported as `feature file not found`."""
    victim = sorted((data / "features" / "test").glob("*.npy"))[0]
    victim.unlink()
    victim.mkdir()
    text = _fails(capsys, _args(data, tmp_path, "test"), str(victim), "is a directory")
    assert "not found" not in text


def test_a_video_listed_twice_is_an_error_naming_the_list_and_the_video(data, tmp_path, capsys):
    """Issue #20: a test video listed twice was scored twice (its frames counted twice in the AUC),
    silently. Official `.list` files (the same video under another machine's path counts) and
    `<name> <label>` split files, test and train lists alike, are refused before anything runs."""
    lines = (data / "test.list").read_text().splitlines()
    video = lines[1].rsplit("\\", 1)[-1].removesuffix("_i3d.npy")
    twice = tmp_path / "test_twice.list"
    twice.write_text("\n".join(lines + [f"/home/someone/UCF_Test/{video}_i3d.npy"]) + "\n")
    text = _fails(capsys, _args(data, tmp_path, "test", f"--data.init_args.test_list={twice}"),
                  str(twice), f"1 video listed more than once: {video} (2x)")
    assert len(text.strip().splitlines()) == 1 and not (tmp_path / "results").exists()
    split = tmp_path / "train_split.txt"
    names = sorted(f.name.removesuffix("_i3d.npy") for f in (data / "features" / "train").glob("*.npy"))
    split.write_text("".join(f"{n} {int(not n.startswith('Normal'))}\n" for n in names + names[:2] + names[:1]))
    _fails(capsys, _args(data, tmp_path, "fit", f"--data.init_args.train_list={split}"),
           str(split), f"2 videos listed more than once: {names[0]} (3x), {names[1]} (2x)")
    assert _no_checkpoint(tmp_path)


def test_ground_truth_longer_than_the_video(data, tmp_path, capsys):
    truth = data / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    lines = truth.read_text().splitlines()
    lines[0] = " ".join(lines[0].split()[:2] + ["1", "99999", "-1", "-1"])
    truth.write_text("\n".join(lines) + "\n")
    _fails(capsys, _args(data, tmp_path, "fit"), str(truth), lines[0].split()[0].split(".")[0], "beyond")
    assert _no_checkpoint(tmp_path)


@pytest.mark.parametrize("content", [None, b"PK\x03\x04 truncated"])
def test_stage_checkpoint_missing_or_corrupt(data, tmp_path, capsys, content):
    if content is not None:
        (tmp_path / "stage1.ckpt").write_bytes(content)
    _fails(capsys, ["fit", "--config", "ssrl/synthetic.yaml", f"--data.init_args.root={data}",
                    "--data.init_args.feature_dim=32",
                    "--data.init_args.patch_scales=[]",
                    f"--model.init_args.stage_checkpoint={tmp_path / 'stage1.ckpt'}",
                    f"--trainer.default_root_dir={tmp_path / 'runs'}"], "stage1.ckpt")


def test_debug_env_shows_the_traceback(data, tmp_path, monkeypatch):
    empty = tmp_path / "empty.list"
    empty.write_text("")
    monkeypatch.setenv("VADBENCH_DEBUG", "1")
    from vadbench.errors import VadbenchError

    with pytest.raises(VadbenchError, match="test split is empty"):
        main(_args(data, tmp_path, "fit", f"--data.init_args.test_list={empty}"))


@pytest.mark.slow
def test_two_fits_started_together_never_share_a_folder(data, tmp_path):
    """Same default_root_dir, started at the same time: two run folders, two last.ckpt, each result
    JSON names (by absolute path) the checkpoint of its own run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "vadbench.cli",
                               *_args(data, tmp_path, "fit", f"--seed_everything={seed}", "--trainer.logger=true",
                                      f"--results_dir={tmp_path / f'results{seed}'}")],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    recs = [json.loads(next((tmp_path / f"results{s}").glob("*.json")).read_text()) for s in (1, 2)]
    ckpts = [Path(r["ckpt_path"]) for r in recs]
    assert all(c.is_absolute() and c.is_file() for c in ckpts) and ckpts[0] != ckpts[1]
    assert ckpts[0].parent.parent != ckpts[1].parent.parent
    assert len(list((tmp_path / "runs").rglob("last.ckpt"))) == 2
    for rec, ckpt in zip(recs, ckpts):
        assert Path(rec["extras"]["run_dir"]) == ckpt.parent.parent
        assert f"seed{rec['seed']}-" in ckpt.parent.parent.name
    w = [torch.load(c, map_location="cpu", weights_only=False)["state_dict"] for c in ckpts]
    assert any(not torch.equal(w[0][k], w[1][k]) for k in w[0])  # two different models, not one shared file
    assert not (tmp_path / "lightning_logs").exists() and not (tmp_path / "runs" / "lightning_logs").exists()


def test_resampled_features_are_refused_for_frame_level_ground_truth(data, tmp_path, capsys):
    _write_sidecars(data, fps=10.0)
    _fails(capsys, _args(data, tmp_path, "test"), "--fps 10.0", ".npy.json", "misaligned")


def test_model_and_data_feature_dims_disagree(data, tmp_path, capsys):
    """feature_dim is written once on the data side; a model-side value would be overwritten by the
    link, so it is refused, naming both keys."""
    args = _args(data, tmp_path, "fit")
    _fails(capsys, [*args, "--model.init_args.net.init_args.feature_dim=128"],
           "model.init_args.net.init_args.feature_dim is linked from", "data.init_args.feature_dim")
    assert _no_checkpoint(tmp_path)


@pytest.mark.parametrize("option, expected", [
    ("--model.init_args.net.init_args.k=abc", "--model.init_args.net.init_args.k: Expected a <class 'int'>"),
    ("--model.init_args.no_such_option=1", "--model.init_args.no_such_option: Option 'no_such_option' is not accepted"),
    ("--no_such_flag", "--no_such_flag: no such option"),   # answered before Lightning is imported
])
def test_a_wrong_option_is_one_line_naming_the_option(data, tmp_path, capsys, option, expected):
    _fails(capsys, [*_args(data, tmp_path, "fit"), option], expected)
    assert _no_checkpoint(tmp_path)


@pytest.mark.parametrize("content", [None, b"not a torch file"])
def test_backbone_weight_file_missing_or_corrupt(tmp_path, capsys, content):
    weights = tmp_path / "resnet.pth"
    if content is not None:
        weights.write_bytes(content)
    _fails(capsys, ["fit", "--config", "trx/synthetic_5w1s.yaml", f"--model.init_args.net.init_args.backbone_weights={weights}",
                    "--trainer.max_steps=1", f"--trainer.default_root_dir={tmp_path / 'runs'}",
                    f"--results_dir={tmp_path / 'results'}"], str(weights))

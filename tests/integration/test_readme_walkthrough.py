"""The README, walked through by a new user from an empty folder (issue 25).

Every command of the README's `bash` blocks has a step in `WALK`, in README order:
- `run`: run as written (in-process, `vadbench.cli.main`, from an empty working folder), with tiny synthetic
  sizes and few steps appended (`extra`), and what it must leave behind checked;
- `parse`: a real dataset, GPUs or a weights download is needed: the data folders are empty stand-ins and
  the command is parsed whole (`--print_config`, or `--dry-run` for `reproduce`): config names, composed
  parts and every option must resolve from the empty folder;
- `covered`: another test runs exactly this command (that test is named, and must hold the command's words);
- `not run`: why (an install, the network).
A fast test fails when a README command has no step (or a step no command), so the two stay in sync; the
slow test walks them all.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def readme_commands(text: str | None = None) -> list[str]:
    """The commands of the README's ```bash blocks, continuation lines joined, comments dropped, in order."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text if text is not None else README.read_text(), re.S):
        lines, i = block.split("\n"), 0
        while i < len(lines):
            line = lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1].rstrip() + " " + lines[i].strip()
            i += 1
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                out.append(" ".join(line.split()))
    return out


@dataclass
class Step:
    mode: str                                   # run | parse | covered | not run
    extra: tuple[str, ...] = ()                 # appended to the command (tiny sizes, few steps)
    rc: int = 0                                 # expected exit status
    check: Callable | None = None               # check(work_dir, output) -> None (asserts)
    why: str = ""                               # covered: the test file; not run: the reason
    words: tuple[str, ...] = ()                 # covered: strings that test must contain


# tiny synthetic sizes (the sets are generated on first use under $VADBENCH_HOME)
MIL_SET = "{train_normal: 6, train_abnormal: 6, test_normal: 3, test_abnormal: 3, min_snippets: 16, max_snippets: 32}"
PATCH_SET = MIL_SET[:-1] + ", patch_grids: [patch23, patch35, patch47]}"
MIL = ("--trainer.max_steps=2", "--trainer.log_every_n_steps=1", "--data.init_args.batch_size=2",
       "--data.init_args.feature_dim=16", f"--data.init_args.synthetic={MIL_SET}")
PATCHES = ("--trainer.max_steps=2", "--data.init_args.batch_size=2", f"--data.init_args.synthetic={PATCH_SET}")
FEW_SHOT = ("--trainer.max_steps=1", "--trainer.accumulate_grad_batches=1", "--data.init_args.train_episodes=2",
            "--data.init_args.test_episodes=2", "--model.init_args.cache_eval_embeddings=false")
TRX = FEW_SHOT + ("--data.init_args.synthetic={layout: hmdb51, size: 64, frames: 16, videos_per_class: 4}",)
SKPS = FEW_SHOT + ("--data.init_args.synthetic={layout: hmdb51, size: 128, frames: 16, videos_per_class: 4, "
                   "train_classes: 12, val_classes: 1, test_classes: 6, object_scale: 0.5, motion_scale: 0.3, "
                   "corner_offset: 0.3}",)   # data/synthetic_video_keypatch.yaml with 4 videos a class
PARSE = Step("parse")
SYNTH_TINY = ("--train-normal", "4", "--train-abnormal", "4", "--test-normal", "2", "--test-abnormal", "2",
              "--feature-dim", "16", "--min-snippets", "16", "--max-snippets", "32")
PER_CROP_FIT = ("--trainer.max_steps=2", "--trainer.log_every_n_steps=1", "--data.init_args.batch_size=2",
                "--data.init_args.feature_dim=16", "--results_dir=results_per_crop")   # ./results keeps one dataset


def files(pattern: str, at_least: int = 1):
    def check(work: Path, out: str) -> None:
        found = glob.glob(str(work / pattern), recursive=True)
        assert len(found) >= at_least, f"{pattern}: {len(found)} file(s) in {sorted(os.listdir(work))}"
    return check


def says(*texts: str, then: Callable | None = None):
    def check(work: Path, out: str) -> None:
        for text in texts:
            assert text in out, f"{text!r} not in the output:\n{out[-3000:]}"
        if then is not None:
            then(work, out)
    return check


def run_config_was_used(work: Path, out: str) -> None:
    recs = [json.loads(p.read_text()) for p in work.glob("results/*.json")]
    tested = [r for r in recs if "/test-seed0-" in (r.get("extras") or {}).get("run_dir", "")]
    assert tested and tested[0]["model"] == "rtfm" and tested[0]["config"]["data"]["init_args"]["feature_dim"] == 16
    assert "config from the checkpoint's run folder" in out


WALK: dict[str, Step] = {
    "make demo": Step("not run", why="installs the package (pip) first; its steps are the commands below, and the "
                                     "README's Performance table gives its measured time and AUCs"),
    "make test": Step("not run", why="the test suite itself"),
    "python3 -m venv v && . v/bin/activate && make test": Step(
        "not run", why="a fresh venv and the whole test suite (CI's own command); the wheel-install test "
                       "covers the fresh environment"),
    "vadbench --help": Step("run", check=says("trainer verbs", "reproduce")),
    "vadbench --version": Step("run", check=says("vadbench ")),
    "vadbench fit --help": Step("run", check=says("packaged experiments", "--help-all", "examples:", "rtfm:")),
    "vadbench configs rtfm": Step("run", check=says("rtfm/synthetic.yaml")),
    "vadbench fit --config rtfm/synthetic.yaml": Step("run", MIL, check=says(
        "vadbench: synthetic data in", "fit step 2/2", then=files("results/rtfm__synthetic__*.json"))),
    "vadbench test --ckpt_path runs/rtfm/synthetic/default/seed0-*/checkpoints/last.ckpt": Step(
        "run", check=run_config_was_used),
    "vadbench predict --ckpt_path runs/rtfm/synthetic/default/seed0-*/checkpoints/last.ckpt": Step(
        "run", check=files("runs/rtfm/synthetic/default/predict-seed0-*/predictions/rtfm-synthetic.csv")),
    "vadbench fit --config rtfm/ucf_crime.yaml --print_config": Step("run", check=says("dataset: ucf_crime")),
    "vadbench synth mil --out synthetic_mil": Step("run", ("--train-normal", "4", "--train-abnormal", "4",
                                                           "--test-normal", "2", "--test-abnormal", "2"),
                                                   check=files("synthetic_mil/synthetic.json")),
    "vadbench data info shanghaitech": Step("run", check=says("data_manifests/shanghaitech/manifest.yaml")),
    "vadbench leaderboard": Step("run", check=files("leaderboard/README.md")),
    "vadbench report --no-wandb": Step("run", check=files("report/plots/loss_synthetic.png")),
    "vadbench plot roc --results results --out roc.png": Step("run", check=files("roc.png")),
    "vadbench fit --config rtfm/ucf_crime.yaml --config trainer/ddp.yaml --data.init_args.root /data/UCF_I3D": PARSE,
    "vadbench fit --config rtfm_ucf.yaml --data.init_args.root /data/UCF_Train_ten_crop_i3d": PARSE,
    "vadbench test --config rtfm_ucf.yaml --data.init_args.root /data/UCF_I3D --ckpt_path "
    "runs/rtfm/ucf_crime/default/seed0-*/checkpoints/last.ckpt": PARSE,
    "vadbench data verify ucf_crime --root /data/UCF_I3D": Step(
        "run", rc=1, check=says("missing feature file")),   # an empty stand-in: every file reported missing
    "vadbench fit --config rtfm/xd_violence.yaml --data.init_args.root /data/XD_I3D --data.init_args.train_list "
    "UR-DMU/list/XD_Train.list --data.init_args.test_list UR-DMU/list/XD_Test.list": PARSE,
    "vadbench fit --config rtfm/ucf_crime.yaml --config data/ucf_crime_i3d1024.yaml --data.init_args.root "
    "/data/UCF_Wu_I3D": PARSE,
    "vadbench synth mil --layout xd_violence --out synthetic_xd": Step(
        "run", SYNTH_TINY, check=files("synthetic_xd/**/*__4.npy")),
    "vadbench fit --config rtfm/xd_violence.yaml --data.init_args.root synthetic_xd": Step(
        "run", PER_CROP_FIT, check=files("results_per_crop/rtfm__xd_violence__*.json")),
    "vadbench synth mil --layout ucf_crime_per_crop --out synthetic_ucf1024": Step(
        "run", SYNTH_TINY, check=files("synthetic_ucf1024/**/*__9.npy")),
    "vadbench fit --config rtfm/ucf_crime.yaml --config data/ucf_crime_i3d1024.yaml --data.init_args.root "
    "synthetic_ucf1024": Step("run", PER_CROP_FIT, check=files("results_per_crop/rtfm__ucf_crime__*.json")),
    "vadbench test --config rtfm/xd_violence.yaml --data.init_args.root /data/XD_I3D --ckpt_path "
    "runs/rtfm/xd_violence/default/seed0-*/checkpoints/last.ckpt --model.init_args.far_threshold 0.5": PARSE,
    "vadbench fit --config sultani/synthetic.yaml": Step("run", MIL, check=files("results/sultani__*.json")),
    "vadbench fit --config mgfn/synthetic.yaml": Step("run", MIL, check=files("results/mgfn__*.json")),
    "vadbench fit --config mgfn/ucf_crime.yaml --data.init_args.root /data/UCF_I3D": PARSE,
    "vadbench test --config mgfn/ucf_crime.yaml --data.init_args.root /data/UCF_I3D --ckpt_path mgfn_ucf.pkl": Step(
        "covered", why="tests/integration/test_mgfn_cli.py",
        words=('"test", "--config", "mgfn/ucf_crime.yaml", "--ckpt_path"',)),
    "vadbench fit --config mgfn/ucf_crime.yaml --config recipe/mgfn_paper.yaml --data.init_args.root /data/UCF_I3D":
        PARSE,
    "vadbench test --config urdmu/xd_violence.yaml --data.init_args.root /data/XD_I3D --ckpt_path xd_trans_2022.pkl":
        Step("covered", why="tests/integration/test_urdmu_bn_wvad_cli.py",
             words=('"test", "--config", f"{model}/xd_violence.yaml"', '--ckpt_path={official}')),
    "vadbench extract /data/UCF_Crime/videos /data/UCF_I3D --backbone i3d_r50 --weights i3d_r50_kinetics.pth": Step(
        "not run", why="needs the Kinetics I3D weight file (a download); extraction itself runs in the Ped2 line"),
    "vadbench extract /data/UCF_Crime/videos /data/UCF_patches --patch-grids 2x3 3x5 4x7 --no-clip --weights ...":
        Step("not run", why="needs the I3D weight file (a download); patch grids: tests/integration/"
                            "test_extract_pipeline.py"),
    "vadbench extract ../shared/real_data/yatoyun_test_ssctb/data/ped2 features/ped2 --layout ucsd_ped2 "
    "--backbone tiny3d --snippet-len 8 --resize 120x180 --crop full": Step(
        "covered", why="tests/integration/test_ped2_readme_commands.py",
        words=('"--layout", "ucsd_ped2", "--backbone", "tiny3d", "--snippet-len", "8", "--resize", "120x180"',)),
    "vadbench extract /data/XD/videos /data/XD_I3D --backbone inception_i3d --weights rgb_imagenet.pt --crop five "
    "--layout per_crop": Step("not run", why="needs the Inception-I3D weight file (a download); --layout per_crop and "
                                             "--crop five: tests/unit/test_extract_per_crop_clip.py"),
    "vadbench extract /data/XD/videos /data/XD_CLIP --backbone clip_vit_b16 --weights openai --crop five --layout "
    "per_crop": Step("not run", why="`--weights openai` is the CLIP download; random-init CLIP extraction: "
                                    "tests/unit/test_extract_per_crop_clip.py"),
    "vadbench bench extract": Step("covered", why="tests/integration/test_bench.py", words=('"extract": (',)),
    "vadbench fit --config ssrl/synthetic.yaml": Step("run", PATCHES, check=files("results/ssrl__*.json")),
    "vadbench ssrl-schedule --config ssrl/ucf_crime.yaml --data.init_args.root /data/ucf": PARSE,
    "vadbench msip-schedule --config msip/synthetic.yaml": Step("run", PATCHES, check=says(
        "stay in eval mode", then=files("runs/msip_schedule/stage2/checkpoints/last.ckpt"))),
    "vadbench complexity --config ssrl/ucf_crime.yaml": Step("run", check=says("192")),
    "vadbench ssrl-heatmap --config ssrl/synthetic.yaml --ckpt_path runs/ssrl/synthetic/default/seed0-*/checkpoints/"
    "last.ckpt --out heatmaps/": Step("run", PATCHES, check=files("heatmaps/*.png")),
    "vadbench fit --config sta_mil/synthetic.yaml": Step("run", MIL, check=files("results/sta_mil__*.json")),
    "vadbench fit --config sta_mil/ucf_crime.yaml --data.init_args.root /data/UCF_I3D": PARSE,
    "vadbench fit --config sta_mil/ucf_crime_c3d.yaml --data.init_args.root /data/ucf_c3d": PARSE,
    "vadbench fit --config sta_mil/ucsd_ped2.yaml --data.init_args.root features/ped2 --data.init_args.annotations "
    "UCSDped2.m": PARSE,
    "vadbench fit --config trx/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/trx__*.json")),
    "vadbench synth video --out fewshot_synth --layout all": Step("run", ("--videos-per-class", "2"),
                                                                  check=files("fewshot_synth/*/synthetic.json", 3)),
    "vadbench fit --config trx/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config trx/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51 "
    "--model.init_args.net.init_args.backbone_weights /weights/resnet50-0676ba61.pth": PARSE,
    "vadbench fit --config trx/ucf_crime_v2_5w5s.yaml --data.init_args.root /data/kinetics400 "
    "--data.init_args.test_root /data/ucf_crime_v2": PARSE,
    "vadbench fit --config hyrsm/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/hyrsm__*.json")),
    "vadbench fit --config hyrsm/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "benchmarks/gpu_bench.sh [OUT]": Step("not run", why="measures a GPU (none in CI); its parts run in "
                                                         "tests/integration/test_bench.py"),
    "SMOKE=1 benchmarks/gpu_bench.sh": Step("not run", why="a minutes-long rehearsal of the GPU script; its parts run "
                                                           "in tests/integration/test_bench.py"),
    "vadbench bench gpu --models rtfm,trx --steps 100": Step("covered", why="tests/integration/test_bench.py",
                                                             words=('"gpu": (',)),
    "vadbench bench trx-cache": Step("covered", why="tests/integration/test_bench.py", words=('"trx-cache": (',)),
    "vadbench fit --config ata/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/ata__*.json")),
    "vadbench fit --config ata/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config otam/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/otam__*.json")),
    "vadbench fit --config otam/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config strm/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/strm__*.json")),
    "vadbench fit --config strm/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config sloshnet/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/sloshnet__*.json")),
    "vadbench fit --config sloshnet/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config bimacl/synthetic_5w1s.yaml": Step("run", TRX, check=files("results/bimacl__*.json")),
    "vadbench fit --config bimacl/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51": PARSE,
    "vadbench fit --config skps_net/synthetic_5w1s.yaml": Step("run", SKPS, check=files("results/skps_net__*.json")),
    "vadbench fit --config skps_net/hmdb51_5w5s.yaml --data.init_args.root /data/hmdb51 "
    "--model.init_args.net.init_args.backbone_weights resnet50.pth "
    "--model.init_args.net.init_args.local_backbone_weights resnet50.pth": PARSE,
    "vadbench fit --config skps_net/ucf_crime_v2_5w5s.yaml --data.init_args.root /data/kinetics100 "
    "--data.init_args.test_root /data/ucf_crime_v2": PARSE,
    "vadbench skps-keypatch --config skps_net/synthetic_5w1s.yaml --ckpt_path runs/skps_net/synthetic/5w1s/seed0-*/"
    "checkpoints/last.ckpt --out keypatches/": Step("run", ("--videos", "1", *SKPS), check=files("keypatches/*.png")),
    "vadbench leaderboard --results results --out leaderboard --plots": Step("run", check=files("leaderboard/plots/*.png")),
    "vadbench reproduce --list": Step("run", check=says("rtfm-baseline")),
    "vadbench reproduce ssrl-table3 --dry-run": Step("run", check=says("[needs --root", "--root ucf_crime=DIR")),
    "vadbench reproduce rtfm-baseline --data synthetic --seeds 0": Step(
        "run", ("--max-steps", "2", "--", *MIL[1:]), check=files("results/synthetic/*.json", 2)),
    "vadbench reproduce ssrl-table5 --devices 4 --root ucf_crime=/data/UCF_I3D --root shanghaitech=/data/SH_I3D":
        Step("parse", check=says("[to run]")),
    "vadbench reproduce msip-comparison --root ucf_crime=/data/UCF_I3D --root shanghaitech=/data/SH_I3D":
        Step("parse", check=says("[to run]")),
    "vadbench plot timeline --scores results/rtfm__synthetic__*.scores.npz --out timeline.png": Step(
        "run", check=files("timeline.png")),
    "vadbench plot shots --results results --out shots.png": Step("run", check=files("shots.png")),
    "vadbench fit --config rtfm/synthetic.yaml --config logger/wandb.yaml --seed_everything 0": Step("run", MIL),
    "vadbench fit --config rtfm/synthetic.yaml --config logger/wandb.yaml --seed_everything 1": Step("run", MIL),
    "vadbench report --results results --out report": Step("run", check=files("report/plots/loss_synthetic.png")),
    "wandb sync runs/*/*/*/*/wandb/offline-run-* report/wandb/offline-run-*": Step(
        "not run", why="an upload (never a network call in tests); its globs are checked to name the offline runs"),
}


def test_every_readme_command_has_a_step_and_every_make_target_exists():
    commands = readme_commands()
    assert not [c for c in commands if c not in WALK], "README commands without a walk-through step"
    assert not [c for c in WALK if c not in commands], "walk-through steps for commands the README no longer has"
    for cmd, step in WALK.items():
        assert step.mode in ("run", "parse", "covered", "not run"), cmd
        if step.mode in ("covered", "not run"):
            assert step.why, cmd
        if step.mode == "covered":
            text = (REPO / step.why).read_text()
            assert all(w in text for w in step.words), (cmd, step.why)
    # every `make <target>` the README and pyproject promise exists
    targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))
    promised = set(re.findall(r"`make ([a-z-]+)`", README.read_text() + (REPO / "pyproject.toml").read_text()))
    assert promised and promised <= targets, promised - targets


def _argv(cmd: str, work: Path, standin: Path) -> list[str]:
    """The command's words as the shell would pass them: globs expanded in the working folder; data and
    weight paths of real datasets (/data/..., /weights/...) replaced by empty stand-in folders."""
    out = []
    for word in shlex.split(cmd)[1:]:
        key, eq, value = word.partition("=")
        target = value if eq else word
        if target.startswith(("/data/", "/weights/")):
            folder = standin / target.strip("/").replace("/", "_")
            folder.mkdir(parents=True, exist_ok=True)
            out.append(f"{key}={folder}" if eq else str(folder))
        elif "*" in word:
            out += sorted(os.path.relpath(p, work) for p in glob.glob(str(work / word))) or [word]
        else:
            out.append(word)
    return out


@pytest.mark.slow
def test_readme_walkthrough_from_an_empty_folder(tmp_path, monkeypatch, capsys, one_torch_thread):
    from vadbench.cli import main

    work, standin = tmp_path / "work", tmp_path / "standin"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("VADBENCH_HOME", str(tmp_path / "home"))      # nothing generated yet
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    ran = []
    for cmd in readme_commands():
        step = WALK[cmd]
        if step.mode in ("covered", "not run"):
            continue
        argv = _argv(cmd, work, standin) + list(step.extra)
        if step.mode == "parse":
            argv.append("--dry-run" if argv[0] == "reproduce" else "--print_config")
        try:
            rc = main(argv)
        except SystemExit as stop:        # --help, --print_config
            rc = stop.code or 0
        out = "\n".join(capsys.readouterr())
        assert rc == step.rc, f"`{cmd}` exited {rc}:\n{out[-4000:]}"
        if step.check is not None:
            step.check(work, out)
        ran.append(cmd)
    assert len(ran) >= 40
    # the README's upload command names every offline run this walk made (3 fits with wandb + the report)
    sync = [c for c in readme_commands() if c.startswith("wandb sync")][0].split()[2:]
    assert len([p for pattern in sync for p in glob.glob(str(work / pattern))]) == 3
    assert not (work / "wandb").exists() and not (work / "lightning_logs").exists()

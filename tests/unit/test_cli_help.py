"""`vadbench --help` / `--version`: for users, one line per verb, fast (no torch/Lightning import)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vadbench.cli import _verbs, main


def test_help_lists_every_verb_with_what_it_does(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    for verb in ["fit", "validate", "test", "predict", *_verbs()]:
        assert verb in lines, verb
        assert len(lines[verb].split()) >= 4, f"{verb}: no description in {lines[verb]!r}"
    assert "ssrl-schedule" in lines and "ssrl_schedule" not in text
    assert "developer" not in text.lower() and "__doc__" not in text


def test_version_and_help_without_torch():
    out = subprocess.run([sys.executable, "-c", "import sys; from vadbench.cli import main; main(['--help']); "
                          "print('torch' in sys.modules, 'lightning' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().endswith("False False"), out.stdout[-200:]
    version = subprocess.run([sys.executable, "-m", "vadbench.cli", "--version"], capture_output=True, text=True)
    from vadbench import __version__

    assert version.stdout.strip() == f"vadbench {__version__}"


# A trainer verb's help and the usual argument mistakes are answered before torch / Lightning are imported
# (seconds on an idle machine, 15-20 s on a busy one); the time itself is not asserted, the imports are.
FAST_CASES = [
    (["fit", "--help"], 0, None),
    (["test", "-h"], 0, None),
    (["fit"], 2, "vadbench fit: give --config NAME (vadbench configs lists them) or --ckpt_path"),
    (["test"], 2, "vadbench test: give --config NAME (vadbench configs lists them) or --ckpt_path"),
    (["predict", "--trainer.max_steps", "3"], 2, "give --config NAME (vadbench configs lists them) or --ckpt_path"),
    (["fit", "--config", "rtfm/nothere.yaml"], 2, "config 'rtfm/nothere.yaml' is neither a file nor a packaged config"),
    (["fit", "--config", "rtfm/synthetic.yaml", "--trainer.max_step", "3"], 2,
     "--trainer.max_step: no such option (did you mean --trainer.max_steps?)"),
    (["fit", "--config", "rtfm/synthetic.yaml", "--trainer.max_steps=abc"], 2,
     "--trainer.max_steps: expected an integer, got 'abc'"),
    (["fit", "--confg", "rtfm/synthetic.yaml"], 2, "--confg: no such option (did you mean --config?)"),
    (["fit", "--config", "rtfm/synthetic.yaml", "--checkpoint.every_n_train_step", "5"], 2,
     "did you mean --checkpoint.every_n_train_steps?"),
    (["test", "--ckpt_path", "nothere.ckpt"], 2, "--ckpt_path nothere.ckpt: checkpoint file not found"),
]


def test_trainer_verb_help_and_argument_errors_come_before_lightning_is_imported(tmp_path):
    script = ("import sys, json\nfrom vadbench.cli import main\n"
              f"cases = {json.dumps([c[0] for c in FAST_CASES])}\n"
              "rcs = []\nfor argv in cases:\n    try:\n        rcs.append(main(argv))\n"
              "    except SystemExit as stop:\n        rcs.append(stop.code)\n"
              "    print('@@', file=sys.stderr, flush=True)\n"
              "print('RESULT', json.dumps([rcs, [m for m in ('torch', 'lightning') if m in sys.modules]]))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rcs, heavy = json.loads(out.stdout.rsplit("RESULT", 1)[1])
    assert heavy == []                                               # neither torch nor Lightning imported
    assert rcs == [rc for _, rc, _ in FAST_CASES]
    errors = out.stderr.split("@@\n")
    for (argv, rc, message), err in zip(FAST_CASES, errors):
        if message is not None:
            assert message in err and err.count("\n") == 1 and err.startswith("vadbench: error: "), (argv, err)
    assert list(tmp_path.iterdir()) == []                            # nothing written


def test_fit_help_puts_vadbench_first_with_config_names_and_examples(capsys):
    from vadbench.paths import CONFIGS_DIR

    assert main(["fit", "--help"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) < 60                                            # one screen, not 725 lines
    assert lines[0].startswith("usage: vadbench fit --config")
    head = "\n".join(lines[:20])
    for option in ("--config", "--ckpt_path", "--data.init_args.root", "--results_dir", "--setting", "--help-all"):
        assert option in head, option
    assert "examples:" in text and "vadbench fit --config rtfm/synthetic.yaml" in text
    experiments = {p.parent.name for p in CONFIGS_DIR.glob("*/*.yaml")} - {
        "model", "data", "recipe", "trainer", "shots", "logger", "demo"}
    for model in experiments:                                         # every packaged experiment folder, by name
        assert f"  {model}:" in text, model
    assert "ucf_crime" in text and "{hmdb51,kinetics100,synthetic,ucf_crime_v2}_5w{1,5,10}s" in text   # brace form


@pytest.mark.parametrize("spelling", ["ssrl-schedule", "ssrl_schedule"])
def test_both_spellings_of_a_verb_route_to_it(spelling, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([spelling, "--help"])
    assert exit_.value.code == 0
    assert "ssrl" in capsys.readouterr().out.lower()


def test_fit_help_lists_few_shot_experiments_in_brace_form():
    from vadbench.trainer_args import _brace_shots

    assert _brace_shots(["a_5w1s", "a_5w5s", "b_5w5s", "b_5w1s", "c_5w1s", "synthetic", "a_5w10s", "b_5w10s"]) == [
        "synthetic", "{a,b}_5w{1,5,10}s", "c_5w1s"]
    assert _brace_shots(["ucf_crime", "xd_violence"]) == ["ucf_crime", "xd_violence"]
    assert main(["fit", "--help"]) == 0

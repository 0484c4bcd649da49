"""`vadbench --help` / `--version`: for users, one line per verb, fast (no torch/Lightning import)."""

from __future__ import annotations

import subprocess
import sys
import time

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


def test_version_and_fast_start_without_torch():
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "import sys; from vadbench.cli import main; main(['--help']); "
                          "print('torch' in sys.modules, 'lightning' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert out.returncode == 0 and out.stdout.strip().endswith("False False"), out.stdout[-200:]
    assert elapsed < 2.0, f"vadbench --help took {elapsed:.2f} s"
    version = subprocess.run([sys.executable, "-m", "vadbench.cli", "--version"], capture_output=True, text=True)
    from vadbench import __version__

    assert version.stdout.strip() == f"vadbench {__version__}"


@pytest.mark.parametrize("spelling", ["ssrl-schedule", "ssrl_schedule"])
def test_both_spellings_of_a_verb_route_to_it(spelling, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([spelling, "--help"])
    assert exit_.value.code == 0
    assert "ssrl" in capsys.readouterr().out.lower()

"""`vadbench synth` never deletes a folder it did not write."""

from __future__ import annotations

from vadbench.commands.synth import main

SMALL = ["--train-normal", "2", "--train-abnormal", "2", "--test-normal", "1", "--test-abnormal", "1",
         "--feature-dim", "8", "--min-snippets", "4", "--max-snippets", "6"]


def test_synth_refuses_a_foreign_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    assert main(["mil", "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "thesis.tex" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "thesis.tex").read_text() == "precious"
    # its own earlier output is replaced; an empty or new folder is fine
    fresh = tmp_path / "fresh"
    assert main(["mil", "--out", str(fresh), *SMALL]) == 0
    assert main(["mil", "--out", str(fresh), *SMALL, "--seed", "1"]) == 0
    (tmp_path / "empty").mkdir()
    assert main(["mil", "--out", str(tmp_path / "empty"), *SMALL]) == 0
    assert main(["mil", "--out", str(out), *SMALL, "--overwrite"]) == 0
    assert not (out / "thesis.tex").exists() and (out / "synthetic.json").is_file()


def test_synth_video_refuses_a_foreign_folder(tmp_path, capsys):
    out = tmp_path / "videos"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert main(["video", "--out", str(out), "--layout", "hmdb51"]) == 2
    assert "not written by vadbench synth" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep"

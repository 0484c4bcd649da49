"""Composed configs: an experiment's `compose:` parts apply in order, then its own keys."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from vadbench.paths import expand_config, load_config
from vadbench.trainer_cli import _resolve_config_args


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def parts(tmp_path):
    _write(tmp_path / "model" / "m.yaml", """\
        model:
          class_path: a.B
          init_args: {k: 3, dropout: 0.7}
        """)
    _write(tmp_path / "recipe" / "r.yaml", """\
        model:
          init_args: {k: 5}
        """)
    exp = _write(tmp_path / "exp" / "e.yaml", """\
        compose: [../model/m.yaml, ../recipe/r.yaml]
        model:
          init_args: {dropout: 0.1}
        seed_everything: 4
        """)
    return tmp_path, exp


def test_expand_order_parts_then_own_keys(parts):
    root, exp = parts
    out = expand_config(exp)
    assert out[:2] == [(root / "model" / "m.yaml").resolve(), (root / "recipe" / "r.yaml").resolve()]
    own = yaml.safe_load(out[2])
    assert "compose" not in own and own["seed_everything"] == 4


def test_load_config_merges_in_order(parts):
    _, exp = parts
    cfg = load_config(exp)
    assert cfg["model"] == {"class_path": "a.B", "init_args": {"k": 5, "dropout": 0.1}}


def test_resolve_args_expands_each_config(parts):
    root, exp = parts
    args = _resolve_config_args(["fit", "--config", str(exp), "--trainer.max_steps=3"])
    assert args[0] == "fit" and args[-1] == "--trainer.max_steps=3"
    assert args.count("--config") == 3


def test_cycle_is_an_error(tmp_path):
    _write(tmp_path / "a.yaml", "compose: [b.yaml]\n")
    _write(tmp_path / "b.yaml", "compose: [a.yaml]\n")
    with pytest.raises(ValueError, match="composes itself"):
        expand_config(tmp_path / "a.yaml")


def test_composed_config_runs_through_lightning_cli(tmp_path, capsys):
    """A packaged config split into parts prints the same resolved config as the single file."""
    from vadbench.paths import resolve_config
    from vadbench.trainer_cli import run_cli

    whole = load_config("rtfm/synthetic.yaml")     # the packaged experiment is itself composed: merge it
    single = _write(tmp_path / "single.yaml", yaml.safe_dump(whole))
    model = {"model": whole.pop("model")}
    _write(tmp_path / "model.yaml", yaml.safe_dump(model))
    _write(tmp_path / "exp.yaml", yaml.safe_dump({"compose": ["model.yaml"], **whole}))

    def printed(cfg):
        with pytest.raises(SystemExit):
            run_cli(["fit", "--config", str(cfg), "--print_config"])
        return yaml.safe_load(capsys.readouterr().out)

    assert printed(tmp_path / "exp.yaml") == printed(single) == printed(resolve_config("rtfm/synthetic.yaml"))

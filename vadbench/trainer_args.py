"""What `vadbench fit|validate|test|predict` answers before torch and Lightning are imported.

Importing Lightning takes seconds (15-20 s on a busy machine), so `vadbench fit --help` and the
argument mistakes a user makes most (no `--config`, a config name that does not exist, a misspelt
option, `--trainer.max_steps abc`) are handled here, with the standard library and PyYAML only:

- `short_help(verb)`: vadbench's own options, the packaged experiment configs and two examples;
  Lightning's full help (every trainer / model / data option) is `--help-all`.
- `check_args(verb, args)`: raises a one-line `VadbenchError` for those mistakes. Option names are
  checked against LightningCLI's top-level options and, for `--trainer.*` / `--checkpoint.*`, against
  the Trainer / ModelCheckpoint signatures read from Lightning's source files (not imported); whatever
  this cannot judge (model and data options) is left to jsonargparse.
- `run_folder_config(ckpt)`: the `config.yaml` a run wrote into its folder, so that `vadbench test
  --ckpt_path runs/.../checkpoints/last.ckpt` with no `--config` tests the run as it was trained.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import re
import textwrap
from functools import lru_cache
from pathlib import Path

from vadbench.errors import CheckpointError, ConfigError

TRAINER_VERBS = ("fit", "validate", "test", "predict")
# LightningCLI's top-level options of each verb (vadbench adds results_dir, setting, run_test, checkpoint)
TOP_LEVEL = {"config", "print_config", "help", "seed_everything", "trainer", "model", "data", "checkpoint",
             "optimizer", "lr_scheduler", "results_dir", "setting", "run_test", "ckpt_path", "weights_only"}
VERB_OPTIONS = {"fit": set(), "validate": {"verbose"}, "test": {"verbose"}, "predict": {"return_predictions"}}
FULL_HELP = "--help-all"
NO_CONFIG = "give --config NAME (vadbench configs lists them) or --ckpt_path"

VERB_LINES = {
    "fit": "train a model from a config, then test the selected weights and write a result JSON",
    "validate": "run the validation split of a config with a checkpoint",
    "test": "test a checkpoint (or a config's initial weights) and write a result JSON (+ per-video scores)",
    "predict": "score the test videos with a checkpoint; writes <run folder>/predictions/*.scores.npz and .csv",
}
EXAMPLES = {
    "fit": ["vadbench fit --config rtfm/synthetic.yaml                 # synthetic data, no dataset needed",
            "vadbench fit --config ssrl_ucf.yaml --data.init_args.root /data/UCF_I3D --trainer.max_steps 1000"],
    "validate": ["vadbench validate --ckpt_path runs/rtfm/synthetic/default/seed0-.../checkpoints/last.ckpt",
                 "vadbench validate --config rtfm/synthetic.yaml --data.init_args.validation train_split"],
    "test": ["vadbench test --ckpt_path runs/rtfm/synthetic/default/seed0-.../checkpoints/last.ckpt",
             "vadbench test --config rtfm_ucf.yaml --data.init_args.root /data/UCF_I3D --ckpt_path last.ckpt"],
    "predict": ["vadbench predict --ckpt_path runs/rtfm/synthetic/default/seed0-.../checkpoints/last.ckpt",
                "vadbench predict --config rtfm_ucf.yaml --data.init_args.root /data/UCF_I3D --ckpt_path last.ckpt"],
}


def _experiment_configs() -> dict[str, list[str]]:
    """{model: [experiment names]} of the packaged configs (`configs/<model>/<name>.yaml`)."""
    from vadbench.paths import CONFIGS_DIR

    parts = {"model", "data", "recipe", "trainer", "shots", "logger", "demo"}
    out: dict[str, list[str]] = {}
    for path in sorted(CONFIGS_DIR.glob("*/*.yaml")):
        if path.parent.name not in parts:
            out.setdefault(path.parent.name, []).append(path.stem)
    return out


def short_help(verb: str) -> str:
    """`vadbench <verb> --help`: vadbench's options, the config names and two examples (no Lightning)."""
    opts = [
        ("-c, --config NAME|FILE", "a packaged config (names below; `vadbench configs` lists every file) or your "
                                   "own YAML; repeat to compose, applied in order (e.g. + trainer/gpu.yaml)"),
        ("--ckpt_path FILE", ("resume a run exactly from its last.ckpt" if verb == "fit" else "the weights to use")
         + "; without --config, the checkpoint's run folder config.yaml is used (your options still apply)"),
        ("--data.init_args.root DIR", "the dataset's folder (real data; synthetic data needs none)"),
        ("--results_dir DIR", "where the result JSON goes (default ./results)"),
        ("--setting TAG", "the run's tag in result files and tables, e.g. an ablation (default: default)"),
        ("--seed_everything N", "the seed"),
        ("--trainer.default_root_dir DIR", "run folders go under it (default ./runs)"),
        ("--trainer.max_steps N", "training steps (also --trainer.accelerator gpu, --trainer.devices N, ...)"),
    ]
    if verb == "fit":
        opts += [("--run_test BOOL", "test the selected weights when training ends (default true)"),
                 ("--checkpoint.every_n_train_steps N", "checkpoint cadence (last.ckpt is always kept)")]
    opts += [("--print_config", "print the full resolved config and exit"),
             ("--KEY VALUE", "any value of the config, e.g. --model.init_args.optimizer.init_args.lr 1e-4"),
             (FULL_HELP, "Lightning's full help: every trainer, model and data option (slower)")]
    width = max(len(o) for o, _ in opts) + 2
    wrap = textwrap.TextWrapper(width=max(100, width + 40), initial_indent=" " * (width + 2),
                                subsequent_indent=" " * (width + 2))
    usage = f"usage: vadbench {verb} --config NAME|FILE [--config MORE ...] [--KEY VALUE ...]"
    if verb != "fit":
        usage += f"\n       vadbench {verb} --ckpt_path runs/.../checkpoints/last.ckpt [--KEY VALUE ...]"
    lines = [usage,
             "", textwrap.fill(f"{VERB_LINES[verb]}. Lightning's full help (every trainer, model and data "
                               f"option): vadbench {verb} {FULL_HELP}.", 100), "", "options:"]
    lines += [f"  {o:<{width}}" + wrap.fill(h)[width + 2:] for o, h in opts]
    lines += ["", "examples:"] + [f"  {e}" for e in EXAMPLES[verb]]
    lines += ["", "packaged experiments (--config <model>/<name>.yaml, from any folder; also <model>_<name>.yaml):"]
    configs = _experiment_configs()
    mwidth = max((len(m) for m in configs), default=0) + 2
    names_wrap = textwrap.TextWrapper(width=100, initial_indent=" " * (mwidth + 2),
                                      subsequent_indent=" " * (mwidth + 2))
    lines += [f"  {m + ':':<{mwidth}}" + names_wrap.fill(" ".join(_brace_shots(names)))[mwidth + 2:]
              for m, names in configs.items()]
    lines += ["  parts to compose: model/, data/, recipe/, trainer/, shots/, logger/ (e.g. --config logger/wandb.yaml)"]
    return "\n".join(lines)


def _brace_shots(names: list[str]) -> list[str]:
    """Few-shot experiment names in shell brace form, one screen for many models: hmdb51_5w1s hmdb51_5w5s
    kinetics100_5w1s kinetics100_5w5s -> {hmdb51,kinetics100}_5w{1,5}s. Other names unchanged."""
    shots: dict[tuple[str, str], list[str]] = {}
    plain = []
    for name in names:
        match = re.fullmatch(r"(.+)_(\d+w)(\d+)s", name)
        if match:
            shots.setdefault((match[1], match[2]), []).append(match[3])
        else:
            plain.append(name)
    by_shots: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (prefix, way), ks in shots.items():
        by_shots.setdefault((way, tuple(sorted(ks, key=int))), []).append(prefix)
    brace = lambda items: items[0] if len(items) == 1 else "{" + ",".join(items) + "}"   # noqa: E731
    return plain + [f"{brace(sorted(prefixes))}_{way}{brace(list(ks))}s" for (way, ks), prefixes in by_shots.items()]


# ---------------------------------------------------------------------------- Lightning signatures, unimported
@lru_cache(maxsize=None)
def _signature(module: str, cls: str) -> dict[str, str] | None:
    """{argument: annotation source} of `cls.__init__` in Lightning's `module` (a path under the
    `lightning` package), read with `ast` without importing Lightning; None if it cannot be read."""
    try:
        spec = importlib.util.find_spec("lightning")   # a top-level name: found, not imported
        path = Path(spec.origin).parent.joinpath(*module.split(".")).with_suffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (AttributeError, ImportError, OSError, SyntaxError, ValueError, TypeError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "__init__":
                    args = [a for a in fn.args.args + fn.args.kwonlyargs if a.arg != "self"]
                    return {a.arg: ast.unparse(a.annotation) if a.annotation is not None else "" for a in args}
    return None


def _group_signature(group: str) -> dict[str, str] | None:
    if group == "trainer":
        return _signature("pytorch.trainer.trainer", "Trainer")
    if group == "checkpoint":
        sig = _signature("pytorch.callbacks.model_checkpoint", "ModelCheckpoint")
        return None if sig is None else {**sig, "last_every_s": "float"}   # vadbench.checkpointing.VadbenchCheckpoint
    return None


INT_RE = re.compile(r"[+-]?\d+")
NULLS = {"null", "None", "none", "~"}


def _check_value(option: str, annotation: str, value: str | None) -> None:
    """Refuse a value that is certainly wrong for a plain `int` / `Optional[int]` option."""
    if value is None or annotation not in ("int", "Optional[int]"):
        return
    if INT_RE.fullmatch(value.strip()) or (annotation == "Optional[int]" and value.strip() in NULLS):
        return
    raise ConfigError(f"--{option}: expected an integer, got {value!r}")


def _unknown(verb: str, option: str, known: set[str], prefix: str = "") -> ConfigError:
    close = difflib.get_close_matches(option.split(".")[-1], sorted(known), n=1)
    hint = f" (did you mean --{prefix}{close[0]}?)" if close else ""
    return ConfigError(f"--{option}: no such option{hint}; `vadbench {verb} --help` lists vadbench's options, "
                       f"`vadbench {verb} {FULL_HELP}` every one")


def _options(args: list[str]) -> list[tuple[str, str | None]]:
    """(option name without dashes, its value or None) of each `--option` in `args`."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "-c":
            out.append(("config", args[i] if i < len(args) else None))
            i += 1
        elif arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                takes_value = name not in ("print_config", "help") and i < len(args) and not args[i].startswith("--")
                value = args[i] if takes_value else None
                i += 1 if takes_value else 0
            out.append((name, value))
    return out


def given_configs(args: list[str]) -> list[str]:
    return [v for k, v in _options(args) if k == "config" and v is not None]


def ckpt_path_of(args: list[str]) -> str | None:
    found = [v for k, v in _options(args) if k == "ckpt_path"]
    return found[-1] if found else None


def check_args(verb: str, args: list[str]) -> None:
    """One-line errors for the common mistakes, before Lightning is imported (see the module docstring)."""
    from vadbench.paths import expand_config

    options = _options(args)
    names = {k for k, _ in options}
    allowed = TOP_LEVEL | VERB_OPTIONS.get(verb, set())
    for name, value in options:
        head, _, rest = name.partition(".")
        if head not in allowed:
            raise _unknown(verb, name, allowed)
        if rest and not rest.endswith("help"):
            sig = _group_signature(head)
            if sig is not None and "." not in rest:
                if rest not in sig:
                    raise _unknown(verb, name, set(sig), prefix=f"{head}.")
                _check_value(name, sig[rest], value)
        elif head == "config" and value is not None:
            expand_config(value)  # FileNotFoundError naming what was tried, or a YAML error
    if not ({"config", "ckpt_path"} & names) and not {"model", "data"} <= {n.split(".")[0] for n in names}:
        raise ConfigError(f"vadbench {verb}: {NO_CONFIG} (a run's runs/.../checkpoints/last.ckpt; its folder's "
                          f"config.yaml is then used)")
    ckpt = ckpt_path_of(args)
    if ckpt is not None and "config" not in names:
        run_folder_config(ckpt)


LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")


def run_folder_config(ckpt: str | Path) -> Path:
    """The `config.yaml` of the run that wrote `ckpt` (`<run>/checkpoints/x.ckpt` -> `<run>/config.yaml`,
    or `<run>/lightning_logs/version_*/config.yaml` with the default logger); errors name what was looked for."""
    if str(ckpt) in LIGHTNING_CKPT_NAMES or str(ckpt).startswith("registry:"):
        raise ConfigError(f"--ckpt_path {ckpt}: {NO_CONFIG} to a file (Lightning's '{ckpt}' needs --config)")
    path = Path(ckpt).expanduser()
    if not path.is_file():
        raise CheckpointError(f"--ckpt_path {path}: checkpoint file not found")
    folder = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    candidates = [folder / "config.yaml"] + sorted(p for p in folder.rglob("config.yaml")
                                                   if "wandb" not in p.relative_to(folder).parts)
    for cand in candidates:
        if cand.is_file():
            return cand
    raise ConfigError(f"--ckpt_path {path}: no config.yaml in its run folder {folder} (a run of `vadbench fit` "
                      f"writes one); {NO_CONFIG.replace(' or --ckpt_path', '')} with it")

"""The LightningCLI subclass behind `vadbench fit|validate|test|predict` (imported only for those verbs)."""

from __future__ import annotations

import sys

import os
import argparse
import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI

from vadbench.errors import ConfigError, VadbenchError, config_error_from_parser, debug_enabled
from vadbench.loggers import WandbSaveConfigCallback
from vadbench.models.components.links import add_links
from vadbench.models.components.official_checkpoints import is_official_checkpoint, wrap_official_checkpoint
from vadbench.models.fewshot_base import FEWSHOT_LINKS
from vadbench.models.mil_base import MIL_LINKS
from vadbench.checkpointing import VadbenchCheckpoint
from vadbench.paths import expand_config
from vadbench.results import make_record, write_record
from vadbench.runs import (RNGStateCallback, check_checkpoint, check_model_data_agree, make_run_dir,
                           remove_unused_run_dir, synthetic_locations)

# Bad input raises these with a message naming the file and the expectation; shown without a
# traceback (set VADBENCH_DEBUG=1 for one). Every vadbench error class derives from VadbenchError.
USER_ERRORS = (VadbenchError, FileNotFoundError, FileExistsError)


class VadbenchCLI(LightningCLI):
    """LightningCLI with vadbench's additions.

    - `--results_dir` (default `results/`): every `test` writes one result JSON there.
    - `--setting`: the tag of this run in result files and leaderboards (an ablation, "5w1s", ...).
    - `--run_test` (fit only): after fitting, test the selected weights (the last ones, or the best on
      validation when the datamodule has a validation split) and write the result JSON.
    - One run, one folder: `trainer.default_root_dir` is the base of a new folder per run
      (`<root>/<model>/<dataset>/<setting>/seed<k>-<unique>`, see `vadbench.runs`); checkpoints go
      to its `checkpoints/` unless `--checkpoint.dirpath` is given.
    - Exact resume: checkpoints carry the RNG states and the training loader's position.
    - A `--ckpt_path` is checked (readable Lightning checkpoint) before anything runs; an author's
      released state_dict is accepted by models that read one (`components.official_checkpoints`).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs.setdefault("save_config_callback", WandbSaveConfigCallback)  # full config to wandb runs
        # parse errors come back as exceptions (one readable message from `vadbench`, see run_cli)
        kwargs.setdefault("parser_kwargs", {"exit_on_error": False,
                                            **({"parser_mode": "omegaconf"} if _has_omegaconf() else {})})
        super().__init__(L.LightningModule, L.LightningDataModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        # Every fit keeps `last.ckpt` (written every 10 min and at the end); configs that select on
        # validation set `checkpoint.monitor` / `checkpoint.mode` and also keep the best (vadbench/checkpointing.py).
        parser.add_lightning_class_args(VadbenchCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "trainer.default_root_dir": "runs"})
        parser.add_argument("--results_dir", type=str, default="results", help="where result JSON files go")
        parser.add_argument("--setting", type=str, default="default", help="run tag in result files")
        parser.add_argument("--run_test", type=bool, default=True, help="fit: test the selected weights afterwards")
        # data -> model values written once: MIL feature_dim / patch_scales, few-shot seq_len
        add_links(parser, (*MIL_LINKS, *FEWSHOT_LINKS))

    # -------------------------------------------------------------- run folder, checks
    def _parse_ckpt_path(self):
        """Lightning reads the checkpoint's hyper-parameters here and lets them replace the model config:
        check the file first; keep the evaluation-only options the user gave (the model class's
        `evaluation_options`); say which other model values the checkpoint replaced (never silently)."""
        verb = self.config.get("subcommand")
        if not (verb and self.config[verb].get("ckpt_path")):
            return super()._parse_ckpt_path()
        model = self.config[verb].get("model")
        if verb != "fit" and is_official_checkpoint(self.config[verb].ckpt_path, getattr(model, "class_path", None)):
            return  # an author's state_dict: wrapped into the run folder in before_instantiate_classes
        check_checkpoint(self.config[verb].ckpt_path)
        before = dict(model.items()) if hasattr(model, "items") else {}
        keep = _evaluation_options(before.get("class_path"))
        super()._parse_ckpt_path()
        model = self.config[verb].get("model")
        after = dict(model.items()) if hasattr(model, "items") else {}
        for key, mine in before.items():
            if key not in after or after[key] == mine:
                continue
            if key.split(".")[-1] in keep and key.count(".") == 1:   # init_args.<option>
                model[key] = mine
            else:
                print(f"vadbench: --ckpt_path {self.config[verb].ckpt_path}: model.{key} = {after[key]!r} from the "
                      f"checkpoint replaces {mine!r} (the weights were trained with it)", file=sys.stderr)

    def before_instantiate_classes(self) -> None:
        sub = self._sub_config()
        if sub is None or self.subcommand is None:
            return  # (a --ckpt_path was checked in _parse_ckpt_path, before Lightning read it)
        class_path = str(getattr(sub.get("model"), "class_path", None) or "model")   # vadbench.models.ssrl.SSRL
        model = class_path.split(".")[-2] if class_path.count(".") >= 2 else class_path.split(".")[-1]
        dataset = str(getattr(getattr(sub.get("data"), "init_args", None), "dataset", None) or "data")
        root = sub.trainer.get("default_root_dir") or "runs"
        run_dir = make_run_dir(root, model, dataset, sub.get("setting", "default"), sub.get("seed_everything"),
                               self.subcommand)
        sub.trainer.default_root_dir = str(run_dir)
        if "checkpoint" in sub and sub.checkpoint.get("dirpath") is None:
            sub.checkpoint.dirpath = str(run_dir / "checkpoints")
        if self.subcommand != "fit" and sub.get("ckpt_path") and is_official_checkpoint(sub.ckpt_path, class_path):
            sub.ckpt_path = str(wrap_official_checkpoint(sub.ckpt_path, run_dir / "checkpoints"))
        self.run_dir = run_dir

    def instantiate_classes(self) -> None:
        """jsonargparse wraps an error raised in a model/data constructor (a missing weight file, an
        unknown dataset) into a long 'Does not validate' message: raise the vadbench error itself."""
        try:
            super().instantiate_classes()
        except Exception as err:
            self._remove_failed_run_dir()
            cause = _vadbench_cause(err)
            if cause is None or cause is err:
                raise
            raise cause from err
        from vadbench.loggers import prepare_loggers

        prepare_loggers(self)  # wandb run name / group / tags / folder from model, dataset, setting, seed

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            self._remove_failed_run_dir()
            raise

    def _remove_failed_run_dir(self) -> None:
        """A run that failed before its first training step (bad data, a wrong option) leaves no folder."""
        trainer = getattr(self, "trainer", None)
        if getattr(self, "run_dir", None) is not None and not (trainer is not None and trainer.global_step > 0):
            remove_unused_run_dir(self.run_dir)

    def _check_model_data(self) -> None:
        if self.datamodule is not None and self.model is not None:
            check_model_data_agree(self.model, self.datamodule)
        if not getattr(self, "_said_where", False) and self.trainer.is_global_zero:
            self._said_where = True
            from vadbench.paths import default_data_home

            home = default_data_home().expanduser().resolve()
            for where in synthetic_locations(self.datamodule):
                note = " (generated on first use under $VADBENCH_HOME)" if where.is_relative_to(home) else ""
                print(f"vadbench: synthetic data in {where}{note}", file=sys.stderr)

    before_fit = before_validate = before_test = before_predict = _check_model_data

    def _instantiate_trainer(self, config, callbacks):
        from vadbench.callbacks import default_callbacks

        return super()._instantiate_trainer(
            config, [*callbacks, *default_callbacks(config, self.subcommand), RNGStateCallback()])

    # -------------------------------------------------------------- results
    def _sub_config(self):
        sub = self.config.get(self.subcommand) if self.subcommand else self.config
        return sub

    def _write_result(self, ckpt_path: str | None) -> Path | None:
        if self.trainer.global_rank != 0:
            return None
        sub = self._sub_config()
        metrics = {k.split("/", 1)[1]: float(v) for k, v in self.trainer.callback_metrics.items()
                   if k.startswith("test/")}
        data_meta = self.datamodule.result_metadata() if hasattr(self.datamodule, "result_metadata") else {}
        model_meta = self.model.result_metadata() if hasattr(self.model, "result_metadata") else {}
        selection = data_meta.get("model_selection", "last")
        if ckpt_path and Path(str(ckpt_path)).name.startswith("last") and selection != "oracle_best_on_test":
            selection = "last"
        config = self._parser(self.subcommand).dump(sub, format="yaml", skip_none=False, skip_check=True)
        import yaml

        record = make_record(
            model=getattr(self.model, "model_id", type(self.model).__name__.lower()),
            model_class=f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            dataset=data_meta.get("dataset", "unknown"),
            metrics=metrics,
            model_selection=selection,
            data_source=data_meta.get("data_source", "real"),
            backbone=model_meta.pop("backbone", None),
            seed=sub.get("seed_everything"),
            config=yaml.safe_load(config),
            setting=sub.get("setting", "default"),
            data_fingerprint=data_meta.get("data_fingerprint"),
            ckpt_path=_absolute(ckpt_path),
            extras={**data_meta.get("extras", {}), **model_meta,
                    **({"metric_definitions": self.model.metric_definitions()}
                       if hasattr(self.model, "metric_definitions") else {}),
                    **({"run_dir": str(self.run_dir)} if getattr(self, "run_dir", None) else {})},
            run_facts=data_meta.get("run_facts"),
        )
        from vadbench.loggers import log_test_result, wandb_run_info

        record["wandb"] = wandb_run_info(self.trainer)  # links `vadbench report` tables to this run
        path = write_record(sub.get("results_dir", "results"), record)
        print(f"vadbench: result written to {path}")
        scores = self.model.test_scores() if hasattr(self.model, "test_scores") else None
        scores_path = None
        if scores:
            from vadbench.leaderboard.scores import save_scores

            scores_path = save_scores(path, **scores)
            print(f"vadbench: per-video scores written to {scores_path}")
        log_test_result(self.trainer, record, path, scores_path, ckpt_path)
        return path

    def after_test(self) -> None:
        self._write_result(self._sub_config().get("ckpt_path"))

    def after_fit(self) -> None:
        sub = self._sub_config()
        if not sub.get("run_test", True) or self.trainer.interrupted:
            return
        ckpt = None
        cb = self.trainer.checkpoint_callback
        if cb is not None and getattr(cb, "monitor", None) and cb.best_model_path:
            ckpt = cb.best_model_path
        elif cb is not None and cb.last_model_path:
            ckpt = cb.last_model_path
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=ckpt)
        self._write_result(ckpt)


def _evaluation_options(class_path: str | None) -> tuple[str, ...]:
    """The `evaluation_options` the LightningModule class at `class_path` declares (none if unknown)."""
    if not class_path:
        return ()
    import importlib

    module, _, name = str(class_path).rpartition(".")
    try:
        return tuple(getattr(getattr(importlib.import_module(module), name), "evaluation_options", ()))
    except (ImportError, AttributeError, ValueError):
        return ()


def _vadbench_cause(err: BaseException) -> BaseException | None:
    """The first VadbenchError in an exception's cause/context chain, or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, VadbenchError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _absolute(path) -> str | None:
    """Checkpoint paths in result files are absolute (Lightning's own names like "last" are kept)."""
    if not path:
        return None
    p = Path(str(path)).expanduser()
    return os.path.abspath(p) if (p.suffix or p.exists()) else str(path)


def _has_omegaconf() -> bool:
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        return False
    return True


# Keys of a run folder's config.yaml that a new run takes over; the others name the old run (its folder,
# result folder, the checkpoint it resumed from) or belong to one verb only.
RUN_CONFIG_KEYS = ("seed_everything", "trainer", "model", "data", "checkpoint", "setting", "optimizer", "lr_scheduler")


def run_config_text(path: Path) -> str:
    """A run folder's `config.yaml` as the first `--config` of a new run of the same model and data: the
    run's folders (`trainer.default_root_dir`, `checkpoint.dirpath`) and values linked from the data are left
    out, so the new run gets its own folder under ./runs and the links fill the model side again."""
    import yaml

    try:
        saved = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"run config {path} is not readable YAML: {err}") from err
    if not isinstance(saved, dict) or "model" not in saved:
        raise ConfigError(f"run config {path}: expected the config.yaml `vadbench fit` writes (no `model:` key)")
    config = {k: saved[k] for k in RUN_CONFIG_KEYS if k in saved}
    for key in ("trainer.default_root_dir", "checkpoint.dirpath", *(t for _, t in (*MIL_LINKS, *FEWSHOT_LINKS))):
        *parents, leaf = key.split(".")
        node = config
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return yaml.safe_dump(config, sort_keys=False)


def _with_run_config(argv: list[str]) -> list[str]:
    """`vadbench test --ckpt_path runs/.../last.ckpt` with no --config: the run folder's config first."""
    from vadbench.trainer_args import TRAINER_VERBS, ckpt_path_of, given_configs, run_folder_config

    if not argv or argv[0] not in TRAINER_VERBS or given_configs(argv[1:]):
        return argv
    ckpt = ckpt_path_of(argv[1:])
    if ckpt is None:
        return argv
    path = run_folder_config(ckpt)
    print(f"vadbench: config from the checkpoint's run folder: {path} (options you give override it)",
          file=sys.stderr)
    return [argv[0], "--config", run_config_text(path), *argv[1:]]


def _resolve_config_args(argv: list[str]) -> list[str]:
    """Replace each `--config NAME` / `--config=NAME` by the resolved path (packaged names allowed);
    a composed experiment (`compose:` list) becomes one `--config` per part, in order. A trainer verb
    with `--ckpt_path` and no `--config` starts from the checkpoint's run folder config (`_with_run_config`)."""
    argv = _with_run_config(argv)
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--config", "-c") and i + 1 < len(argv):
            name, i = argv[i + 1], i + 2
        elif arg.startswith("--config="):
            name, i = arg.split("=", 1)[1], i + 1
        else:
            out.append(arg)
            i += 1
            continue
        parts = [name] if "\n" in name else _expand_config_checked(name)   # a YAML text (run config) as it is
        for part in parts:
            out += ["--config", str(part)]
    _refuse_linked_targets(out)
    return out


def _refuse_linked_targets(args: list[str]) -> None:
    """A value linked from the data (`feature_dim`, `patch_scales`, `seq_len`) is written once, on the
    data side; jsonargparse would silently overwrite one given on the model side, so refuse it."""
    import yaml

    targets = {t: s for s, t in (*MIL_LINKS, *FEWSHOT_LINKS)}
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            part = args[i + 1]
            path = Path(part)
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8") if path.is_file() else part)
            except (OSError, yaml.YAMLError):
                continue
            for target, source in targets.items():
                node = data
                for key in target.split("."):
                    node = node.get(key) if isinstance(node, dict) else None
                if node is not None:
                    where = str(path) if path.is_file() else "a composed experiment's own keys"
                    raise ConfigError(f"{where} sets {target} = {node!r}, but that value is linked from {source}: "
                                      f"set {source} instead (it reaches the model)")
        elif arg.startswith("--"):
            key = arg[2:].split("=", 1)[0]
            if key in targets:
                raise ConfigError(f"--{key} is linked from --{targets[key]}: set --{targets[key]} instead "
                                  f"(it reaches the model)")


def _expand_config_checked(name: str) -> list:
    """`expand_config`, with a malformed YAML file or `compose:` list reported as one ConfigError."""
    import yaml

    try:
        return expand_config(name)
    except yaml.YAMLError as err:
        where = str(err).replace("\n", " ").strip()
        raise ConfigError(f"config {name}: not valid YAML ({where})") from err
    except (FileNotFoundError, VadbenchError):
        raise
    except ValueError as err:
        raise ConfigError(f"config {name}: {err}") from err


def run_cli(argv: list[str]) -> VadbenchCLI:
    """Run a trainer verb in-process (used by tests, `vadbench reproduce` and the stage schedules)."""
    with warnings.catch_warnings():  # the args are ours; Lightning would warn that sys.argv differs
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        try:
            return VadbenchCLI(args=_resolve_config_args(argv))
        except argparse.ArgumentError as err:  # a wrong option name or value (jsonargparse)
            if debug_enabled():
                raise
            raise config_error_from_parser(err) from err
        finally:
            from vadbench.loggers import finish_runs

            finish_runs()  # one CLI call = one wandb run



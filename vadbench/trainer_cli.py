"""The LightningCLI subclass behind `vadbench fit|validate|test|predict` (imported only for those verbs)."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
from lightning.pytorch.cli import LightningCLI

from vadbench.checkpointing import VadbenchCheckpoint
from vadbench.data.mil.annotations import GroundTruthError
from vadbench.data.mil.features import FeatureFileError
from vadbench.paths import expand_config
from vadbench.results import make_record, write_record

# Bad input raises these with a message naming the file and the expectation; shown without a
# traceback (set VADBENCH_DEBUG=1 for one).
USER_ERRORS = (FileNotFoundError, FileExistsError, FeatureFileError, GroundTruthError)


class VadbenchCLI(LightningCLI):
    """LightningCLI with vadbench's additions.

    - `--results_dir` (default `results/`): every `test` writes one result JSON there.
    - `--setting`: the tag of this run in result files and leaderboards (an ablation, "5w1s", ...).
    - `--run_test` (fit only): after fitting, test the selected weights (the last ones, or the best on
      validation when the datamodule has a validation split) and write the result JSON.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("subclass_mode_model", True)
        kwargs.setdefault("subclass_mode_data", True)
        kwargs.setdefault("save_config_kwargs", {"overwrite": True})
        kwargs.setdefault("parser_kwargs", {"parser_mode": "omegaconf"} if _has_omegaconf() else {})
        super().__init__(L.LightningModule, L.LightningDataModule, *args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        # Every fit keeps `last.ckpt` (written every 10 min and at the end); configs that select on
        # validation set `checkpoint.monitor` / `checkpoint.mode` and also keep the best (vadbench/checkpointing.py).
        parser.add_lightning_class_args(VadbenchCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True, "trainer.default_root_dir": "runs"})
        parser.add_argument("--results_dir", type=str, default="results", help="where result JSON files go")
        parser.add_argument("--setting", type=str, default="default", help="run tag in result files")
        parser.add_argument("--run_test", type=bool, default=True, help="fit: test the selected weights afterwards")

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
            ckpt_path=str(ckpt_path) if ckpt_path else None,
            extras={**data_meta.get("extras", {}), **model_meta},
        )
        path = write_record(sub.get("results_dir", "results"), record)
        print(f"vadbench: result written to {path}")
        scores = self.model.test_scores() if hasattr(self.model, "test_scores") else None
        if scores:
            from vadbench.leaderboard.scores import save_scores

            print(f"vadbench: per-video scores written to {save_scores(path, **scores)}")
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


def _has_omegaconf() -> bool:
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        return False
    return True


def _resolve_config_args(argv: list[str]) -> list[str]:
    """Replace each `--config NAME` / `--config=NAME` by the resolved path (packaged names allowed);
    a composed experiment (`compose:` list) becomes one `--config` per part, in order."""
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
        for part in expand_config(name):
            out += ["--config", str(part)]
    return out


def run_cli(argv: list[str]) -> VadbenchCLI:
    """Run a trainer verb in-process (used by tests, `vadbench reproduce` and the stage schedules)."""
    with warnings.catch_warnings():  # the args are ours; Lightning would warn that sys.argv differs
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        return VadbenchCLI(args=_resolve_config_args(argv))



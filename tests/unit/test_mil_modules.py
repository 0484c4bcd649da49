"""The MIL LightningModules receive their parts: `net`, `loss`, `optimizer` (and `scheduler`) objects,
keyword-only, saved as hyper-parameters so that `load_from_checkpoint` rebuilds the same model."""

from __future__ import annotations

import inspect
from functools import partial

import lightning as L
import pytest
import torch

from tests.mil_modules import PAPER_ADAM, from_config, magnitude_module
from vadbench.data.mil.batch import MILBatch
from vadbench.models.components.staging import StagedMILModule
from vadbench.models.mil_base import MILAnomalyModule
from vadbench.models.msip import MSIP, MSIPModel
from vadbench.models.rtfm import RTFM, MagnitudeMILModule, RTFMLoss, RTFMModel
from vadbench.models.ssrl import SSRL, SSRLModel
from vadbench.models.sta_mil import STAMIL, STAMILModel
from vadbench.models.sultani import SultaniMIL, SultaniMILModel


def _batch(d: int, scales=(), b=2, t=8, seed=0) -> MILBatch:
    g = torch.Generator().manual_seed(seed)
    cells = {"patch23": 6, "patch35": 15, "patch47": 28}
    return MILBatch(features=torch.rand(2 * b, t, 2, d, generator=g), labels=torch.tensor([0.0] * b + [1.0] * b),
                    mask=torch.ones(2 * b, t, dtype=torch.bool), video_index=torch.arange(2 * b),
                    patches={s: torch.rand(2 * b, t, cells[s], d, generator=g) for s in scales})


def _save(module, path):
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def test_rtfm_ssrl_msip_are_one_module_under_three_names():
    for cls, model_id in ((RTFM, "rtfm"), (SSRL, "ssrl"), (MSIP, "msip")):
        assert cls.__bases__ == (MagnitudeMILModule,) and cls.model_id == model_id
        assert "__init__" not in vars(cls) and "training_step" not in vars(cls)
    assert issubclass(MagnitudeMILModule, StagedMILModule)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        RTFM(RTFMModel(8), RTFMLoss(), PAPER_ADAM)  # noqa: the positional hop this refactor removed
    with pytest.raises(TypeError):
        SSRLModel(8, ["patch23"])


def test_no_two_constructors_repeat_a_block_of_arguments():
    """Each class declares only its own arguments; the rest pass through **kwargs (three shared names = a block)."""
    classes = [MILAnomalyModule, StagedMILModule, STAMIL, RTFMModel, SSRLModel, MSIPModel, SultaniMILModel,
               STAMILModel]
    own = {}
    for cls in classes:
        params = inspect.signature(vars(cls)["__init__"]).parameters
        own[cls.__name__] = {n for n, p in params.items() if n not in ("self", "feature_dim")
                             and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    for a in own:
        for b in own:
            if a < b:
                assert len(own[a] & own[b]) < 3, (a, b, own[a] & own[b])


def test_python_built_module_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = magnitude_module(SSRL, SSRLModel, feature_dim=8, patch_scales=["patch23"], k=5)
    path = _save(module, tmp_path / "m.ckpt")
    loaded = SSRL.load_from_checkpoint(path, weights_only=False)   # the parts are pickled objects
    assert loaded.model.k == 5 and loaded.model.patch_scales == ["patch23"] and isinstance(loaded.loss, RTFMLoss)
    module.eval(), loaded.eval()
    batch = _batch(8, ["patch23"])
    with torch.no_grad():
        assert torch.equal(loaded.snippet_scores(batch), module.snippet_scores(batch))
    assert isinstance(loaded.configure_optimizers(), torch.optim.Adam)


def test_cli_built_module_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    module = from_config("msip/synthetic.yaml", "--data.init_args.feature_dim=16",
                         "--data.init_args.patch_scales=[patch23, patch35]", "--model.init_args.net.init_args.k=5")
    assert module.model.k == 5 and module.model.feature_dim == 16            # the command line reaches net
    assert module.hparams.net["init_args"]["k"] == 5                          # saved as config, not as an object
    path = _save(module, tmp_path / "m.ckpt")
    loaded = MSIP.load_from_checkpoint(path)
    assert isinstance(loaded.model, MSIPModel) and loaded.model.patch_scales == ["patch23", "patch35"]
    assert loaded.model.k == 5 and loaded.model.feature_dim == 16
    module.eval(), loaded.eval()
    batch = _batch(16, ["patch23", "patch35"])
    with torch.no_grad():
        assert torch.equal(loaded.snippet_scores(batch), module.snippet_scores(batch))
    opt = loaded.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["weight_decay"] == 5e-3   # MSIP borrows the official recipe


def test_scheduler_steps_every_training_step():
    module = SultaniMIL(net=SultaniMILModel(feature_dim=8), loss=torch.nn.Module(),
                        optimizer=partial(torch.optim.SGD, lr=0.1),
                        scheduler=partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5))
    conf = module.configure_optimizers()
    assert isinstance(conf["optimizer"], torch.optim.SGD) and conf["lr_scheduler"]["interval"] == "step"
    conf["optimizer"].step()
    conf["lr_scheduler"]["scheduler"].step()
    assert conf["optimizer"].param_groups[0]["lr"] == pytest.approx(0.05)
    assert isinstance(SultaniMIL(net=SultaniMILModel(feature_dim=8), loss=torch.nn.Module(),
                                 optimizer=PAPER_ADAM).configure_optimizers(), torch.optim.Adam)


@pytest.mark.parametrize("net_cls", [SSRLModel, MSIPModel])
def test_missing_patch_scales_is_a_clear_error(net_cls):
    """The data's patch_scales default (None) reaches the patch models through the link: say where to set it."""
    with pytest.raises(ValueError, match=r"set data.init_args.patch_scales"):
        net_cls(8, patch_scales=None)
    assert net_cls(8, patch_scales=[]).patch_scales == []

"""`TorchCompile` (trainer/compile.yaml): the compiled core takes the same step as the eager one, keeps
its state-dict keys, and the config part reaches the trainer through the CLI."""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from vadbench.callbacks import TorchCompile
from vadbench.models.rtfm import RTFM, RTFMLoss, RTFMModel, gather_snippets


def _module() -> RTFM:
    torch.manual_seed(3)
    net = RTFMModel(feature_dim=24, dropout=0.0, exclusion_rate=0.0, attention_norm="count", relation_bias=False)
    loss = RTFMLoss(magnitude_loss="squared", classification="topk_mean", sparsity="l2", smooth_across_videos=True)
    return RTFM(net=net, loss=loss, optimizer=functools.partial(torch.optim.Adam, lr=1e-3))


def _step(module: RTFM, feats, mask, labels):
    core = module.model.train()
    out = core(feats, mask)
    idx = core.topk(out, mask)
    terms = module.loss(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores, labels, mask)
    core.zero_grad()
    terms["loss"].backward()
    return {k: float(v.detach()) for k, v in terms.items()}, {n: p.grad.clone() for n, p in core.named_parameters()}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_step_equals_the_eager_step(backend):
    torch.manual_seed(0)
    feats, mask = torch.randn(4, 32, 2, 24), torch.ones(4, 32, dtype=torch.bool)
    mask[1, 20:] = False                                  # a padded video: the mask path is traced too
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    eager = _module()
    compiled = copy.deepcopy(eager)
    cb = TorchCompile(backend=backend)
    cb.setup(None, compiled, "fit")
    assert cb.compiled == ["model"]
    assert list(compiled.state_dict()) == list(eager.state_dict())   # in place: checkpoint keys unchanged
    loss_e, grad_e = _step(eager, feats, mask, labels)
    loss_c, grad_c = _step(compiled, feats, mask, labels)
    assert loss_e.keys() == loss_c.keys()
    for k in loss_e:
        assert loss_c[k] == pytest.approx(loss_e[k], rel=1e-5, abs=1e-7), k
    for n in grad_e:
        torch.testing.assert_close(grad_c[n], grad_e[n], rtol=1e-4, atol=1e-6)
    # the compiled forward really runs through dynamo (a guard failure would silently fall back)
    assert compiled.model._compiled_call_impl is not None


def test_core_of_finds_mil_and_fewshot_cores():
    module = _module()
    assert TorchCompile.core_of(module)[0] == "model"

    class FewShotLike(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 2)
    assert TorchCompile.core_of(FewShotLike())[0] == "net"
    with pytest.raises(TypeError, match="no torch core"):
        TorchCompile.core_of(torch.nn.Module())


def test_compile_part_reaches_the_trainer():
    from vadbench.trainer_cli import run_cli
    import contextlib
    import io
    import yaml

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_cli(["fit", "--config", "rtfm/synthetic.yaml", "--config", "trainer/compile.yaml", "--print_config"])
    cfg = yaml.safe_load(out.getvalue())
    (cb,) = cfg["trainer"]["callbacks"]
    assert cb["class_path"] == "vadbench.callbacks.TorchCompile" and cb["init_args"]["backend"] == "inductor"


@pytest.mark.slow
def test_a_fit_with_the_callback_trains_the_compiled_core(tiny_synthetic_mil, tmp_path):
    import lightning as L

    from vadbench.data.mil import MILFeatureDataModule

    module = _module()
    module.model = RTFMModel(feature_dim=64, attention_norm="count", relation_bias=False)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    cb = TorchCompile(backend="aot_eager")
    trainer = L.Trainer(accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[cb], default_root_dir=tmp_path)
    trainer.fit(module, datamodule=MILFeatureDataModule(dataset="synthetic", root=str(tiny_synthetic_mil),
                                                        feature_dim=64, batch_size=4))
    assert cb.compiled == ["model"] and module.model._compiled_call_impl is not None
    assert any(not torch.equal(before[n], p) for n, p in module.model.named_parameters())   # it trained

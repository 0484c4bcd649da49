"""Every discovered model trains in `bf16-mixed` as it does in fp32 (CPU autocast stands in for the GPU's).

Per model (built from its synthetic experiment, tiny data: `vadbench.benchmarks.zoo`):
- one training step (forward + backward) in fp32 and one under bfloat16 autocast, from the same
  weights and batch, with dropout off and BatchNorm on its running statistics, so both runs compute
  the same function and the difference is rounding alone. Stated tolerances: the losses agree to
  `LOSS_RTOL` (relative), the gradients of all parameters together point the same way (cosine
  >= `GRAD_COSINE`, in float64) with norms within `GRAD_NORM_RTOL`. Measured with the float32
  islands (docs/precision.md): loss within 3.2e-3, cosine >= 0.9977; without them Sultani's cosine
  is 0.959, MSIP's 0.947, SKPS-Net's loss 1.3e-2 off.
- the loss leaves the step in float32 (every loss is a float32 island);
- `F.binary_cross_entropy` is refused inside autocast, as CUDA's autocast refuses it in any
  precision (CPU autocast would run it, so a model calling it would crash on the GPU only);
- a bf16 step in training mode (BatchNorm batch statistics, dropout) gives a finite loss and gradients;
- under autocast, the evaluation outputs are float32 (MIL snippet scores: bf16 ties change the AUC;
  few-shot logits, also from the embedding cache) and the test epoch computes its metrics (in
  float64: tests/unit/test_precision.py).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from tests.helpers.tiny_models import tiny_model
from vadbench.benchmarks.zoo import discovered_models
from vadbench.models.components.precision import islands_off

MODELS = sorted(discovered_models())
LOSS_RTOL = 1e-2
GRAD_COSINE = 0.99
GRAD_NORM_RTOL = 0.1


class RefuseBCEInAutocast(TorchFunctionMode):
    """CUDA autocast's rule on the CPU: `binary_cross_entropy` inside an autocast region is an error."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.binary_cross_entropy and torch.is_autocast_enabled("cpu"):
            raise RuntimeError("torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast "
                               "(CUDA refuses them in bf16-mixed): compute the loss in a float32 island "
                               "(vadbench.models.components.precision.in_float32)")
        return func(*args, **(kwargs or {}))


def bf16_autocast(enabled: bool = True):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def training_step(module, batch, bf16: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients of one training step (autocast around the step, backward outside: Lightning's way)."""
    torch.manual_seed(0)
    module.zero_grad(set_to_none=True)
    with warnings.catch_warnings(), RefuseBCEInAutocast(), bf16_autocast(bf16):
        warnings.filterwarnings("ignore", message=".*self.log.*")   # no trainer attached: logging is a no-op
        out = module.training_step(batch, 0)
    loss = out if isinstance(out, torch.Tensor) else out["loss"]
    loss.backward()
    return loss.detach(), {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}


def compare_bf16_with_fp32(module, batch) -> dict:
    """One eval-mode training step in fp32 and in bf16 from the same weights (see the module docstring)."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            m.p = 0.0
    module.eval()
    weights = copy.deepcopy(module.state_dict())
    loss32, grads32 = training_step(module, batch, bf16=False)
    module.load_state_dict(weights)
    loss16, grads16 = training_step(module, batch, bf16=True)
    module.load_state_dict(weights)
    assert grads32 and grads32.keys() == grads16.keys()
    g32 = torch.cat([g.flatten() for g in grads32.values()]).double()
    g16 = torch.cat([grads16[k].flatten() for k in grads32]).double()
    return {"loss32": loss32, "loss16": loss16,
            "loss_rel": (abs(loss16.double() - loss32.double()) / abs(loss32.double())).item(),
            "cosine": F.cosine_similarity(g16, g32, dim=0).item(), "norm_rel": abs(g16.norm() / g32.norm() - 1).item()}


@pytest.mark.parametrize("name", MODELS)
def test_bf16_matches_fp32_trains_and_scores_in_float32(name):
    tiny = tiny_model(name)
    module = tiny.module
    r = compare_bf16_with_fp32(module, tiny.train)
    assert r["loss16"].dtype == torch.float32, f"{name}: the loss left autocast as {r['loss16'].dtype}: make it a float32 island"
    assert r["loss_rel"] <= LOSS_RTOL, (name, r)
    assert r["cosine"] >= GRAD_COSINE and r["norm_rel"] <= GRAD_NORM_RTOL, (name, r)

    module.train()   # BatchNorm batch statistics and dropout: finite, float32 loss, finite gradients
    loss, grads = training_step(module, tiny.train, bf16=True)
    assert loss.dtype == torch.float32 and torch.isfinite(loss), (name, loss)
    assert all(torch.isfinite(g).all() for g in grads.values()), name

    module.eval()
    with torch.no_grad(), warnings.catch_warnings(), RefuseBCEInAutocast(), bf16_autocast():
        warnings.filterwarnings("ignore", message=".*self.log.*")
        batch = tiny.evaluation[0]
        if tiny.kind == "mil":
            outputs = {"snippet_scores": module.snippet_scores(batch)}
        else:
            support, query = module.embed_episode(batch)
            labels, way = batch.support_labels, batch.way
            outputs = {"episode_logits": module.episode_logits(support, labels, query, way),
                       "cached_episode_logits": module.cached_episode_logits(module.cache_entry(support), labels,
                                                                             module.cache_entry(query), way)}
        for key, value in outputs.items():
            assert value.dtype == torch.float32, f"{name}: {key} are {value.dtype} under bf16 autocast"
        module.on_test_epoch_start()
        for i, b in enumerate(tiny.evaluation):
            module.test_step(b, i)
        module.on_test_epoch_end()


def test_without_the_float32_islands_the_checks_fail():
    """The tolerances bite: with the islands switched off Sultani's gradients turn (bf16 scores
    saturate at 1.0), and RTFM's BCE runs inside autocast, which CUDA refuses."""
    with islands_off():
        r = compare_bf16_with_fp32(tiny_model("sultani").module, tiny_model("sultani").train)
        assert r["cosine"] < GRAD_COSINE, r
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            compare_bf16_with_fp32(tiny_model("rtfm").module, tiny_model("rtfm").train)


def test_gpu_presets_bf16_and_exact_fp32_run_through_the_cli(tmp_path):
    """`trainer/gpu.yaml` is bf16-mixed and `trainer/gpu_fp32.yaml` exact fp32 (TF32 off); both run the
    issue's command with the accelerator switched to the CPU (the rest of each preset as written)."""
    from vadbench.benchmarks.zoo import tiny_data_overrides
    from vadbench.callbacks import ExactFloat32
    from vadbench.cli import run_cli
    from vadbench.paths import load_config

    assert load_config("trainer/gpu.yaml")["trainer"]["precision"] == "bf16-mixed"
    assert load_config("trainer/gpu_fp32.yaml")["trainer"]["precision"] == "32-true"
    for preset, precision in (("trainer/gpu.yaml", "bf16-mixed"), ("trainer/gpu_fp32.yaml", "32-true")):
        cli = run_cli(["fit", "--config", "rtfm/synthetic.yaml", "--config", preset, "--trainer.accelerator=cpu",
                       *tiny_data_overrides("rtfm/synthetic.yaml"), "--trainer.max_steps=1",
                       "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
                       f"--trainer.default_root_dir={tmp_path / 'runs'}", f"--results_dir={tmp_path / preset}"])
        assert cli.trainer.precision == precision and cli.trainer.global_step == 1
        assert any(isinstance(c, ExactFloat32) for c in cli.trainer.callbacks) == (precision == "32-true")
    before = torch.backends.cudnn.allow_tf32
    callback = ExactFloat32()
    callback.setup(None, None, "fit")
    assert not torch.backends.cudnn.allow_tf32 and torch.get_float32_matmul_precision() == "highest"
    callback.teardown(None, None, "fit")
    assert torch.backends.cudnn.allow_tf32 == before

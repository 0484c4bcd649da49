"""Every discovered model creates its tensors on its inputs' device (no GPU needed).

Each model is built from its synthetic experiment (`configs/<model>/synthetic.yaml` or
`synthetic_5w1s.yaml`, tiny data sizes: `vadbench.benchmarks.zoo`) and moved, with its batches, to
a stand-in second device (`tests.helpers.devices.ElsewhereMode`: the tensors report `meta` but hold
real CPU data, and CUDA's device rules are checked on every op). Then: the training step and its
backward, every test step and the test epoch end (MIL: the frame metrics; few-shot: episodes through
the embedding cache, filled from the batch's frames and from video ids only, and recomputed without
it). A tensor created without `device=` in any of them fails here as it would on a GPU
(`test_the_check_fails_on_a_tensor_made_without_device` proves the check bites). A model that cannot
be discovered and built from its synthetic experiment fails, never skips.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from tests.helpers.devices import ElsewhereMode, FixedDeviceError, is_elsewhere
from tests.helpers.tiny_models import tiny_model
from vadbench.benchmarks.zoo import discovered_models

MODELS = sorted(discovered_models())


def _on_device(module, batch):
    return module.transfer_batch_to_device(batch, ElsewhereMode.device, 0)


def run_steps_elsewhere(name: str) -> None:
    """Model `name` (tiny): its training step, backward and test epochs on the stand-in device."""
    tiny = tiny_model(name)
    module, dm, train, evaluation, ids_only = tiny.module, tiny.datamodule, tiny.train, tiny.evaluation, tiny.ids_only
    with warnings.catch_warnings(), ElsewhereMode():
        warnings.filterwarnings("ignore", message=".*self.log.*")   # no trainer attached: logging is a no-op
        module.to(ElsewhereMode.device)
        assert module.device == ElsewhereMode.device
        module.train()
        out = module.training_step(_on_device(module, train), 0)
        loss = out if isinstance(out, torch.Tensor) else out["loss"]
        assert is_elsewhere(loss) and torch.isfinite(loss).item(), (name, loss)
        loss.backward()
        grads = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
        assert grads and all(is_elsewhere(g) for g in grads.values()), name
        module.eval()
        with torch.no_grad():
            passes = [(evaluation, {})]
            if tiny.kind == "fewshot":   # cache filled from frames, from ids only, and no cache at all
                passes += [(ids_only[:1], {"_video_source": dm.test_videos}),
                           (evaluation[:1], {"cache_eval_embeddings": False})]
            for batches, attributes in passes:
                module.on_test_epoch_start()
                for key, value in attributes.items():   # after the epoch start, which resets the video source
                    setattr(module, key, value)
                for i, batch in enumerate(batches):
                    module.test_step(_on_device(module, batch), i)
                module.on_test_epoch_end()


@pytest.mark.parametrize("name", MODELS)
def test_training_and_test_steps_create_tensors_on_the_inputs_device(name):
    run_steps_elsewhere(name)


def test_every_model_folder_is_covered():
    """Each model folder defines a discovered LightningModule (so it is parametrised above)."""
    from vadbench.models.discovery import model_folders

    assert set(MODELS) == {m.name for m in model_folders()} and len(MODELS) >= 7


def test_the_check_fails_on_a_tensor_made_without_device(monkeypatch):
    """`torch.zeros(n)` without `device=` in a model's forward fails the test (it would on a GPU)."""
    from vadbench.models.rtfm.torch_model import RTFMModel

    forward = RTFMModel.forward

    def forward_with_a_fixed_device_tensor(self, features, mask=None, patches=None):
        out = forward(self, features, mask, patches)
        out.scores = out.scores + torch.zeros(out.scores.shape[1])   # the injected bug
        return out

    monkeypatch.setattr(RTFMModel, "forward", forward_with_a_fixed_device_tensor)
    with pytest.raises(FixedDeviceError, match=r"aten.add.Tensor: tensors on two devices"):
        run_steps_elsewhere("rtfm")


def test_the_stand_in_device_computes_the_same_numbers():
    """Elsewhere tensors hold real data: a step there gives the CPU's loss and gradients exactly."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    x = torch.randn(4, 6)
    net(x).sum().backward()
    expected = [p.grad.clone() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    with ElsewhereMode():
        net.to(ElsewhereMode.device)
        y = net(x.to(ElsewhereMode.device))
        y.sum().backward()
        got = [p.grad.cpu() for p in net.parameters()]
        assert y.device == ElsewhereMode.device and torch.arange(3, device=y.device).tolist() == [0, 1, 2]
        assert x.new_tensor([1.5]).to(ElsewhereMode.device).item() == 1.5
        on_device = torch.Generator(device=y.device).manual_seed(0)
        assert torch.equal(torch.rand(3, device=y.device, generator=on_device).cpu(),
                           torch.rand(3, generator=torch.Generator().manual_seed(0)))
        with pytest.raises(FixedDeviceError, match="random generator on cpu"):
            torch.rand(3, device=y.device, generator=torch.Generator().manual_seed(0))
    assert torch.Generator is torch._C.Generator
    assert all(torch.equal(a, b) for a, b in zip(expected, got))

"""A second device on a CPU-only machine, to catch tensors created on a fixed device.

On a GPU, `torch.zeros(n)` in a forward (no `device=`) makes a CPU tensor while the model's
tensors live on the GPU, and the first op that mixes them fails. A CPU-only test never sees it.
`ElsewhereMode` gives the test that second device: inside it, `.to("meta")` moves a module or a
batch "elsewhere", i.e. onto `Elsewhere` tensors that report `device='meta'` but hold real CPU
data, so every step computes real numbers (`.item()`, `.tolist()`, scikit-learn metrics on
`.cpu()` copies all work, as on a GPU). Every aten op, forward and backward, passes through the
mode, which applies CUDA's device rules:

- an op whose tensors are on both devices fails with `FixedDeviceError`, naming the op and the
  shapes of the host tensors; as on CUDA, 0-dim host tensors (scalars) may mix, copies may cross
  (`.to`, `.cpu()`, `copy_`), and a few arguments live on the host by design (index tensors of
  `x[idx]`, packed-sequence `lengths` / `batch_sizes`);
- a factory call (`torch.zeros`, `torch.arange`, `torch.rand`, ...) creates an `Elsewhere` tensor
  only when given `device=<the inputs' device>` (`device=x.device`, or `x.new_zeros`,
  `torch.zeros_like(x)`); without `device=` it creates a host tensor, which fails at its first use
  beside the model's tensors;
- a random generator must be on the device of what it draws (`torch.Generator(device=x.device)`).

The `meta` name is only a label the tensors carry (so `x.device`, `module.device` and
`torch.zeros(n, device=x.device)` round-trip); nothing runs on PyTorch's meta backend.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

ELSEWHERE = torch.device("meta")

# ops that may take host tensors beside device tensors, and under which argument names (CUDA's rules)
HOST_ARGUMENTS = {
    "index": {"indices"}, "index_put": {"indices"}, "index_put_": {"indices"}, "_index_put_impl_": {"indices"},
    "_pack_padded_sequence": {"lengths"}, "_pad_packed_sequence": {"batch_sizes"},
    "_pack_padded_sequence_backward": {"batch_sizes"},
    "rnn_relu": {"batch_sizes"}, "rnn_tanh": {"batch_sizes"}, "gru": {"batch_sizes"}, "lstm": {"batch_sizes"},
}
CROSS_DEVICE = {"copy_", "_to_copy", "copy", "_copy_from", "_copy_from_and_resize"}
# outputs that stay on the host although the inputs are on the device (index of the output)
HOST_OUTPUTS = {"_pack_padded_sequence": {1}, "_pad_packed_sequence": {1}}


class FixedDeviceError(AssertionError):
    """A tensor created on a fixed device met the model's tensors on another device."""


class Elsewhere(torch.Tensor):
    """A CPU tensor that reports `device='meta'` (see the module docstring); used inside `ElsewhereMode`."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        out = torch.Tensor._make_wrapper_subclass(cls, elem.size(), strides=elem.stride(),
                                                  storage_offset=elem.storage_offset(), dtype=elem.dtype,
                                                  layout=elem.layout, device=ELSEWHERE,
                                                  requires_grad=elem.requires_grad)
        out.elem = elem
        return out

    def __repr__(self) -> str:
        return f"Elsewhere({self.elem!r})"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.tolist:  # refused for subclasses; on a GPU, a copy to the host
            return args[0].elem.tolist()
        return torch._C._disabled_torch_function_impl(func, types, args, kwargs or {})

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        raise RuntimeError(f"{func} on an Elsewhere tensor outside ElsewhereMode")


class ElsewhereGenerator(torch.Generator):
    """`torch.Generator(device=...)` inside `ElsewhereMode`: a CPU generator; one made for the stand-in
    device says so (`device`), and ops check that a generator is on the device of what they create."""

    def __new__(cls, device=None):
        elsewhere = device is not None and torch.device(device).type == ELSEWHERE.type
        generator = super().__new__(cls, device="cpu" if elsewhere or device is None else device)
        generator.elsewhere = elsewhere
        return generator

    def __init__(self, device=None):
        pass

    @property
    def device(self) -> torch.device:
        return ELSEWHERE if self.elsewhere else torch.device("cpu")


def _named_arguments(func, args, kwargs) -> list[tuple[str, object]]:
    names = [a.name for a in func._schema.arguments]
    return list(zip(names, args)) + list(kwargs.items())


def _tensors(value) -> list[torch.Tensor]:
    return [t for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor)]


def _aliased_input(func, args, kwargs):
    """The input an in-place / out= op writes and returns (it must come back as the same object)."""
    returns = func._schema.returns
    if len(returns) != 1 or returns[0].alias_info is None or not returns[0].alias_info.is_write:
        return None
    target = returns[0].alias_info.before_set
    for name, value in _named_arguments(func, args, kwargs):
        arg = next(a for a in func._schema.arguments if a.name == name)
        if arg.alias_info is not None and arg.alias_info.before_set == target:
            return value
    return None


class _DeviceRules(TorchDispatchMode):
    """Every aten op: CUDA's device rules, then the op on the CPU data (see the module docstring)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        device_kwarg = kwargs.get("device")
        tensors = _tensors((args, kwargs))
        if any(t.device.type == ELSEWHERE.type and not isinstance(t, Elsewhere) for t in tensors):
            raise RuntimeError(f"ElsewhereMode: {func} got a {ELSEWHERE.type} tensor without data: it was made by a "
                               f"constructor the harness does not intercept (see _Constructors)")
        on_device = any(isinstance(t, Elsewhere) for t in tensors)
        if on_device and name not in CROSS_DEVICE:
            allowed = HOST_ARGUMENTS.get(name, set())
            host = [(n, tuple(t.shape)) for n, v in _named_arguments(func, args, kwargs) if n not in allowed
                    for t in _tensors(v) if not isinstance(t, Elsewhere) and t.dim() > 0]
            if host:
                raise FixedDeviceError(
                    f"{func}: tensors on two devices: the inputs' device ({ELSEWHERE.type}, a GPU's stand-in) and "
                    f"the host: {', '.join(f'{n} {s}' for n, s in host)}. A tensor was created on a fixed device "
                    f"(e.g. torch.zeros(n) without device=); create it with device=x.device, x.new_zeros(...) or "
                    f"torch.zeros_like(x)")
        wrap = on_device
        if device_kwarg is not None:
            wrap = torch.device(device_kwarg).type == ELSEWHERE.type
            kwargs = {**kwargs, "device": torch.device("cpu")}
        unwrap = lambda t: t.elem if isinstance(t, Elsewhere) else t  # noqa: E731
        out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))
        aliased = _aliased_input(func, args, kwargs)
        if aliased is not None:
            if torch.Tag.inplace_view in func.tags and isinstance(aliased, Elsewhere):
                # `x.transpose_(0, 1)` changed the data's shape: give the wrapper the same shape (its
                # meta kernel only updates sizes and strides)
                with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python)):
                    func(aliased, *tree_map(unwrap, args[1:]), **tree_map(unwrap, kwargs))
            if isinstance(aliased, Elsewhere) and (aliased.shape, aliased.stride()) != (aliased.elem.shape,
                                                                                       aliased.elem.stride()):
                raise RuntimeError(f"ElsewhereMode: {func} changed the shape of its output in place; not supported")
            return aliased
        if not wrap:
            return out
        host_outputs = HOST_OUTPUTS.get(name, set())
        if isinstance(out, (tuple, list)):
            return type(out)(o if i in host_outputs or not isinstance(o, torch.Tensor) else Elsewhere(o)
                             for i, o in enumerate(out))
        return Elsewhere(out) if isinstance(out, torch.Tensor) else out


class _Constructors(TorchFunctionMode):
    """`torch.tensor(data, device=...)` and friends build a `meta` tensor without dispatching an op
    (PyTorch skips the data of meta tensors): built on the CPU here, then moved, so the data survive.
    Random draws check their generator's device here (the dispatcher passes generators on as new objects)."""

    FUNCTIONS = {torch.tensor: 1, torch.as_tensor: 1, torch.asarray: 1, torch.Tensor.new_tensor: 2}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        generator = kwargs.get("generator")
        if isinstance(generator, torch.Generator):   # here still the Python object made in the mode
            device = kwargs.get("device")
            on_device = (torch.device(device).type == ELSEWHERE.type if device is not None
                         else any(isinstance(t, Elsewhere) for t in _tensors(args)))
            if getattr(generator, "elsewhere", False) != on_device:  # CUDA: "Expected a 'cuda' device type for generator"
                raise FixedDeviceError(f"{func.__name__}: a random generator on {generator.device.type} draws a tensor "
                                       f"on {ELSEWHERE.type if on_device else 'cpu'}: create it with "
                                       f"torch.Generator(device=x.device)")
        if func in self.FUNCTIONS:
            device = kwargs.get("device")
            if device is None and func is torch.Tensor.new_tensor:
                device = args[0].device
            if device is not None and torch.device(device).type == ELSEWHERE.type:
                kwargs["device"] = "cpu"
                return func(*args, **kwargs).to(ELSEWHERE)
        return func(*args, **kwargs)


class ElsewhereMode:
    """Runs everything on the CPU while checking device placement as CUDA would (module docstring).

    Usage: `with ElsewhereMode(): module.to("meta"); batch = batch.to("meta"); module.training_step(...)`.
    """

    device = ELSEWHERE

    def __enter__(self):
        self._generator, torch.Generator = torch.Generator, ElsewhereGenerator
        self._modes = [_Constructors(), _DeviceRules()]
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc):
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
        torch.Generator = self._generator
        return False


def is_elsewhere(t: torch.Tensor) -> bool:
    return isinstance(t, Elsewhere)

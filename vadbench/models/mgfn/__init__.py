from vadbench.models.mgfn.lightning_model import MGFN
from vadbench.models.mgfn.loss import MGFNLoss
from vadbench.models.mgfn.torch_model import MGFNModel

__all__ = ["MGFN", "MGFNLoss", "MGFNModel"]

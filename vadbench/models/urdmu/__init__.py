from vadbench.models.urdmu.lightning_model import URDMU
from vadbench.models.urdmu.loss import URDMULoss
from vadbench.models.urdmu.torch_model import MemoryUnit, URDMUModel, URDMUTrainOutput, official_key_map

__all__ = ["URDMU", "URDMULoss", "MemoryUnit", "URDMUModel", "URDMUTrainOutput", "official_key_map"]

from vadbench.models.sultani.lightning_model import SultaniMIL
from vadbench.models.sultani.loss import MILRankingLoss
from vadbench.models.sultani.torch_model import SultaniMILModel

__all__ = ["SultaniMIL", "MILRankingLoss", "SultaniMILModel"]

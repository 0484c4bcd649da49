from vadbench.models.bn_wvad.lightning_model import BNWVAD
from vadbench.models.bn_wvad.loss import BNWVADLoss
from vadbench.models.bn_wvad.torch_model import (BNWVADModel, BNWVADTrainOutput, NormalHead, divergence_from_mean,
                                                 official_key_map, select_snippets)

__all__ = ["BNWVAD", "BNWVADLoss", "BNWVADModel", "BNWVADTrainOutput", "NormalHead", "divergence_from_mean",
           "official_key_map", "select_snippets"]

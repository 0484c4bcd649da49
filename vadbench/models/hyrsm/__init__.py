"""HyRSM (Wang et al., CVPR 2022): hybrid relation guided set matching for few-shot action recognition."""

from vadbench.models.hyrsm.lightning_model import HyRSM
from vadbench.models.hyrsm.loss import HyRSMLoss, hyrsm_loss
from vadbench.models.hyrsm.torch_model import (HyRSMModel, HyRSMOutput, InterRelation, IntraRelation,
                                               positional_table, set_distance)

__all__ = ["HyRSM", "HyRSMLoss", "HyRSMModel", "HyRSMOutput", "InterRelation", "IntraRelation", "hyrsm_loss",
           "positional_table", "set_distance"]

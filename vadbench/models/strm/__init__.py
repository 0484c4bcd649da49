"""STRM (Thatipelli et al., CVPR 2022): spatio-temporal relation modeling for few-shot action recognition."""

from vadbench.models.strm.lightning_model import STRM
from vadbench.models.strm.loss import STRMLoss
from vadbench.models.strm.torch_model import (FrameEnrichment, PatchEnrichment, QueryClassSimilarity, STRMModel,
                                              STRMOutput)

__all__ = ["FrameEnrichment", "PatchEnrichment", "QueryClassSimilarity", "STRM", "STRMLoss", "STRMModel",
           "STRMOutput"]

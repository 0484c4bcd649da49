"""BiMACL (Guo et al., ICASSP 2024): bi-directional motion attention with contrastive learning for few-shot
action recognition."""

from vadbench.models.bimacl.lightning_model import BiMACL
from vadbench.models.bimacl.loss import BiMACLLoss
from vadbench.models.bimacl.torch_model import BiMACLModel, BiMACLOutput, MotionAttention, TupleContrast

__all__ = ["BiMACL", "BiMACLLoss", "BiMACLModel", "BiMACLOutput", "MotionAttention", "TupleContrast"]

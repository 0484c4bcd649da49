"""TRX (Perrett et al., CVPR 2021): temporal-relational cross-transformers for few-shot action recognition."""

from vadbench.models.fewshot_base import EmbeddingCache, FewShotModule
from vadbench.models.trx.lightning_model import TRX
from vadbench.models.trx.loss import TRXLoss, trx_loss
from vadbench.models.trx.torch_model import CrossTransformerHead, TemporalCrossTransformer, TRXHeadConfig, TRXModel

__all__ = ["CrossTransformerHead", "EmbeddingCache", "FewShotModule", "TRX", "TRXHeadConfig", "TRXLoss", "TRXModel",
           "TemporalCrossTransformer", "trx_loss"]

from vadbench.models.sta_mil.lightning_model import STAMIL
from vadbench.models.sta_mil.loss import STAMILLoss, mean_pairwise_cosine, mutual_cosine_embedding_loss
from vadbench.models.sta_mil.torch_model import (BidirectionalRNNScorer, CrissCrossAttention, SpatialTemporalAttention,
                                                 STAMILModel, STAMILOutput, pool_segments, segment_membership,
                                                 spread_segment_scores)

__all__ = ["STAMIL", "STAMILLoss", "STAMILModel", "STAMILOutput", "CrissCrossAttention", "SpatialTemporalAttention",
           "BidirectionalRNNScorer", "mean_pairwise_cosine", "mutual_cosine_embedding_loss", "pool_segments",
           "segment_membership", "spread_segment_scores"]

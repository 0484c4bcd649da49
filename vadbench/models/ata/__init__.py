"""ATA (Nguyen et al., ECCV 2022): few-shot video classification via appearance and temporal alignments."""

from vadbench.models.ata.lightning_model import ATA
from vadbench.models.ata.loss import ATALoss
from vadbench.models.ata.torch_model import (ATAHeadConfig, ATAModel, ATATrainOutput, appearance_score, ata_objective,
                                             entropy_terms, few_shot_logits, similarity_matrix, temporal_prior,
                                             temporal_score)

__all__ = ["ATA", "ATAHeadConfig", "ATALoss", "ATAModel", "ATATrainOutput", "appearance_score", "ata_objective",
           "entropy_terms", "few_shot_logits", "similarity_matrix", "temporal_prior", "temporal_score"]

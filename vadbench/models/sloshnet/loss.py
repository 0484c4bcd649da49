"""SloshNet's episode loss: TRX's (official run.py `train_task` calls TRX's `utils.loss`): cross-entropy of
the query logits summed over the queries; the official division by the 16 tasks of a batch is gradient
accumulation here (`accumulate_grad_batches: 16`)."""

from vadbench.models.trx.loss import TRXLoss as SloshNetLoss

__all__ = ["SloshNetLoss"]

"""SSRL loss: RTFM's, unchanged (SSRL eqs. (7)-(10)).

L = L_CE (eq. 9) + lambda_fm L_FM (eqs. 7-8) + lambda_1 sum_t |s_t+| + lambda_2 sum_t (s_t+ - s_t-1+)^2
with k = 3, eps = 100, lambda_fm = 1e-4, lambda_1 = 8e-3, lambda_2 = 8e-4 (Sec. 4.2). The official
code's divergences are switches of `RTFMLoss` (see its docstring).
"""

from vadbench.models.rtfm.loss import RTFMLoss


class SSRLLoss(RTFMLoss):
    """RTFMLoss with SSRL's defaults (identical to RTFM's)."""


__all__ = ["SSRLLoss"]

"""MSIP loss (poster): L = L_BCE + lambda_fm L_FM + lambda_1 sum_t |s_t+| + lambda_2 sum_t (s_t+ - s_t-1+)^2.

L_FM is "the feature magnitude based MIL ranking loss proposed by previous work" (RTFM / SSRL eq. (8)),
so the loss is RTFM's. The poster gives no weights: the defaults are SSRL's (k = 3, eps = 100,
lambda_fm = 1e-4, lambda_1 = 8e-3, lambda_2 = 8e-4), the setting of the CTR it builds on.
"""

from vadbench.models.rtfm.loss import RTFMLoss


class MSIPLoss(RTFMLoss):
    """RTFMLoss with MSIP's (= SSRL's) defaults."""


__all__ = ["MSIPLoss"]

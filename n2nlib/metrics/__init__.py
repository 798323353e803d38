r"""The measured quality of each experiment: small, documented functions on tensors.

Every notebook ends with a table of numbers computed here, on held-out data, so that a claim
("the residual carries no information about the condition", "the samples cover every mode")
is a number with a stated tolerance rather than a picture. The module is a flat collection of
functions; add new ones freely.

Information
    :func:`knn_mutual_information` (Kraskov–Stögbauer–Grassberger estimator, any dependence)
    and :func:`gaussian_mutual_information` (linear dependence only, closed form from
    covariances).
Likelihood
    :func:`nll_gap`: a model's held-out NLL minus the ground truth's, with its standard error.
Modes
    :func:`mode_shares`, :func:`mode_coverage`, :func:`on_mode_fraction`: where samples land
    relative to the known mode centres of a mixture.
Distances
    :func:`mean_distance`, :func:`total_variation`.
Translators (any translator on held-out pairs; the residual's assumptions)
    :func:`energy_distance`, :func:`mmd`, :func:`classifier_two_sample_test`,
    :func:`vendi_score`, :func:`residual_report` (KS against N(0, 1), HSIC against the
    condition, rank histograms) — :mod:`n2nlib.metrics.translators`.
Goals
    :class:`Goal` and :func:`goal_table`: the MET/MISSED table at the end of each notebook.
Diagnosis (notebook 07)
    :func:`frechet_distance` (FID's formula on any features),
    :func:`efficientnet_frechet_distance` (that formula on ImageNet EfficientNet-Lite0 features,
    an independent reader), :func:`sample_diversity`,
    :func:`rms_distance`.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.randn(1000, 1, generator=g)
>>> y = x + 0.1 * torch.randn(1000, 1, generator=g)
>>> noise = torch.randn(1000, 1, generator=g)   # independent of x
>>> knn_mutual_information(x, y) > 1.5, abs(knn_mutual_information(x, noise)) < 0.1
(True, True)
"""

from __future__ import annotations

from n2nlib.metrics.distributions import (
    efficientnet_features,
    efficientnet_frechet_distance,
    frechet_distance,
    gaussian_frechet_distance,
    mean_distance,
    mode_coverage,
    mode_shares,
    on_mode_fraction,
    rms_distance,
    sample_diversity,
    total_variation,
)
from n2nlib.metrics.goals import Goal, goal_table
from n2nlib.metrics.images import (
    accuracy,
    accuracy_per_factor,
    confusion_matrix,
    content_preservation,
    diversity_vs_ambiguity,
    downsample,
    iou_per_class,
    linear_probe_accuracy,
    lr_consistency,
    miou,
    pixel_std,
    psnr,
    sharpness,
    ssim,
)
from n2nlib.metrics.information import (
    NLLGap,
    distinct_per_input,
    gaussian_mutual_information,
    knn_mutual_information,
    nll_gap,
)
from n2nlib.metrics.text import (
    all_stated_correct,
    normalized_entropy,
    stated_accuracy,
    unstated_diversity,
)
from n2nlib.metrics.translators import (
    ResidualReport,
    classifier_two_sample_test,
    energy_distance,
    hsic,
    mean_pairwise_distance,
    mmd,
    r_squared,
    rank_histogram,
    residual_report,
    vendi_score,
)

__all__ = [
    "distinct_per_input",
    "Goal",
    "goal_table",
    "knn_mutual_information",
    "gaussian_mutual_information",
    "NLLGap",
    "nll_gap",
    "mode_shares",
    "on_mode_fraction",
    "mode_coverage",
    "mean_distance",
    "total_variation",
    "gaussian_frechet_distance",
    "frechet_distance",
    "efficientnet_features",
    "efficientnet_frechet_distance",
    "sample_diversity",
    "rms_distance",
    "psnr",
    "accuracy",
    "accuracy_per_factor",
    "confusion_matrix",
    "iou_per_class",
    "miou",
    "ssim",
    "downsample",
    "lr_consistency",
    "pixel_std",
    "diversity_vs_ambiguity",
    "sharpness",
    "content_preservation",
    "linear_probe_accuracy",
    "normalized_entropy",
    "stated_accuracy",
    "all_stated_correct",
    "unstated_diversity",
    "ResidualReport",
    "classifier_two_sample_test",
    "energy_distance",
    "hsic",
    "mean_pairwise_distance",
    "mmd",
    "r_squared",
    "rank_histogram",
    "residual_report",
    "vendi_score",
]

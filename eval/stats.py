"""Confidence intervals and tests shared by the metrics: seeded bootstrap (scipy), Wilcoxon signed-rank,
KS and Mann–Whitney. Every function returns plain floats (None where the data cannot support a number)."""
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats


def bootstrap_ci(samples: Sequence[Sequence[float]], statistic: Callable, paired: bool, resamples: int,
                 level: float, method: str, rng: np.random.Generator) -> dict:
    """Point estimate and bootstrap interval of statistic(*samples); `paired` resamples the same indices in
    every sample (e.g. base and adapter values of the same article)."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    estimate = float(statistic(*arrays))
    low = high = None
    if min(len(a) for a in arrays) >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # degenerate (constant) samples give NaN bounds, reported as None
            result = stats.bootstrap(tuple(arrays), statistic, paired=paired, vectorized=False,
                                     n_resamples=resamples, confidence_level=level, method=method, rng=rng)
        low, high = (float(v) if np.isfinite(v) else None for v in (result.confidence_interval.low,
                                                                  result.confidence_interval.high))
    return {"estimate": estimate, "ci_low": low, "ci_high": high}


def wilcoxon(x: Sequence[float], y: Sequence[float]) -> dict:
    """Two-sided Wilcoxon signed-rank test of paired differences x - y (zero differences dropped)."""
    diff = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    nonzero = int(np.count_nonzero(diff))
    if nonzero < 2:
        return {"n": len(diff), "n_nonzero": nonzero, "statistic": None, "p_value": None}
    result = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided")
    return {"n": len(diff), "n_nonzero": nonzero, "statistic": float(result.statistic),
            "p_value": float(result.pvalue)}


def two_sample(x: Sequence[float], y: Sequence[float]) -> dict:
    """KS and Mann–Whitney U (two-sided) between two samples, e.g. sentence lengths."""
    if len(x) < 1 or len(y) < 1:
        return {"n_x": len(x), "n_y": len(y), "ks_statistic": None, "ks_p_value": None,
                "mannwhitney_u": None, "mannwhitney_p_value": None}
    ks = stats.ks_2samp(x, y)
    mw = stats.mannwhitneyu(x, y, alternative="two-sided")
    return {"n_x": len(x), "n_y": len(y), "ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue),
            "mannwhitney_u": float(mw.statistic), "mannwhitney_p_value": float(mw.pvalue)}


def mean(x: np.ndarray) -> float:
    return float(np.mean(x))


def mean_difference(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(x - y))

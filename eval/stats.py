"""Confidence intervals and tests shared by the metrics: seeded bootstrap (scipy), Wilcoxon signed-rank,
KS, Mann–Whitney and Holm's correction for several tests. Every function returns plain floats (None where the
data cannot support a number)."""
import warnings
from typing import Callable, Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


def bootstrap_ci(samples: Sequence[Sequence[float]], statistic: Callable, paired: bool, resamples: int,
                 level: float, method: str, rng: np.random.Generator, min_n_bca: int = 10) -> dict:
    """Point estimate and bootstrap interval of statistic(*samples); `paired` resamples the same indices in
    every sample (e.g. base and adapter values of the same article). BCa needs a stable jackknife: below
    `min_n_bca` values, or when its bounds come out non-finite, the percentile interval is reported instead.
    "n" is the smallest sample's size and "method" the method actually used (None when n < 2: no interval)."""
    arrays = [np.asarray(s, dtype=float) for s in samples]
    n = min(len(a) for a in arrays)
    estimate = float(statistic(*arrays))
    if n < 2:
        return {"estimate": estimate, "ci_low": None, "ci_high": None, "n": n, "method": None}
    used = "percentile" if method.lower() == "bca" and n < min_n_bca else method
    low, high = _interval(arrays, statistic, paired, resamples, level, used, rng)
    if used.lower() == "bca" and None in (low, high):
        used = "percentile"
        low, high = _interval(arrays, statistic, paired, resamples, level, used, rng)
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n": n, "method": used}


def _interval(arrays: list[np.ndarray], statistic: Callable, paired: bool, resamples: int, level: float,
              method: str, rng: np.random.Generator) -> tuple[float | None, float | None]:
    """scipy's bootstrap interval; a non-finite bound (degenerate, e.g. constant, samples) becomes None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on degenerate samples; the bound says so itself
        result = stats.bootstrap(tuple(arrays), statistic, paired=paired, vectorized=False, n_resamples=resamples,
                                 confidence_level=level, method=method, rng=rng)
    bounds = (result.confidence_interval.low, result.confidence_interval.high)
    return tuple(float(v) if np.isfinite(v) else None for v in bounds)


def holm(p_values: dict[str, float | None]) -> dict[str, float | None]:
    """Holm–Bonferroni adjusted p-values over the tests that have one (None stays None), so a family of
    comparisons keeps its familywise error rate; keys keep their order."""
    tested = [k for k, p in p_values.items() if p is not None]
    adjusted = dict(zip(tested, multipletests([p_values[k] for k in tested], method="holm")[1])) if tested else {}
    return {k: float(adjusted[k]) if k in adjusted else None for k in p_values}


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


def summary(values: Sequence[float]) -> dict:
    """n, mean, median and sample sd (None where there are too few values)."""
    if not len(values):
        return {"n": 0, "mean": None, "median": None, "sd": None}
    return {"n": len(values), "mean": float(np.mean(values)), "median": float(np.median(values)),
            "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None}

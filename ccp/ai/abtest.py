"""Confidence intervals and significance for the AI-vs-platform A/B (FIG 18), in plain `math`.

Rates (resolution, transfers, abandonment) get a Wilson score interval — it stays inside [0, 1] and
is honest for small counts, where the normal interval is not. Means (handle time, outcome score) get
the normal interval mean ± z·s/√n (needs n ≥ 2). A difference between the arms is tested with the
two-proportion z-test (pooled) for rates and Welch's z-approximation for means; it is `significant`
when p < `alpha` (0.05 for the 95 % intervals shown) and both arms have at least `MIN_N` observations
— below that the page says "not yet" whatever the p-value, because a handful of conversations swings
any rate. Several metrics are compared at once; we do not correct for that, and the sentence says
which metric crossed the line so a supervisor can judge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Z95 = 1.959963984540054
MIN_N = 20


def wilson(*, successes: int, n: int, z: float = Z95) -> list[float] | None:
    """The Wilson score interval of a rate, or None without observations."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def mean_ci(*, values: Sequence[float], z: float = Z95, digits: int = 4) -> list[float] | None:
    """mean ± z·s/√n, or None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = z * sd / math.sqrt(n)
    return [round(mean - half, digits), round(mean + half, digits)]


def _p_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def compare_rates(*, metric: str, a: tuple[int, int], b: tuple[int, int], alpha: float = 0.05) -> dict[str, Any]:
    """AI (`a`) minus platform (`b`) for a rate; each is (successes, n)."""
    (sa, na), (sb, nb) = a, b
    row: dict[str, Any] = {"metric": metric, "n_ai": na, "n_platform": nb, "difference": None, "ci": None}
    row.update(p_value=None, significant=False)
    if na <= 0 or nb <= 0:
        return row
    pa, pb = sa / na, sb / nb
    difference = pa - pb
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    pooled = (sa + sb) / (na + nb)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    p_value = 1.0 if se_pooled == 0 else _p_two_sided(difference / se_pooled)
    row.update(
        difference=round(difference, 4),
        ci=[round(difference - Z95 * se, 4), round(difference + Z95 * se, 4)],
        p_value=round(p_value, 4),
        significant=p_value < alpha and min(na, nb) >= MIN_N,
    )
    return row


def compare_means(
    *, metric: str, a: Sequence[float], b: Sequence[float], alpha: float = 0.05, digits: int = 4
) -> dict[str, Any]:
    """AI (`a`) minus platform (`b`) for a mean (Welch, normal approximation)."""
    row: dict[str, Any] = {"metric": metric, "n_ai": len(a), "n_platform": len(b), "difference": None, "ci": None}
    row.update(p_value=None, significant=False)
    if len(a) < 2 or len(b) < 2:
        return row

    def moments(values: Sequence[float]) -> tuple[float, float]:
        mean = sum(values) / len(values)
        return mean, sum((v - mean) ** 2 for v in values) / (len(values) - 1)

    (ma, va), (mb, vb) = moments(a), moments(b)
    difference = ma - mb
    se = math.sqrt(va / len(a) + vb / len(b))
    p_value = (1.0 if difference == 0 else 0.0) if se == 0 else _p_two_sided(difference / se)
    row.update(
        difference=round(difference, digits),
        ci=[round(difference - Z95 * se, digits), round(difference + Z95 * se, digits)],
        p_value=round(p_value, 4),
        significant=p_value < alpha and min(len(a), len(b)) >= MIN_N,
    )
    return row


LABELS = {
    "resolution_rate": ("resolution rate", "pct"),
    "transfer_rate": ("transfer rate", "pct"),
    "abandonment_rate": ("abandonment after routing", "pct"),
    "mean_handle_seconds": ("mean handle time", "s"),
    "mean_outcome_score": ("mean outcome score", "score"),
}


def verdict(*, comparisons: Sequence[dict[str, Any]], routed: dict[str, int]) -> str:
    """One sentence for the supervisor: which differences are significant, or that none is yet."""
    significant = [row for row in comparisons if row["significant"]]
    if not significant:
        small = min(routed.values()) if routed else 0
        why = f" (fewer than {MIN_N} conversations in an arm)" if small < MIN_N else ""
        return (
            "The difference between the AI and platform arms is not yet statistically significant at 95 %"
            f"{why}: keep the test running before drawing conclusions."
        )
    parts = []
    for row in significant:
        label, unit = LABELS.get(row["metric"], (row["metric"], ""))
        low, high = row["ci"]
        if unit == "pct":
            shown = f"{row['difference'] * 100:+.1f} points (95 % CI {low * 100:+.1f} to {high * 100:+.1f})"
        elif unit == "s":
            shown = f"{row['difference']:+.0f} s (95 % CI {low:+.0f} to {high:+.0f})"
        else:
            shown = f"{row['difference']:+.3f} (95 % CI {low:+.3f} to {high:+.3f})"
        parts.append(f"{label} {shown}, p = {row['p_value']:.3f}")
    return "Significant at 95 % (AI minus platform): " + "; ".join(parts) + "."

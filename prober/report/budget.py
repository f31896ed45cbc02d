"""The error-budget arithmetic of the report, apart from any I/O (see shared slo-math).

An SLO with objective 99.9% has an error budget of 0.1% of events. Over a window:

- budget spent = error ratio / error budget (1.0: all of it; above 1: overspent);
- budget remaining = 1 - spent;
- burn rate over a shorter window = that window's error ratio / error budget (1.0 spends
  the budget exactly over the SLO period; 14.4 spends 2% of a 30d budget in 1h);
- time until the budget is exhausted at a burn rate b = remaining x period / b.
"""

from __future__ import annotations

from enum import StrEnum

from ..slo.windows import error_budget as _error_budget


def error_budget(objective_percent: float) -> float:
    """99.9 -> 0.001, without the binary noise of 100 - 99.9 (0.0009999999999999432)."""
    return round(_error_budget(objective_percent), 12)


class Verdict(StrEnum):
    OK = "ok"
    FREEZE = "freeze"  # over the policy line: freeze feature releases
    NO_DATA = "no-data"


def ratio(bad: float | None, total: float | None) -> float | None:
    """bad / total, or None when there were no events to judge."""
    if bad is None or total is None or total <= 0:
        return None
    return max(0.0, bad / total)


def budget_spent(error_ratio: float, objective_percent: float) -> float:
    """Fraction of the error budget the error ratio uses: 0.0005 of a 99.9% SLO is 0.5."""
    return error_ratio / error_budget(objective_percent)


def burn_rate(error_ratio: float, objective_percent: float) -> float:
    """How many times faster than sustainable the budget burns at this error ratio."""
    return error_ratio / error_budget(objective_percent)


def time_to_exhaustion(remaining: float, burn: float, period: float) -> float | None:
    """Seconds until nothing is left at burn rate `burn`: 0 when already spent, None
    (never, at this rate) when nothing burns."""
    if remaining <= 0:
        return 0.0
    if burn <= 0:
        return None
    return remaining * period / burn


def verdict(spent: float | None, policy_spent_percent: float) -> Verdict:
    """Freeze feature releases once more than the policy's share of the budget is spent."""
    if spent is None:
        return Verdict.NO_DATA
    return Verdict.FREEZE if spent * 100 > policy_spent_percent else Verdict.OK

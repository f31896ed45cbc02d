"""PromQL text for dashboard panels: selectors on the Grafana variables, and SLO grouping.

Pure string functions. Panels filter with the dashboard variables (`$slo`, `$region`);
where a panel draws a line from the config (a burn-rate threshold, the budget policy
line), it covers only the SLOs that share that setting: `slo_matchers` adds a second
matcher on `slo` listing them, so one dashboard stays right for any set of SLOs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Final, TypeVar

from .. import conventions as c
from ..config import SLOConfig
from ..slo import names as n

SLO_VAR: Final = "$slo"
REGION_VAR: Final = "$region"
DATASOURCE_VAR: Final = "datasource"
RATE_INTERVAL: Final = "$__rate_interval"

REGION_MATCH: Final = f'{c.L_REGION}=~"{REGION_VAR}"'
SLO_MATCH: Final = f'{c.L_SLO}=~"{SLO_VAR}"'
# Alerts without the label (global or agent-wide ones) stay visible whatever is selected.
SLO_OR_NONE: Final = f'{c.L_SLO}=~"{SLO_VAR}|"'
REGION_OR_NONE: Final = f'{c.L_REGION}=~"{REGION_VAR}|"'

K = TypeVar("K", bound=Hashable)


def selector(metric: str, *matchers: str) -> str:
    return f"{metric}{{{','.join(m for m in matchers if m)}}}"


def eq(label: str, value: str) -> str:
    return f'{label}="{value}"'


def regex_literal(text: str) -> str:
    """A name as a literal inside a PromQL regex string: `.` escaped (names are [\\w.-])."""
    return text.replace(".", "\\\\.")


def slo_matchers(slos: Sequence[SLOConfig], all_slos: Sequence[SLOConfig]) -> tuple[str, ...]:
    """`slo=~"$slo"`, plus `slo=~"a|b"` when the panel covers only some SLOs."""
    if [s.name for s in slos] == [s.name for s in all_slos]:
        return (SLO_MATCH,)
    names = "|".join(regex_literal(s.name) for s in slos)
    return (SLO_MATCH, f'{c.L_SLO}=~"{names}"')


def grouped(
    slos: Iterable[SLOConfig], key: Callable[[SLOConfig], K]
) -> list[tuple[K, list[SLOConfig]]]:
    """SLOs sharing `key(slo)`, groups in the order of their first SLO in the config."""
    groups: dict[K, list[SLOConfig]] = {}
    for slo in slos:
        groups.setdefault(key(slo), []).append(slo)
    return list(groups.items())


def for_slos(title: str, slos: Sequence[SLOConfig], all_slos: Sequence[SLOConfig]) -> str:
    """A panel title, naming its SLOs when it covers only some of them."""
    if len(slos) == len(all_slos):
        return title
    return f"{title} ({', '.join(s.name for s in slos)})"


def quantile(q: float, buckets: str, by: Sequence[str]) -> str:
    return f"histogram_quantile({q:g}, sum by ({', '.join(sorted({c.L_LE, *by}))}) ({buckets}))"


def rate(series: str, window: str = RATE_INTERVAL) -> str:
    return f"rate({series}[{window}])"


def histogram_quantile(q: float, histogram: str, *matchers: str, by: Sequence[str]) -> str:
    """The q-quantile of a histogram family over the rate window, grouped `by`."""
    return quantile(q, rate(selector(f"{histogram}_bucket", *matchers)), by)


def with_region(series: str, *, by: Sequence[str], agg: str = "sum") -> str:
    """Agent-wide series carry no `region` label: take it from prober_build_info of the
    same scrape target, so the region variable filters them too."""
    joined = (
        f"{series} * on ({n.L_INSTANCE}, {n.L_JOB}) group_left ({c.L_REGION}) "
        f"{selector(c.BUILD_INFO, REGION_MATCH)}"
    )
    return f"{agg} by ({', '.join(by)}) ({joined})"

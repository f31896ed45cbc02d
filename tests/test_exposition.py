"""The hand-written /metrics renderer, checked by prometheus_client's own parsers."""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from prober import conventions as c
from prober.model import ProbeResult, StepResult
from prober.telemetry.exposition import Pace, render, render_chunks
from prober.telemetry.metrics import ProbeMetrics

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def sample_metrics(*, lean: bool = False) -> ProbeMetrics:
    m = ProbeMetrics("eu-west-1", {"team": 'id "core"\\ops\nx'}, c.DURATION_BUCKETS, lean=lean)
    m.sync([("get", "ums:8443", "ums"), ("scenario", "ums:8443", "ums")])
    for duration in (0.05, 0.15, 0.2, 0.7):
        m.record(
            ProbeResult(
                probe="get",
                target="ums:8443",
                outcome=c.Outcome.SUCCESS,
                duration=duration,
                code=200,
                phases={"connect": 0.002, "ttfb": 0.04},
                error_bound=0.0012 if duration < 0.5 else 0.03,
            )
        )
    m.record(ProbeResult(probe="get", target="ums:8443", outcome=c.Outcome.TIMEOUT, duration=5.0))
    m.record(
        ProbeResult(
            probe="get",
            target="ums:8443",
            outcome=c.Outcome.SUCCESS,
            duration=0.123,
            code=200,
            trace_id=TRACE,
        )
    )
    m.record(
        ProbeResult(
            probe="scenario",
            target="ums:8443",
            outcome=c.Outcome.CONSISTENCY,
            duration=0.3,
            code=200,
            step="read",
            steps=(
                StepResult("write", c.Outcome.SUCCESS, 0.1, 200),
                StepResult("read", c.Outcome.CONSISTENCY, 0.2, 200),
            ),
        )
    )
    m.skip("get", "overlap", 2)
    return m


def families(text: str, openmetrics: bool) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    parse = parse_om if openmetrics else parse_text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in parse(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def le_key(base: dict[str, str], le: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({**base, "outcome": "success", "le": le}.items()))


def test_both_formats_parse_and_agree_with_what_was_recorded() -> None:
    m = sample_metrics()
    for om in (False, True):
        body = render(m, inflight=3, state={"reload_success": 1.0}, version="1.2.3", openmetrics=om)
        got = families(body.decode(), om)
        runs = got[c.RUNS_TOTAL]
        base = {
            "probe": "get",
            "target": "ums:8443",
            "region": "eu-west-1",
            "slo": "ums",
            "team": 'id "core"\\ops\nx',
        }
        key = tuple(sorted({**base, "outcome": "success", "code": "200", "step": ""}.items()))
        assert runs[key] == 5
        timeout = tuple(sorted({**base, "outcome": "timeout", "code": "", "step": ""}.items()))
        assert runs[timeout] == 1
        buckets = got[c.DURATION + "_bucket"]

        assert buckets[le_key(base, "0.05")] == 1
        assert (
            buckets[le_key(base, "0.2")] == 4
        )  # 0.05, 0.123, 0.15, 0.2: le means "less than or equal"
        assert buckets[le_key(base, "0.5")] == 4
        assert buckets[le_key(base, "+Inf")] == 5
        count = got[c.DURATION + "_count"][tuple(sorted({**base, "outcome": "success"}.items()))]
        assert count == 5
        steps = got[c.STEP_DURATION + "_count"]
        assert {dict(k)["step"] for k in steps} == {"write", "read"}
        consistency = [dict(k) for k in runs if dict(k)["outcome"] == "consistency"]
        assert consistency[0]["step"] == "read"
        assert got[c.INFLIGHT][()] == 3
        assert (
            got[c.SKIPPED_RUNS][(("probe", "get"), ("reason", "overlap"), ("region", "eu-west-1"))]
            == 2
        )


def test_exemplars_appear_only_in_openmetrics_on_the_bucket_of_the_traced_run() -> None:
    m = sample_metrics()
    om = render(m, inflight=0, state={}, version="v", openmetrics=True).decode()
    text = render(m, inflight=0, state={}, version="v").decode()
    assert "trace_id" not in text
    assert om.endswith("# EOF\n")
    (line,) = [x for x in om.splitlines() if "trace_id" in x]
    assert line.startswith(c.DURATION + "_bucket{")
    assert 'le="0.125"' in line
    assert f'# {{trace_id="{TRACE}"}} 0.123 ' in line
    exemplars = [s.exemplar for f in parse_om(om) for s in f.samples if s.exemplar]  # type: ignore[no-untyped-call]
    assert [e.labels["trace_id"] for e in exemplars] == [TRACE]


def test_removed_probes_disappear_and_kept_ones_keep_counting() -> None:
    m = sample_metrics()
    render(m, inflight=0, state={}, version="v")  # warm the caches
    m.sync([("get", "ums:8443", "ums")])
    m.record(
        ProbeResult(
            probe="get", target="ums:8443", outcome=c.Outcome.SUCCESS, duration=0.1, code=200
        )
    )
    text = render(m, inflight=0, state={}, version="v").decode()
    assert 'probe="scenario"' not in text
    got = families(text, False)[c.RUNS_TOTAL]
    assert max(got.values()) == 6


def test_a_scrape_is_streamed_in_pieces_that_add_up_to_the_whole_body() -> None:
    m = sample_metrics()
    whole = render(m, inflight=1, state={}, version="v", openmetrics=True)
    pieces = list(render_chunks(m, inflight=1, state={}, version="v", openmetrics=True, budget=0.0))
    # A zero budget hands the loop back after every probe of every probe family.
    assert len(pieces) >= len(m.series) * 6
    assert b"".join(pieces) == whole
    assert all(p.endswith(b"\n") for p in pieces if p), "no sample is split between pieces"


def test_lean_metrics_drop_the_phase_histograms_and_leave_everything_else_as_it_was() -> None:
    full = render(sample_metrics(), inflight=1, state={}, version="1").decode()
    lean = render(sample_metrics(lean=True), inflight=1, state={}, version="1").decode()
    assert f"{c.PHASE}_bucket" in full  # the sample does record phases
    assert c.PHASE not in lean  # no samples, and no HELP or TYPE line either
    without_phases = [line for line in full.splitlines() if c.PHASE not in line]
    assert lean.splitlines() == without_phases
    assert families(lean, False)[c.RUNS_TOTAL] == families(full, False)[c.RUNS_TOTAL]


def test_going_lean_on_a_reload_drops_the_phase_histograms_already_kept() -> None:
    m = sample_metrics()
    m.set_lean(True)
    assert all(not s.phases for s in m.series.values())
    assert c.PHASE not in render(m, inflight=0, state={}, version="1").decode()


def test_the_error_bound_histogram_is_one_per_agent_and_counts_every_run() -> None:
    m = sample_metrics()
    got = families(render(m, inflight=0, state={}, version="1").decode(), False)
    count = got[c.ERROR_BOUND + "_count"]
    assert list(count) == [(("region", "eu-west-1"),)]  # no per-probe labels
    runs = sum(got[c.RUNS_TOTAL].values())
    assert count[(("region", "eu-west-1"),)] == runs
    buckets = got[c.ERROR_BOUND + "_bucket"]
    # three runs at 1.2 ms, one at 30 ms (0.7 s), the rest recorded with no bound (0)
    assert buckets[(("le", "0.0011"), ("region", "eu-west-1"))] == runs - 4
    assert buckets[(("le", "0.0015"), ("region", "eu-west-1"))] == runs - 1
    assert buckets[(("le", "0.025"), ("region", "eu-west-1"))] == runs - 1
    assert buckets[(("le", "0.05"), ("region", "eu-west-1"))] == runs


def test_pace_gives_a_piece_what_is_left_of_the_turn_scaled_by_its_rendering_share() -> None:
    pace = Pace(turn=0.001)
    assert pace.budget == 0.001
    pace.after_turn(own=0.001, others=0.0)  # an idle loop: the whole turn again
    assert pace.budget == pytest.approx(0.001)
    pace.after_turn(own=0.002, others=0.0006)  # half the piece was join and write
    assert pace.budget == pytest.approx((0.001 - 0.0006) * 0.5)
    budget = pace.budget
    pace.after_turn(own=budget, others=0.005)  # the probes took more than a turn
    assert pace.budget == pytest.approx(0.0001), "a tenth of a turn: the scrape still ends"


def test_series_carry_their_label_text_before_any_scrape() -> None:
    m = ProbeMetrics("eu", {"team": 'a"b'}, (0.1, 0.2))
    m.sync([("api", "https://x.example/", "avail")])
    assert m.series["api"].label_text == (
        'probe="api",target="https://x.example/",region="eu",slo="avail",team="a\\"b"'
    )

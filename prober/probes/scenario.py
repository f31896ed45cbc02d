"""Scenario probes: ordered HTTP steps run as one probe run, sharing variables.

A canary write that cannot be read back is an outage no single GET will see.
The run's outcome is the first failing step's outcome, and that step is named.
When an assertion that compares against something this run produced (a nonce,
a captured version) fails, the outcome is `consistency`, not `assertion_failed`:
the service answered, but with data other than what was just written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind
from yarl import URL

from ..config import Expect, JSONAssertion
from ..config.regex import Regex
from ..conventions import Outcome
from ..model import ProbeResult, RunContext, StepResult
from ..redact import REDACTED, one_line, safe_url, scrub, url_secrets
from .assertions import MISSING, Check, compile_checks, lookup, parse_path
from .http import encode_body, http_span_attributes, judge, request_headers, send
from .http1 import Exchange
from .session import SessionPool, perf, ssl_context
from .variables import builtins, references, render, render_regex, render_value

if TYPE_CHECKING:
    import ssl

    from ..config import Capture, Config, ScenarioConfig, StepConfig

# A captured value sent in a header is redacted from errors only from this length up:
# shorter ones (a version number, a status) would garble messages without hiding anything.
MIN_SECRET = 8
# Variables that don't come from this run: a mismatch on them is a plain assertion failure.
_STATIC_VARIABLES = frozenset({"region", "probe"})


class _Step:
    """One step, compiled: static parts prepared once, templated parts rendered per run."""

    def __init__(self, cfg: StepConfig, config: Config) -> None:
        self.name = cfg.name
        self.method = cfg.method
        self.always_run = cfg.always_run
        self.timeout = cfg.timeout
        self.captures: dict[str, Capture] = dict(cfg.capture)
        self.header_refs = references(list(cfg.headers.values()))
        self._url_template = cfg.url
        self._static_url = None if references(cfg.url) else URL(cfg.url, encoded=False)
        self._headers = request_headers(cfg.headers)
        self._has_json = "json_body" in cfg.model_fields_set
        self._body_template: Any = cfg.json_body if self._has_json else cfg.body
        self._templated_body = bool(references(self._body_template))
        self._static_body = (
            None
            if self._templated_body
            else encode_body(cfg.body, cfg.json_body, self._has_json, self._headers)
        )
        self._expect = cfg.expect
        static, templated = _split_expect(cfg.expect)
        self._checks = compile_checks(static)
        self._templated = templated
        run_refs = (
            references([a.equals for a in templated.json_fields])
            | references([a.matches for a in templated.json_fields])
            | references([templated.body_regex, templated.body_not_regex])
        )
        self._consistency = bool(run_refs - _STATIC_VARIABLES)
        shown_url = URL(cfg.url.replace("{{", "").replace("}}", ""), encoded=False)
        self.span_attributes = http_span_attributes(
            shown_url, cfg.method, config.agent.secret_query_params, config.redactor
        )
        # The template, not the values: `{{var}}` shows, secret query values are replaced.
        self.span_attributes["url.full"] = config.redactor(
            safe_url(cfg.url, config.agent.secret_query_params, keep_query=True)
        )
        self._secret_params = config.agent.secret_query_params
        self.url_secrets = tuple(url_secrets(cfg.url, self._secret_params))

    def secrets_of(self, url: URL) -> tuple[str, ...]:
        """The secret parts of this run's URL: a rendered value (`?token={{token}}`) too."""
        if self._static_url is not None:
            return self.url_secrets
        return (*self.url_secrets, *url_secrets(url, self._secret_params))

    def request(self, variables: Mapping[str, Any]) -> tuple[URL, dict[str, str], bytes | None]:
        url = self._static_url or URL(render(self._url_template, variables), encoded=False)
        headers = {k: render(v, variables) for k, v in self._headers.items()}
        if self._templated_body:
            rendered = render_value(self._body_template, variables)
            body = encode_body(
                None if self._has_json else rendered, rendered, self._has_json, headers
            )
        else:
            body = self._static_body
        return url, headers, body

    def judge(self, ex: Exchange, variables: dict[str, Any]) -> tuple[Outcome, str]:
        """Status, then captures (later steps need them), then static and run checks."""
        outcome, error = judge(ex, self._expect.status_ok, ())
        if outcome is not Outcome.SUCCESS:
            return outcome, error
        failure = self._capture(ex, variables)
        if failure:
            return Outcome.ASSERTION_FAILED, failure
        for check in self._checks:
            if (reason := check(ex.body)) is not None:
                return Outcome.ASSERTION_FAILED, reason
        for check in self._run_checks(variables):
            if (reason := check(ex.body)) is not None:
                return (
                    Outcome.CONSISTENCY if self._consistency else Outcome.ASSERTION_FAILED
                ), reason
        return Outcome.SUCCESS, ""

    def _run_checks(self, variables: Mapping[str, Any]) -> tuple[Check, ...]:
        t = self._templated
        if not (t.json_fields or t.body_regex or t.body_not_regex):
            return ()
        try:
            return self._render_checks(t, variables)
        except ValueError:  # RE2 refuses a pattern past its memory bound: a huge captured value

            def too_large(body: bytes) -> str:
                return "a regex with variables is too large to compile with their values"

            return (too_large,)

    @staticmethod
    def _render_checks(t: Expect, variables: Mapping[str, Any]) -> tuple[Check, ...]:
        rendered = Expect.model_construct(
            status=t.status,
            json_fields=tuple(
                a.model_copy(
                    update={"equals": render_value(a.equals, variables)}
                    if a.matches is None
                    else {"matches": render_regex(a.matches.pattern, variables)}
                )
                for a in t.json_fields
            ),
            body_regex=render_regex(t.body_regex.pattern, variables) if t.body_regex else None,
            body_not_regex=(
                render_regex(t.body_not_regex.pattern, variables) if t.body_not_regex else None
            ),
            max_body_bytes=t.max_body_bytes,
        )
        return compile_checks(rendered)

    def _capture(self, ex: Exchange, variables: dict[str, Any]) -> str:
        doc: Any = MISSING
        for var, spec in self.captures.items():
            if spec.json_path is not None:
                if doc is MISSING:
                    try:
                        doc = json.loads(ex.body)
                    except (ValueError, RecursionError):
                        return f"capture {var}: body is not valid JSON"
                value = lookup(doc, parse_path(spec.json_path))
                if value is MISSING:
                    return f"capture {var}: json {spec.json_path} missing"
            elif spec.header is not None:
                value = (ex.headers or {}).get(spec.header)
                if value is None:
                    return f"capture {var}: header {spec.header} missing"
            else:
                assert spec.regex is not None
                value = spec.regex.capture(ex.body.decode("utf-8", errors="replace"))
                if value is None:
                    return f"capture {var}: no match for /{spec.regex.pattern}/"
            variables[var] = value
        return ""


def _split_expect(expect: Expect) -> tuple[Expect, Expect]:
    """(checks with no variables, checks with variables) of one step's expectations."""

    def templated(a: JSONAssertion) -> bool:
        return bool(references(a.equals) or (a.matches is not None and references(a.matches)))

    def has_vars(p: Regex | None) -> bool:
        return p is not None and bool(references(p))

    static = expect.model_copy(
        update={
            "json_fields": tuple(a for a in expect.json_fields if not templated(a)),
            "body_regex": None if has_vars(expect.body_regex) else expect.body_regex,
            "body_not_regex": None if has_vars(expect.body_not_regex) else expect.body_not_regex,
        }
    )
    dynamic = expect.model_copy(
        update={
            "json_fields": tuple(a for a in expect.json_fields if templated(a)),
            "body_regex": expect.body_regex if has_vars(expect.body_regex) else None,
            "body_not_regex": expect.body_not_regex if has_vars(expect.body_not_regex) else None,
        }
    )
    return static, dynamic


class ScenarioProbe:
    """Runs the steps of a scenario in order; cleanup steps run even after a failure."""

    span_kind = SpanKind.INTERNAL

    def __init__(self, probe: ScenarioConfig, config: Config, sessions: SessionPool) -> None:
        self.config = probe
        self.name = probe.name
        self.target = probe.target_label
        self.timeout = config.timeout(probe)
        self.interval = config.interval(probe)
        self.span_name = f"scenario {probe.name}"
        self.span_attributes: dict[str, str | int] = {
            "prober.target": self.target,
            "prober.kind": "scenario",
        }
        self._region = config.region
        self._sessions = sessions
        self._redact = config.redactor
        self._id_header = config.agent.request_id_header
        self._builtin = config.agent.http_client == "builtin"
        self._steps = [_Step(s, config) for s in probe.steps]
        self._ssl: ssl.SSLContext | bool = ssl_context(probe.tls)
        self._server_hostname = probe.tls.server_name
        self.step_names = tuple(s.name for s in self._steps)
        # Captured values that later steps send in headers are credentials for this run:
        # kept out of errors (and so out of logs, results and spans) like configured secrets.
        self._secret_vars = frozenset().union(*(s.header_refs for s in self._steps)) & {
            var for s in self._steps for var in s.captures
        }

    async def run(self, ctx: RunContext) -> ProbeResult:
        variables = builtins(ctx.run_id, self._region, self.name)
        results: list[StepResult] = []
        failed: StepResult | None = None
        expiry: float | None = None
        start = perf()
        deadline = start + self.timeout
        end: float | None = None  # when the last step that is not always_run ended
        for step in self._steps:
            if failed is not None and not step.always_run:
                continue
            remaining = deadline - perf()
            limit = max(remaining, step.timeout or 0.0) if step.always_run else remaining
            if limit <= 0:
                result = StepResult(step.name, Outcome.TIMEOUT, 0.0, None, "no time left")
            else:
                result, step_expiry = await self._step(step, variables, ctx, limit)
                expiry = expiry or step_expiry
            if not step.always_run:
                end = perf()
            results.append(result)
            if failed is None and result.outcome is not Outcome.SUCCESS:
                failed = result
        # Cleanup (always_run steps after the last other step) has its own timeout, past
        # the run's: it is timed as its own step, not in the run's duration, which the
        # run's timeout therefore bounds.
        return ProbeResult(
            probe=self.name,
            target=self.target,
            outcome=failed.outcome if failed else Outcome.SUCCESS,
            duration=(end if end is not None else perf()) - start,
            code=failed.code if failed else (results[-1].code if results else None),
            error=f"step {failed.name}: {failed.error}" if failed else "",
            tls_expiry=expiry,
            run_id=ctx.run_id,
            wall_start=ctx.wall_start,
            lag=ctx.lag,
            step=failed.name if failed else "",
            steps=tuple(results),
        )

    async def _step(
        self,
        step: _Step,
        variables: dict[str, Any],
        ctx: RunContext,
        limit: float,
    ) -> tuple[StepResult, float | None]:
        url, headers, body = step.request(variables)
        headers[self._id_header] = ctx.run_id
        span = None
        if ctx.step_tracer is not None:
            span, trace_headers = ctx.step_tracer.start(step.name, step.span_attributes)
            headers.update(trace_headers)
        ex = await send(
            self._sessions,
            self.config.connection,
            step.method,
            url,
            headers=headers,
            body=body,
            builtin=self._builtin,
            ssl=self._ssl if url.scheme == "https" else True,
            server_hostname=self._server_hostname,
            limit=limit,
            max_body=step._expect.max_body_bytes,
            name=self.name,
        )
        outcome, error = (ex.outcome, ex.error) if ex.outcome else step.judge(ex, variables)
        if error:
            error = scrub(self._redact(error), step.secrets_of(url))
            for var in self._secret_vars:  # e.g. a token captured at login, sent as a header
                value = str(variables.get(var, ""))
                if len(value) >= MIN_SECRET and value in error:
                    error = error.replace(value, REDACTED)
            error = one_line(error)
        if span is not None and ctx.step_tracer is not None:
            ctx.step_tracer.finish(span, outcome, ex.code, error)
        return StepResult(step.name, outcome, ex.duration, ex.code, error), ex.cert_expiry

# ruff: noqa: E501, RET504
"""A generated corpus of hostile prober configs (issue 17), built from README/SECURITY only.

Each :class:`Case` is data: a config text (or bytes, or a factory for very large inputs),
extra files, environment variables and a regex for what the error must name (the field,
or the word that says what is wrong). Placeholders filled in by the test harness:

* ``@DIR@``: a per-case temporary directory holding ``Case.files``;
* ``@URL@``: the base URL of a local aiohttp server (accepted cases only).

Every case plants :data:`SECRET` (through ``${SECRET}`` in an ``Authorization`` header, URL
userinfo, a secret query parameter or a ``${file:}`` secret), and no output may contain it.

``INVALID`` must be rejected (exit 2, one bounded line per problem naming file and field),
``ACCEPTED`` are valid per the README and must pass ``check`` and run under ``once -n 1``,
``TOLERATED`` may be either accepted or rejected, but never with a traceback or a leak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field

SECRET = "s3cr3t-PLANTED-xyz"
SECRET_PASS = "PLANTEDPASS-9f3e"

ENV: Mapping[str, str] = {
    "SECRET": SECRET,
    "SECRET_NL": SECRET + "\r\nX-Evil: 1",
    "SECRET_PASS": SECRET_PASS,
    "EMPTY": "",
}

Text = str | bytes | Callable[[], bytes]


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    text: Text
    field: str  # regex (case-insensitive) the error output must match
    files: Mapping[str, Text] = dc_field(default_factory=dict)
    env: Mapping[str, str] = dc_field(default_factory=dict)
    kind: str = "file"  # file | dir | missing | devzero | urandom | fifo | unreadable
    resource: bool = False  # run in a subprocess under RLIMIT_AS
    lines: tuple[int, ...] = ()  # line numbers the error must name (duplicate keys)
    subset: bool = False  # also run through `once` and `run`


PRE = "agent:\n  listen: 127.0.0.1:0\ndefaults: {interval: 1s, timeout: 500ms}\n"
AUTH = '    headers: {Authorization: "Bearer ${SECRET}"}\n'
DEAD = "http://127.0.0.1:9/x"


def probe(extra: str = "", name: str = "p1", url: str = DEAD, auth: bool = True) -> str:
    """One probe list item; ``extra`` is YAML indented by four spaces."""
    out = f"  - name: {name}\n    url: {url}\n"
    if auth:
        out += AUTH
    return out + extra


def cfg(*probes: str, head: str = PRE) -> str:
    return head + "probes:\n" + "".join(probes or (probe(),))


def with_slo(slo: str, *probes: str) -> str:
    return PRE + "slos:\n" + slo + "probes:\n" + "".join(probes)


GOOD_SLO = (
    "  - name: s1\n    period: 30d\n    availability: {objective: 99.9}\n"
    "    latency: {objective: 95, threshold: 200ms}\n"
)


def scenario(steps: str, name: str = "sc") -> str:
    return f"  - name: {name}\n    kind: scenario\n    steps:\n{steps}"


def step(name: str, url: str = DEAD, extra: str = "") -> str:
    return (
        f"      - name: {name}\n        url: {url}\n"
        '        headers: {Authorization: "Bearer ${SECRET}"}\n' + extra
    )


def _big(prefix: str, unit: str, count: int, suffix: str) -> Callable[[], bytes]:
    def make() -> bytes:
        return (prefix + unit * count + suffix).encode()

    return make


def _alias_bomb() -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return ("\n".join(lines) + "\n" + cfg()).encode()


def _deep(depth: int) -> Callable[[], bytes]:
    def make() -> bytes:
        return (cfg(probe("    body: " + "[" * depth + "]" * depth + "\n"))).encode()

    return make


def _many_probes(n: int) -> Callable[[], bytes]:
    def make() -> bytes:
        parts = [PRE, "probes:\n"]
        parts += [f"  - {{name: p{i}, url: '{DEAD}'}}\n" for i in range(n)]
        return "".join(parts).encode()

    return make


def _many_steps(n: int) -> Callable[[], bytes]:
    def make() -> bytes:
        steps = "".join(f"      - {{name: s{i}, url: '{DEAD}'}}\n" for i in range(n))
        return cfg(scenario(steps)).encode()

    return make


def _big_file(size: int) -> Callable[[], bytes]:
    def make() -> bytes:
        return b"A" * size

    return make


def _types() -> list[Case]:
    c = "types"
    out = [
        Case("probes-is-string", c, PRE + "probes: nope\n", "probes"),
        Case("probes-is-mapping", c, PRE + "probes: {a: 1}\n", "probes"),
        Case("probes-item-is-list", c, PRE + "probes:\n  - [a, b]\n", r"probes\[0\]"),
        Case("probes-item-is-int", c, PRE + "probes:\n  - 5\n", r"probes\[0\]"),
        Case("name-is-list", c, cfg(probe(name="[a, b]")), "name"),
        Case("name-is-mapping", c, cfg(probe(name="{x: y}")), "name"),
        Case("url-is-int", c, cfg(probe(url="123")), "url"),
        Case("url-is-list", c, cfg(probe(url="[http://a/]")), "url"),
        Case("url-is-null", c, cfg(probe(url="null")), "url"),
        Case(
            "headers-is-list", c, cfg(probe(auth=False, extra="    headers: [a, b]\n")), "headers"
        ),
        Case(
            "header-value-mapping",
            c,
            cfg(probe(auth=False, extra="    headers: {X-A: {b: c}, X-T: '${SECRET}'}\n")),
            "X-A",
        ),
        Case("interval-is-bool", c, cfg(probe("    interval: true\n")), "interval"),
        Case("interval-is-list", c, cfg(probe("    interval: [1s]\n")), "interval"),
        Case("timeout-is-mapping", c, cfg(probe("    timeout: {a: 1}\n")), "timeout"),
        Case("expect-is-string", c, cfg(probe("    expect: yes\n")), "expect"),
        Case("status-word", c, cfg(probe("    expect: {status: [abc]}\n")), "status"),
        Case("status-99", c, cfg(probe("    expect: {status: [99]}\n")), "status"),
        Case("status-1000", c, cfg(probe("    expect: {status: [1000]}\n")), "status"),
        Case("status-negative", c, cfg(probe("    expect: {status: [-200]}\n")), "status"),
        Case("status-bool", c, cfg(probe("    expect: {status: [true]}\n")), "status"),
        Case(
            "status-reversed-range", c, cfg(probe("    expect: {status: ['500-200']}\n")), "status"
        ),
        Case("status-2xy", c, cfg(probe("    expect: {status: ['2xy']}\n")), "status"),
        Case("status-float", c, cfg(probe("    expect: {status: [200.5]}\n")), "status"),
        Case("status-empty-list", c, cfg(probe("    expect: {status: []}\n")), "status"),
        Case("method-unknown", c, cfg(probe("    method: FETCH\n")), "method"),
        Case("method-int", c, cfg(probe("    method: 123\n")), "method"),
        Case("method-with-space", c, cfg(probe("    method: 'GET /evil'\n")), "method"),
        Case("json-assert-mapping", c, cfg(probe("    expect: {json: {path: a}}\n")), "json"),
        Case("json-assert-no-path", c, cfg(probe("    expect: {json: [{equals: 1}]}\n")), "path"),
        Case(
            "json-assert-bad-path",
            c,
            cfg(probe("    expect: {json: [{path: 'a[[0', exists: true}]}\n")),
            "path",
        ),
        Case(
            "json-assert-no-check",
            c,
            cfg(probe("    expect: {json: [{path: a}]}\n")),
            r"json|path",
        ),
        Case("connection-unknown", c, cfg(probe("    connection: sometimes\n")), "connection"),
        Case("tls-verify-word", c, cfg(probe("    tls: {verify: maybe}\n")), "verify"),
        Case("tls-is-string", c, cfg(probe("    tls: on\n")), "tls"),
        Case("slo-is-int", c, cfg(probe("    slo: 42\n")), "slo"),
        Case("kind-unknown", c, cfg(probe("    kind: grpc\n")), "kind"),
        Case("body-and-json", c, cfg(probe("    body: x\n    json: {a: 1}\n")), r"body|json"),
        Case("json-body-secret-and-bad-body", c, cfg(probe("    body: [1, 2]\n")), "body"),
        Case("agent-is-list", c, "agent: [a]\n" + "probes:\n" + probe(), "agent"),
        Case("defaults-is-string", c, "defaults: fast\nprobes:\n" + probe(), "defaults"),
        Case("slos-is-mapping", c, PRE + "slos: {a: 1}\nprobes:\n" + probe(), "slos"),
        Case("top-level-list", c, "- " + DEAD + "\n", r"top|mapping|document|config"),
        Case("top-level-scalar", c, "just a string\n", r"top|mapping|document|config"),
        Case("top-level-int", c, "42\n", r"top|mapping|document|config"),
        Case("no-probes", c, PRE, "probes"),
        Case("probes-empty-list", c, PRE + "probes: []\n", "probes"),
        Case("probes-null", c, PRE + "probes:\n", "probes"),
    ]
    return out


def _ranges() -> list[Case]:
    c = "ranges"
    nines = "9" * 400
    out = [
        Case("interval-zero", c, cfg(probe("    interval: 0s\n")), "interval"),
        Case("interval-negative", c, cfg(probe("    interval: -1s\n")), "interval"),
        Case("timeout-zero", c, cfg(probe("    timeout: 0ms\n")), "timeout"),
        Case(
            "timeout-equals-interval",
            c,
            cfg(probe("    interval: 1s\n    timeout: 1s\n")),
            "timeout",
        ),
        Case(
            "timeout-above-interval",
            c,
            cfg(probe("    interval: 1s\n    timeout: 2s\n")),
            "timeout",
        ),
        Case(
            "interval-400-nines",
            c,
            cfg(probe(f"    interval: {nines}s\n")),
            "interval",
            subset=True,
        ),
        Case("timeout-400-nines", c, cfg(probe(f"    timeout: {nines}ms\n")), "timeout"),
        Case("interval-inf", c, cfg(probe("    interval: inf\n")), "interval", subset=True),
        Case("interval-inf-s", c, cfg(probe("    interval: infs\n")), "interval"),
        Case("interval-nan", c, cfg(probe("    interval: .nan\n")), "interval"),
        Case("interval-nan-s", c, cfg(probe("    interval: nans\n")), "interval"),
        Case("interval-1e400s", c, cfg(probe("    interval: 1e400s\n")), "interval"),
        Case("interval-yaml-inf", c, cfg(probe("    interval: .inf\n")), "interval"),
        Case("timeout-minus-inf", c, cfg(probe("    timeout: -.inf\n")), "timeout"),
        Case("interval-empty", c, cfg(probe("    interval: ''\n")), "interval"),
        Case("interval-double-dot", c, cfg(probe("    interval: 1.5.5s\n")), "interval"),
        Case("interval-unicode-minus", c, cfg(probe("    interval: \u22125s\n")), "interval"),
        Case(
            "interval-huge-weeks", c, cfg(probe("    interval: 99999999999999999w\n")), "interval"
        ),
        Case(
            "defaults-timeout-nines",
            c,
            PRE.replace("500ms", nines + "s") + "probes:\n" + probe(),
            "timeout",
        ),
        Case(
            "max-body-negative",
            c,
            cfg(probe("    expect: {max_body_bytes: -1}\n")),
            "max_body_bytes",
        ),
        Case(
            "max-body-1e400kib",
            c,
            cfg(probe("    expect: {max_body_bytes: 1e400KiB}\n")),
            "max_body_bytes",
            subset=True,
        ),
        Case(
            "max-body-nan", c, cfg(probe("    expect: {max_body_bytes: .nan}\n")), "max_body_bytes"
        ),
        Case(
            "max-body-unit", c, cfg(probe("    expect: {max_body_bytes: 10XB}\n")), "max_body_bytes"
        ),
        Case(
            "max-body-inf", c, cfg(probe("    expect: {max_body_bytes: .inf}\n")), "max_body_bytes"
        ),
        Case(
            "max-body-400-digits",
            c,
            cfg(probe(f"    expect: {{max_body_bytes: {nines}}}\n")),
            "max_body_bytes",
        ),
        Case(
            "max-concurrency-zero",
            c,
            "agent: {listen: '127.0.0.1:0', max_concurrency: 0}\nprobes:\n" + probe(),
            "max_concurrency",
        ),
        Case(
            "max-concurrency-negative",
            c,
            "agent: {max_concurrency: -5}\nprobes:\n" + probe(),
            "max_concurrency",
        ),
        Case(
            "max-concurrency-word",
            c,
            "agent: {max_concurrency: many}\nprobes:\n" + probe(),
            "max_concurrency",
        ),
        Case(
            "max-concurrency-huge",
            c,
            f"agent: {{max_concurrency: {nines}}}\nprobes:\n" + probe(),
            "max_concurrency",
        ),
        Case(
            "http-client-unknown",
            c,
            "agent: {http_client: curl}\nprobes:\n" + probe(),
            "http_client",
        ),
        Case(
            "slo-objective-over-100",
            c,
            with_slo(GOOD_SLO.replace("99.9", "100.1"), probe("    slo: s1\n")),
            "objective",
        ),
        Case(
            "slo-objective-zero",
            c,
            with_slo(GOOD_SLO.replace("99.9", "0"), probe("    slo: s1\n")),
            "objective",
        ),
        Case(
            "slo-objective-nan",
            c,
            with_slo(GOOD_SLO.replace("99.9", ".nan"), probe("    slo: s1\n")),
            "objective",
        ),
        Case(
            "slo-objective-huge",
            c,
            with_slo(GOOD_SLO.replace("99.9", "1e400"), probe("    slo: s1\n")),
            "objective",
        ),
        Case(
            "slo-latency-objective-150",
            c,
            with_slo(GOOD_SLO.replace("95,", "150,"), probe("    slo: s1\n")),
            "objective",
        ),
        Case(
            "slo-threshold-zero",
            c,
            with_slo(GOOD_SLO.replace("200ms", "0ms"), probe("    slo: s1\n")),
            "threshold",
        ),
        Case(
            "slo-period-zero",
            c,
            with_slo(GOOD_SLO.replace("30d", "0d"), probe("    slo: s1\n")),
            "period",
        ),
        Case(
            "slo-period-inf",
            c,
            with_slo(GOOD_SLO.replace("30d", "inf"), probe("    slo: s1\n")),
            "period",
        ),
        Case(
            "slo-bad-outcome",
            c,
            with_slo(GOOD_SLO + "    bad_outcomes: [meltdown]\n", probe("    slo: s1\n")),
            "bad_outcomes|meltdown",
        ),
        Case(
            "tracing-ratio-2",
            c,
            "tracing: {enabled: true, endpoint: 'http://127.0.0.1:9', sample_ratio: 2}\n" + cfg(),
            "sample_ratio",
        ),
        Case(
            "tracing-ratio-nan",
            c,
            "tracing: {enabled: true, endpoint: 'http://127.0.0.1:9', sample_ratio: .nan}\n"
            + cfg(),
            "sample_ratio",
        ),
        Case(
            "tracing-protocol",
            c,
            f"tracing: {{enabled: true, endpoint: 'http://u:{SECRET_PASS}@127.0.0.1:9', protocol: thrift}}\n"
            + cfg(),
            "protocol",
            subset=True,
        ),
        Case(
            "tracing-endpoint-bad",
            c,
            f"tracing: {{enabled: true, endpoint: 'ftp://u:{SECRET_PASS}@127.0.0.1:9'}}\n" + cfg(),
            "endpoint",
        ),
        Case("listen-bad", c, "agent: {listen: nope}\nprobes:\n" + probe(), "listen"),
        Case(
            "listen-port-99999",
            c,
            "agent: {listen: '127.0.0.1:99999'}\nprobes:\n" + probe(),
            "listen",
        ),
    ]
    return out


def _sizes() -> list[Case]:
    c = "sizes"
    big_name = _big(PRE + "probes:\n  - name: ", "n", 50_000_000, f"\n    url: {DEAD}\n" + AUTH)
    return [
        # 50 MB is over the 16 MiB file bound: refused for its size before any name is read.
        Case("name-50mb", c, big_name, r"name|larger|MiB", resource=True, subset=True),
        Case(
            "name-10mb",
            c,
            _big(PRE + "probes:\n  - name: ", "n", 10_000_000, f"\n    url: {DEAD}\n" + AUTH),
            "name",
            resource=True,
        ),
        Case("name-100kb", c, cfg(probe(name="n" * 100_000)), "name"),
        Case(
            "url-100kb-path",
            c,
            cfg(probe(url="http://127.0.0.1:9/" + "p" * 100_000 + "?token=${SECRET}")),
            "url",
        ),
        Case(
            "region-10kb", c, "agent: {region: " + "r" * 10_000 + "}\nprobes:\n" + probe(), "region"
        ),
        Case(
            "label-value-10kb",
            c,
            "agent: {labels: {team: " + "t" * 10_000 + "}}\nprobes:\n" + probe(),
            "labels|team",
        ),
        Case(
            "label-value-multiline",
            c,
            'agent: {labels: {team: "a\\nb"}}\nprobes:\n' + probe(),
            "labels|team",
        ),
        Case(
            "labels-too-many",
            c,
            "agent:\n  labels:\n"
            + "".join(f"    l{i}: v\n" for i in range(500))
            + "probes:\n"
            + probe(),
            "labels",
        ),
        Case(
            "label-name-hyphen",
            c,
            "agent: {labels: {bad-name: x}}\nprobes:\n" + probe(),
            "labels|bad-name",
        ),
        Case(
            "label-name-reserved",
            c,
            "agent: {labels: {__name__: x}}\nprobes:\n" + probe(),
            "labels|__name__",
        ),
        Case("name-multiline", c, cfg(probe(name='"a\\nb"')), "name"),
        Case("name-empty", c, cfg(probe(name="''")), "name"),
        Case("name-control-char", c, cfg(probe(name='"a\\x1bb"')), "name"),
        Case("target-multiline", c, cfg(probe('    target: "a\\nb"\n')), "target"),
        Case("target-10kb", c, cfg(probe("    target: " + "t" * 10_000 + "\n")), "target"),
        Case("probes-10001", c, _many_probes(10_001), "probes", resource=True),
        Case("steps-10000", c, _many_steps(10_000), "steps", resource=True),
        Case(
            "config-60mb-comment",
            c,
            _big("# ", "x", 60_000_000, "\n" + cfg()),
            r"size|large|big|bytes|MiB|MB",
            resource=True,
        ),
        Case("step-name-multiline", c, cfg(scenario(step('"a\\nb"'))), "name|steps"),
    ]


def _encodings() -> list[Case]:
    c = "encodings"
    base = cfg()
    return [
        Case(
            "nul-byte",
            c,
            base.replace("probes:", "probes:\x00").encode(),
            r"line \d+|NUL|character",
        ),
        Case("control-char-bel", c, base.replace("name: p1", "name: p\x071"), r"line \d+"),
        Case("control-char-esc", c, base.replace("name: p1", "name: p\x1b[31m1"), r"line \d+"),
        Case(
            "invalid-utf8", c, base.encode().replace(b"p1", b"p\xff\xfe1"), r"utf-?8|encoding|byte"
        ),
        Case(
            "latin1-e-acute",
            c,
            base.replace("name: p1", "name: caf\xe9").encode("latin-1"),
            r"utf-?8|encoding|byte",
        ),
        Case("utf16-no-bom", c, base.encode("utf-16-le"), r"utf|encoding|byte|line"),
        Case("tab-indent", c, base.replace("    url:", "\turl:"), r"line \d+"),
        Case("lone-surrogate-escape", c, cfg(probe(name='"\\ud800"')), "name"),
        Case("bidi-override-name", c, cfg(probe(name='"a\\u202eb"')), "name"),
        Case(
            "zero-width-header-name",
            c,
            cfg(probe(auth=False, extra='    headers: {"X-\\u200bA": "${SECRET}"}\n')),
            "header|X-",
        ),
    ]


def _yaml() -> list[Case]:
    c = "yaml"
    dup_top = PRE + "probes:\n" + probe(name="first") + "probes:\n" + probe(name="second")
    dup_top_line2 = dup_top.count("\n", 0, dup_top.rindex("probes:")) + 1
    dup_top_line1 = dup_top.count("\n", 0, dup_top.index("probes:")) + 1
    dup_url = cfg(probe("    url: http://127.0.0.1:9/other\n"))
    dup_hdr = cfg(
        probe(
            auth=False,
            extra='    headers:\n      Authorization: "Bearer ${SECRET}"\n      Authorization: "Basic ${SECRET}"\n',
        )
    )
    dup_agent = "agent:\n  region: a\n  region: b\n" + "probes:\n" + probe()
    dup_expect = cfg(probe("    expect:\n      status: [200]\n      status: [500]\n"))
    dup_slo = with_slo(
        GOOD_SLO.replace("    period: 30d\n", "    period: 30d\n    period: 7d\n"),
        probe("    slo: s1\n"),
    )
    dup_step = cfg(scenario(step("s1", extra="        method: GET\n        method: PUT\n")))

    def line_of(text: str, needle: str, nth: int) -> int:
        pos = -1
        for _ in range(nth):
            pos = text.index(needle, pos + 1)
        return text.count("\n", 0, pos) + 1

    return [
        Case(
            "alias-bomb-9-levels", c, _alias_bomb, r"alias|anchor|expan", resource=True, subset=True
        ),
        Case(
            "self-ref-alias",
            c,
            cfg(probe("    body: &loop [*loop]\n")),
            r"alias|anchor|recurs|body",
            resource=True,
        ),
        Case(
            "self-ref-alias-mapping",
            c,
            "x: &m {a: *m}\n" + cfg(),
            r"alias|anchor|recurs|x",
            resource=True,
        ),
        Case("deep-nesting-500", c, _deep(500), r"depth|deep|nest", resource=True, subset=True),
        Case("deep-nesting-100000", c, _deep(100_000), r"depth|deep|nest", resource=True),
        Case(
            "deep-mapping-500",
            c,
            _big(cfg() + "x: ", "{a: ", 500, "1" + "}" * 500 + "\n"),
            r"depth|deep|nest",
            resource=True,
        ),
        Case(
            "python-object-apply",
            c,
            cfg(probe("    body: !!python/object/apply:os.system ['echo pwned']\n")),
            r"tag|python|line \d+",
        ),
        Case(
            "python-name",
            c,
            cfg(probe("    body: !!python/name:os.system ''\n")),
            r"tag|python|line \d+",
        ),
        Case("custom-tag", c, cfg(probe("    body: !secret foo\n")), r"tag|secret|line \d+"),
        Case(
            "binary-tag-header",
            c,
            cfg(probe(auth=False, extra="    headers: {X-B: !!binary AAEC}\n")),
            r"X-B|tag|binary",
        ),
        Case("set-tag", c, cfg(probe("    expect: {status: !!set {200: null}}\n")), "status"),
        Case("timestamp-as-name", c, cfg(probe(name="2024-01-01")), "name"),
        Case("multi-document", c, cfg() + "---\n" + cfg(probe(name="p2")), r"document"),
        Case("empty-file", c, "", r"empty|probes"),
        Case("only-comments", c, "# nothing here\n# at all\n", r"empty|probes"),
        Case("null-document", c, "~\n", r"empty|probes|mapping"),
        Case("unclosed-flow", c, cfg(probe("    headers: {a: b\n")), r"line \d+"),
        Case("bad-indent", c, PRE + "probes:\n  - name: p1\n     url: x\n", r"line \d+"),
        Case("undefined-alias", c, cfg(probe("    body: *nope\n")), r"alias|line \d+"),
        Case("merge-key-nonmapping", c, cfg(probe("    <<: 5\n")), r"merge|line \d+|<<"),
        Case(
            "dup-top-probes",
            c,
            dup_top,
            "probes",
            lines=(dup_top_line1, dup_top_line2),
            subset=True,
        ),
        Case(
            "dup-probe-url",
            c,
            dup_url,
            "url",
            lines=(line_of(dup_url, "url:", 1), line_of(dup_url, "url:", 2)),
        ),
        Case(
            "dup-header",
            c,
            dup_hdr,
            "Authorization",
            lines=(line_of(dup_hdr, "Authorization", 1), line_of(dup_hdr, "Authorization", 2)),
        ),
        Case("dup-agent-region", c, dup_agent, "region", lines=(2, 3)),
        Case(
            "dup-expect-status",
            c,
            dup_expect,
            "status",
            lines=(line_of(dup_expect, "status:", 1), line_of(dup_expect, "status:", 2)),
        ),
        Case(
            "dup-slo-period",
            c,
            dup_slo,
            "period",
            lines=(line_of(dup_slo, "period:", 1), line_of(dup_slo, "period:", 2)),
        ),
        Case(
            "dup-step-method",
            c,
            dup_step,
            "method",
            lines=(line_of(dup_step, "method:", 1), line_of(dup_step, "method:", 2)),
        ),
        Case(
            "dup-key-via-merge-anchor-and-literal",
            c,
            "defaults: &d {interval: 1s, timeout: 500ms}\ndefaults: *d\nprobes:\n" + probe(),
            "defaults",
            lines=(1, 2),
        ),
        Case("complex-key", c, cfg(probe("    headers: {? [a, b] : c}\n")), r"headers|key"),
        Case("null-key", c, cfg(probe("    ~: 1\n")), r"null|key|None|field|unknown"),
    ]


def _urls() -> list[Case]:
    c = "urls"
    return [
        Case("ipv6-invalid", c, cfg(probe(url="'http://[::g]:80/x'")), "url", subset=True),
        Case("host-with-space", c, cfg(probe(url="'http://ex ample.com/x'")), "url", subset=True),
        Case("port-zero", c, cfg(probe(url="http://127.0.0.1:0/x")), "url"),
        Case("port-65536", c, cfg(probe(url="http://127.0.0.1:65536/x")), "url"),
        Case("port-negative", c, cfg(probe(url="'http://127.0.0.1:-1/x'")), "url"),
        Case("port-letters", c, cfg(probe(url="http://127.0.0.1:http/x")), "url"),
        Case("double-port", c, cfg(probe(url="http://127.0.0.1:80:80/x")), "url"),
        Case("scheme-ftp", c, cfg(probe(url="ftp://127.0.0.1/x")), "url"),
        Case("scheme-file", c, cfg(probe(url="file:///etc/passwd")), "url"),
        Case("scheme-javascript", c, cfg(probe(url="'javascript:alert(1)'")), "url"),
        Case("no-host", c, cfg(probe(url="http:///x")), "url"),
        Case("relative", c, cfg(probe(url="/x")), "url"),
        Case("empty-url", c, cfg(probe(url="''")), "url"),
        Case("url-crlf", c, cfg(probe(url='"http://127.0.0.1:9/x\\r\\nX-Injected: 1"')), "url"),
        Case("url-nul", c, cfg(probe(url='"http://127.0.0.1:9/x\\0y"')), "url"),
        Case("url-space-in-path", c, cfg(probe(url="'http://127.0.0.1:9/a b'")), "url"),
        Case("ipv6-unbracketed", c, cfg(probe(url="'http://::1/x'")), "url"),
        Case(
            "userinfo-secret-bad-port",
            c,
            cfg(probe(url="'http://user:${SECRET}@127.0.0.1:99999/x'")),
            "url",
        ),
        Case(
            "userinfo-literal-bad-host",
            c,
            cfg(probe(url=f"'http://user:{SECRET}@bad host/x'")),
            "url",
        ),
        Case(
            "userinfo-secret-bad-scheme",
            c,
            cfg(probe(url="'gopher://admin:${SECRET}@127.0.0.1/x'")),
            "url",
        ),
        Case(
            "token-query-bad-port",
            c,
            cfg(probe(url="'http://127.0.0.1:70000/x?token=${SECRET}'")),
            "url",
            subset=True,
        ),
        Case(
            "api-key-query-bad-host",
            c,
            cfg(probe(url=f"'http://[::zz]/x?api_key={SECRET}'")),
            "url",
        ),
        Case(
            "password-query-bad-scheme",
            c,
            cfg(probe(url="'smtp://127.0.0.1/x?password=${SECRET}'")),
            "url",
        ),
        Case(
            "step-url-token-bad-port",
            c,
            cfg(scenario(step("s1", url="'http://127.0.0.1:99999/x?token=${SECRET}'"))),
            "url",
        ),
        Case("step-url-bad-ipv6", c, cfg(scenario(step("s1", url="'http://[::g]/x'"))), "url"),
        Case("url-from-unset-env", c, cfg(probe(url="${NOPE_UNSET_URL}/x")), r"NOPE_UNSET_URL|url"),
        Case("url-host-only-dots", c, cfg(probe(url="http://../x")), "url"),
    ]


def _headers() -> list[Case]:
    c = "headers"

    def h(hdrs: str) -> str:
        return cfg(probe(auth=False, extra="    headers:\n" + hdrs))

    big = "@DIR@/big.txt"
    return [
        Case("header-name-space", c, h('      "X Bad": "${SECRET}"\n'), "header|X Bad"),
        Case("header-name-colon", c, h('      "X:Bad": "${SECRET}"\n'), "header|X:Bad"),
        Case("header-name-crlf", c, h('      "X-A\\r\\nX-Evil": "${SECRET}"\n'), "header"),
        Case("header-name-empty", c, h('      "": "${SECRET}"\n'), "header"),
        Case("header-name-nonascii", c, h('      "X-\u00dc": "${SECRET}"\n'), "header|X-"),
        Case("header-value-crlf-literal", c, h(f'      X-A: "{SECRET}\\r\\nX-Evil: 1"\n'), "X-A"),
        Case("header-value-crlf-env", c, h('      X-A: "${SECRET_NL}"\n'), "X-A", subset=True),
        Case("header-value-lf-only", c, h(f'      X-A: "{SECRET}\\nX-Evil: 1"\n'), "X-A"),
        Case("header-value-nul", c, h(f'      X-A: "{SECRET}\\0"\n'), "X-A"),
        Case("header-value-emoji", c, h('      X-A: "${SECRET}\U0001f600"\n'), "X-A"),
        Case("header-value-int-list", c, h("      X-A: [1, 2]\n"), "X-A"),
        Case(
            "header-file-50mb",
            c,
            h("      X-A: '${file:" + big + "}'\n"),
            r"X-A|file|large|size",
            files={"big.txt": _big_file(50_000_000)},
            resource=True,
        ),
        Case(
            "header-file-2mb",
            c,
            h("      X-A: '${file:" + big + "}'\n"),
            r"X-A|file|large|size",
            files={"big.txt": _big_file(2_000_000)},
        ),
        Case(
            "header-file-binary",
            c,
            h("      X-A: 'Bearer ${file:@DIR@/bin}'\n"),
            r"X-A|file",
            files={"bin": SECRET.encode() + b"\x00\xff\xfe\x01"},
        ),
        Case(
            "header-file-crlf",
            c,
            h("      X-A: 'Bearer ${file:@DIR@/tok}'\n"),
            r"X-A|file",
            files={"tok": SECRET.encode() + b"\r\nX-Evil: 1\r\n"},
        ),
        Case(
            "request-id-header-bad",
            c,
            "agent: {request_id_header: 'X Bad:'}\nprobes:\n" + probe(),
            "request_id_header",
        ),
        Case("header-name-100kb", c, h("      X-" + "a" * 100_000 + ": '${SECRET}'\n"), "header"),
        Case(
            "headers-10000",
            c,
            h("".join(f"      X-{i}: '${{SECRET}}'\n" for i in range(10_000))),
            r"headers|too many",
        ),
    ]


def _regexes() -> list[Case]:
    c = "regexes"

    def e(expect: str) -> str:
        return cfg(probe("    expect:\n" + expect))

    return [
        Case("regex-unbalanced", c, e("      body_regex: '('\n"), "body_regex"),
        Case("regex-bad-class", c, e("      body_regex: '[a-'\n"), "body_regex"),
        Case("regex-backref", c, e("      body_regex: '(a)\\1'\n"), "body_regex", subset=True),
        Case("regex-lookahead", c, e("      body_regex: '(?=x)y'\n"), "body_regex"),
        Case("regex-neg-lookahead", c, e("      body_not_regex: 'a(?!b)'\n"), "body_not_regex"),
        Case("regex-lookbehind", c, e("      body_regex: '(?<=x)y'\n"), "body_regex"),
        Case("regex-neg-lookbehind", c, e("      body_not_regex: '(?<!x)y'\n"), "body_not_regex"),
        Case("regex-named-backref", c, e("      body_regex: '(?P<n>a)(?P=n)'\n"), "body_regex"),
        Case("regex-possessive", c, e("      body_regex: 'a++b'\n"), "body_regex"),
        Case("regex-atomic", c, e("      body_regex: '(?>a+)b'\n"), "body_regex"),
        Case("regex-conditional", c, e("      body_regex: '(a)?(?(1)b|c)'\n"), "body_regex"),
        Case("regex-body-not-backref", c, e("      body_not_regex: '(x)\\1'\n"), "body_not_regex"),
        Case(
            "regex-json-matches-lookaround",
            c,
            e("      json: [{path: a, matches: '(?=a)a'}]\n"),
            r"matches|json",
        ),
        Case(
            "regex-json-matches-invalid",
            c,
            e("      json: [{path: a, matches: '*a'}]\n"),
            r"matches|json",
        ),
        Case(
            "regex-capture-backref",
            c,
            cfg(
                scenario(
                    step("s1", extra="        capture: {v: {regex: '(a)\\1(b)'}}\n")
                    + step("s2", url=DEAD + "?v={{v}}")
                )
            ),
            r"regex|capture",
        ),
        Case(
            "regex-capture-invalid",
            c,
            cfg(
                scenario(
                    step("s1", extra="        capture: {v: {regex: '(unclosed'}}\n")
                    + step("s2", url=DEAD + "?v={{v}}")
                )
            ),
            r"regex|capture",
        ),
        Case("regex-is-list", c, e("      body_regex: [a, b]\n"), "body_regex"),
        Case("regex-1mb", c, e("      body_regex: '" + "a" * 1_000_000 + "'\n"), r"body_regex"),
    ]


def _references() -> list[Case]:
    c = "references"
    return [
        Case("unknown-slo", c, with_slo(GOOD_SLO, probe("    slo: nope\n")), r"slo|nope"),
        Case("slo-ref-no-slos", c, cfg(probe("    slo: s1\n")), r"slo|s1"),
        Case(
            "dup-probe-names",
            c,
            cfg(probe(name="same"), probe(name="same")),
            r"name|same|duplicate",
            subset=True,
        ),
        Case(
            "dup-probe-names-case-quoting",
            c,
            cfg(probe(name="same"), probe(name="'same'")),
            r"name|same|duplicate",
        ),
        Case(
            "dup-slo-names",
            c,
            with_slo(GOOD_SLO + GOOD_SLO, probe("    slo: s1\n")),
            r"name|s1|duplicate",
        ),
        Case("dup-step-names", c, cfg(scenario(step("s1") + step("s1"))), r"name|s1|duplicate"),
        Case("slo-empty-name-ref", c, with_slo(GOOD_SLO, probe("    slo: ''\n")), "slo"),
    ]


def _files() -> list[Case]:
    c = "file-refs"

    def h(ref: str) -> str:
        return cfg(
            probe(auth=False, extra="    headers: {X-A: 'Bearer " + ref + "', X-T: '${SECRET}'}\n")
        )

    return [
        Case("file-missing", c, h("${file:@DIR@/missing}"), r"X-A|file|missing"),
        Case("file-empty-path", c, h("${file:}"), r"X-A|file"),
        Case("file-is-dir", c, h("${file:@DIR@}"), r"X-A|file|directory"),
        Case(
            "file-dev-zero",
            c,
            h("${file:/dev/zero}"),
            r"X-A|file|large|size",
            resource=True,
            subset=True,
        ),
        Case(
            "file-dev-urandom", c, h("${file:/dev/urandom}"), r"X-A|file|large|size", resource=True
        ),
        Case("file-in-url-missing", c, cfg(probe(url="'${file:@DIR@/nope}/x'")), r"url|file"),
        Case("file-unterminated", c, h("${file:@DIR@/x"), r"X-A|\$\{"),
        Case(
            "ca-file-not-cert",
            c,
            cfg(probe(url="https://127.0.0.1:9/x", extra="    tls: {ca_file: '@DIR@/ca.pem'}\n")),
            r"ca_file",
            files={"ca.pem": b"this is not a certificate\n"},
            subset=True,
        ),
        Case(
            "ca-file-missing",
            c,
            cfg(probe(url="https://127.0.0.1:9/x", extra="    tls: {ca_file: '@DIR@/none.pem'}\n")),
            r"ca_file",
        ),
        Case(
            "ca-file-dir",
            c,
            cfg(probe(url="https://127.0.0.1:9/x", extra="    tls: {ca_file: '@DIR@'}\n")),
            r"ca_file",
        ),
        Case(
            "ca-file-empty",
            c,
            cfg(probe(url="https://127.0.0.1:9/x", extra="    tls: {ca_file: '@DIR@/e.pem'}\n")),
            r"ca_file",
            files={"e.pem": b""},
        ),
        Case(
            "cert-file-garbage",
            c,
            cfg(
                probe(
                    url="https://127.0.0.1:9/x",
                    extra="    tls: {cert_file: '@DIR@/c.pem', key_file: '@DIR@/k.pem'}\n",
                )
            ),
            r"cert_file|key_file",
            files={"c.pem": b"garbage", "k.pem": b"garbage"},
        ),
        Case(
            "key-without-cert",
            c,
            cfg(probe(url="https://127.0.0.1:9/x", extra="    tls: {key_file: '@DIR@/k.pem'}\n")),
            r"cert_file|key_file",
            files={"k.pem": b"garbage"},
        ),
        Case(
            "cert-file-secret-content",
            c,
            cfg(
                probe(
                    url="https://127.0.0.1:9/x",
                    extra="    tls: {cert_file: '@DIR@/c.pem', key_file: '@DIR@/c.pem'}\n",
                )
            ),
            r"cert_file|key_file",
            files={
                "c.pem": b"-----BEGIN PRIVATE KEY-----\n"
                + SECRET.encode()
                + b"\n-----END PRIVATE KEY-----\n"
            },
        ),
    ]


def _env() -> list[Case]:
    c = "env"

    def h(val: str) -> str:
        return cfg(probe(auth=False, extra="    headers: {X-A: '" + val + "', X-T: '${SECRET}'}\n"))

    return [
        Case("env-unset", c, h("${NOPE_UNSET_VAR}"), r"NOPE_UNSET_VAR"),
        Case("env-unterminated", c, h("${SECRET"), r"X-A|\$\{"),
        Case("env-bad-name", c, h("${1BAD}"), r"X-A|1BAD"),
        Case("env-nested", c, h("${A${SECRET}}"), r"X-A|\$\{"),
        Case("env-empty-braces", c, h("${}"), r"X-A|\$\{"),
        Case(
            "env-into-interval",
            c,
            cfg(probe("    interval: ${NOPE_UNSET_IV}\n")),
            r"NOPE_UNSET_IV|interval",
        ),
        Case(
            "env-secret-in-body-bad-method",
            c,
            cfg(probe("    body: 'pw=${SECRET}'\n    method: BREW\n")),
            "method",
        ),
        Case(
            "env-secret-in-json-bad-timeout",
            c,
            cfg(probe("    json: {password: '${SECRET}'}\n    timeout: 5x\n")),
            "timeout",
        ),
        Case(
            "env-secret-key-password-bad",
            c,
            cfg(probe("    json: {password: '${SECRET}'}\n    expect: {status: [abc]}\n")),
            "status",
        ),
    ]


def _scenarios() -> list[Case]:
    c = "scenario"
    return [
        Case(
            "scenario-undefined-var",
            c,
            cfg(scenario(step("s1", url=DEAD + "?v={{nope}}"))),
            r"nope",
            subset=True,
        ),
        Case(
            "scenario-captured-later",
            c,
            cfg(
                scenario(
                    step("s1", url=DEAD + "?v={{late}}")
                    + step("s2", extra="        capture: {late: {header: ETag}}\n")
                )
            ),
            r"late",
        ),
        Case(
            "scenario-self-capture",
            c,
            cfg(
                scenario(
                    step(
                        "s1",
                        url=DEAD + "?v={{me}}",
                        extra="        capture: {me: {header: ETag}}\n",
                    )
                )
            ),
            r"me\b",
        ),
        Case(
            "scenario-undefined-in-header",
            c,
            cfg(scenario(step("s1", extra="        body: '{{ghost}}'\n"))),
            r"ghost",
        ),
        Case(
            "scenario-undefined-in-assert",
            c,
            cfg(
                scenario(
                    step("s1", extra="        expect: {json: [{path: a, equals: '{{phantom}}'}]}\n")
                )
            ),
            r"phantom",
        ),
        Case(
            "scenario-no-steps",
            c,
            cfg("  - name: sc\n    kind: scenario\n    steps: []\n"),
            "steps",
        ),
        Case(
            "scenario-steps-mapping",
            c,
            cfg("  - name: sc\n    kind: scenario\n    steps: {a: 1}\n"),
            "steps",
        ),
        Case(
            "scenario-step-no-url",
            c,
            cfg(scenario("      - name: s1\n        method: GET\n")),
            "url",
        ),
        Case(
            "scenario-capture-two-sources",
            c,
            cfg(
                scenario(
                    step("s1", extra="        capture: {v: {json: a, header: B}}\n")
                    + step("s2", url=DEAD + "?v={{v}}")
                )
            ),
            "capture",
        ),
        Case(
            "scenario-capture-empty",
            c,
            cfg(
                scenario(
                    step("s1", extra="        capture: {v: {}}\n")
                    + step("s2", url=DEAD + "?v={{v}}")
                )
            ),
            "capture",
        ),
        Case(
            "scenario-always-run-word",
            c,
            cfg(scenario(step("s1", extra="        always_run: 'yes please'\n"))),
            "always_run",
        ),
        Case(
            "scenario-unclosed-var",
            c,
            cfg(scenario(step("s1", url=DEAD + "?v={{nonce"))),
            r"\{\{|url|nonce",
        ),
        Case(
            "scenario-empty-var",
            c,
            cfg(scenario(step("s1", url=DEAD + "?v={{}}"))),
            r"\{\{|url|variable",
        ),
        Case(
            "scenario-var-with-space",
            c,
            cfg(scenario(step("s1", url=DEAD + "?v={{no pe}}"))),
            r"no pe|variable",
        ),
        Case(
            "scenario-step-timeout-nines",
            c,
            cfg(scenario(step("s1", extra="        timeout: " + "9" * 400 + "s\n"))),
            "timeout",
        ),
        Case(
            "scenario-step-url-userinfo-undefined",
            c,
            cfg(scenario(step("s1", url="'http://u:${SECRET}@127.0.0.1:9/{{undefined_x}}'"))),
            r"undefined_x|url",
        ),
        Case(
            "scenario-with-top-url-and-steps",
            c,
            cfg(
                "  - name: sc\n    kind: scenario\n    url: " + DEAD + "\n    steps:\n" + step("s1")
            ),
            r"url|steps",
        ),
    ]


def _unknown() -> list[Case]:
    c = "unknown-fields"
    return [
        Case("unknown-top", c, cfg() + "probez: []\n", "probez"),
        Case("unknown-probe-field", c, cfg(probe("    urll: x\n")), "urll"),
        Case("unknown-expect-field", c, cfg(probe("    expect: {statuss: [200]}\n")), "statuss"),
        Case("unknown-agent-field", c, "agent: {listn: x}\nprobes:\n" + probe(), "listn"),
        Case("unknown-tls-field", c, cfg(probe("    tls: {verfy: false}\n")), "verfy"),
        Case(
            "unknown-slo-field",
            c,
            with_slo(GOOD_SLO + "    objectve: 1\n", probe("    slo: s1\n")),
            "objectve",
        ),
        Case(
            "unknown-step-field",
            c,
            cfg(scenario(step("s1", extra="        capturee: {}\n"))),
            "capturee",
        ),
        Case("unknown-tracing-field", c, "tracing: {endpont: x}\n" + cfg(), "endpont"),
        Case(
            "unknown-defaults-field",
            c,
            "defaults: {intervall: 1s}\nprobes:\n" + probe(),
            "intervall",
        ),
        Case(
            "unknown-json-assert-field",
            c,
            cfg(probe("    expect: {json: [{path: a, equal: 1}]}\n")),
            "equal",
        ),
        Case("unknown-field-secret-value", c, cfg(probe(f"    passwd: {SECRET}\n")), "passwd"),
        Case(
            "unknown-field-huge-name",
            c,
            cfg(probe("    " + "k" * 200_000 + ": 1\n")),
            r"k{8}|unknown|field",
        ),
    ]


def _paths() -> list[Case]:
    c = "config-path"
    return [
        Case("config-is-directory", c, "", r"directory|not a file|read", kind="dir", subset=True),
        Case("config-missing", c, "", r"not found|no such|missing", kind="missing"),
        Case("config-unreadable", c, cfg(), r"permission|read", kind="unreadable"),
        Case(
            "config-dev-zero",
            c,
            "",
            r"size|large|file|NUL|line",
            kind="devzero",
            resource=True,
            subset=True,
        ),
        Case(
            "config-dev-urandom",
            c,
            "",
            r"size|large|file|utf|line|encoding",
            kind="urandom",
            resource=True,
        ),
        Case("config-fifo", c, "", r"file|regular|fifo|pipe", kind="fifo", resource=True),
        Case(
            "config-path-rich-markup",
            c,
            cfg(probe("    timeout: 5x\n")),
            "timeout",
            kind="markup",
            subset=True,
        ),
    ]


def _all_invalid() -> list[Case]:
    cases = (
        _types()
        + _ranges()
        + _sizes()
        + _encodings()
        + _yaml()
        + _urls()
        + _headers()
        + _regexes()
        + _references()
        + _files()
        + _env()
        + _scenarios()
        + _unknown()
        + _paths()
    )
    names = [k.name for k in cases]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, dupes
    return cases


INVALID: list[Case] = _all_invalid()


# Valid per the README: `check` exits 0 and `once -n 1` runs it against @URL@ (all succeed).
def _ok(extra: str = "", name: str = "ok1", path: str = "/ok") -> str:
    # The default Authorization header, unless `extra` gives its own `headers:` (a second
    # `headers:` key in one probe is a duplicate key, which issue 17 requires to be rejected).
    auth = "" if "headers:" in extra else '    headers: {Authorization: "Bearer ${SECRET}"}\n'
    return f"  - name: {name}\n    url: @URL@{path}\n" + auth + extra


ACCEPTED: list[Case] = [
    Case(
        "merge-keys",
        "yaml",
        PRE
        + "probes:\n  - &b {name: m0, url: '@URL@/ok', timeout: 500ms}\n  - <<: *b\n    name: m1\n",
        "",
    ),
    Case(
        "small-anchors",
        "yaml",
        PRE + "probes:\n  - name: a1\n    url: &u '@URL@/ok'\n  - name: a2\n    url: *u\n",
        "",
    ),
    Case("utf8-bom", "encodings", b"\xef\xbb\xbf" + (PRE + "probes:\n" + _ok()).encode(), ""),
    Case("crlf-line-endings", "encodings", (PRE + "probes:\n" + _ok()).replace("\n", "\r\n"), ""),
    Case(
        "json-syntax",
        "yaml",
        '{"probes": [{"name": "j1", "url": "@URL@/ok"}], "agent": {"listen": "127.0.0.1:0"}}',
        "",
    ),
    Case("explicit-doc-markers", "yaml", "---\n" + PRE + "probes:\n" + _ok() + "...\n", ""),
    Case(
        "dollar-dollar-literal",
        "env",
        PRE + "probes:\n" + _ok("    method: POST\n    body: 'cost $$5 ${SECRET}'\n"),
        "",
    ),
    Case(
        "default-with-colon-hash",
        "env",
        PRE
        + "probes:\n"
        + _ok('    headers: {X-A: "${NOPE_UNSET:-a:b#c}", Authorization: "Bearer ${SECRET}"}\n'),
        "",
    ),
    Case(
        "secret-with-colon-hash",
        "env",
        PRE + "probes:\n" + _ok('    headers: {Authorization: "Bearer ${TOKEN_COLON}"}\n'),
        "",
        env={"TOKEN_COLON": SECRET + ":#x: y"},
    ),
    Case(
        "catastrophic-regex-is-linear",
        "regexes",
        # /aaa answers 30 a's and a '!': the pattern cannot match, so it is a body_not_regex
        # (as a body_regex the run is a correct assertion_failed, and `once` exits 1).
        PRE + "probes:\n" + _ok("    expect: {body_not_regex: '(a+)+$'}\n", path="/aaa"),
        "",
    ),
    Case(
        "status-mixed-forms",
        "types",
        PRE + "probes:\n" + _ok("    expect: {status: [200, '2xx', '200-204']}\n"),
        "",
    ),
    Case(
        "max-body-kib",
        "sizes",
        PRE + "probes:\n" + _ok("    expect: {max_body_bytes: 64KiB}\n"),
        "",
    ),
    Case(
        "durations-compound",
        "ranges",
        PRE + "probes:\n" + _ok("    interval: 1h30m\n    timeout: 999ms\n"),
        "",
    ),
    Case(
        "json-asserts-re2-ok",
        "regexes",
        PRE
        + "probes:\n"
        + _ok(
            "    expect:\n      json:\n        - {path: user_id, equals: canary}\n        - {path: 'metadata.tags[0]', matches: '^a'}\n      body_regex: '\"status\":\\s*\"ok\"'\n      body_not_regex: error\n"
        ),
        "",
    ),
    Case(
        "header-from-file",
        "file-refs",
        PRE + "probes:\n" + _ok('    headers: {Authorization: "Bearer ${file:@DIR@/tok}"}\n'),
        "",
        files={"tok": SECRET.encode()},
    ),
    Case(
        "scenario-capture-then-use",
        "scenario",
        PRE
        + "probes:\n  - name: sc1\n    kind: scenario\n    steps:\n"
        + "      - name: w\n        url: '@URL@/ok?n={{nonce}}&token=${SECRET}'\n"
        + "        capture: {version: {json: metadata.version}, tag: {regex: 'id=(\\w+)'}}\n"
        + "      - name: r\n        url: '@URL@/ok?v={{version}}&t={{tag}}'\n"
        + "        headers: {Authorization: 'Bearer ${SECRET}'}\n"
        + "        expect: {json: [{path: metadata.version, equals: '{{version}}'}]}\n",
        "",
    ),
    Case(
        "userinfo-url",
        "urls",
        PRE + "probes:\n  - name: ui\n    url: 'http://user:${SECRET}@@URL_HOSTPORT@/ok'\n",
        "",
    ),
    Case(
        "ipv6-literal-loopback-style-port",
        "urls",
        PRE + "probes:\n" + _ok() + "  - name: ok2\n    url: '@URL@/ok?token=${SECRET}&a=1'\n",
        "",
    ),
    Case(
        "unicode-body",
        "encodings",
        PRE
        + "probes:\n"
        + _ok("    method: POST\n    body: 'h\u00e9llo \u4e16\u754c ${SECRET}'\n"),
        "",
    ),
]

# Valid or rejected, both acceptable; never a traceback, a leak, or an unbounded line.
TOLERATED: list[Case] = [
    Case(
        "utf16-with-bom",
        "encodings",
        b"\xff\xfe" + (PRE + "probes:\n" + _ok()).encode("utf-16-le"),
        "",
    ),
    Case(
        "utf32-with-bom",
        "encodings",
        b"\xff\xfe\x00\x00" + (PRE + "probes:\n" + _ok()).encode("utf-32-le"),
        "",
    ),
    Case(
        "regex-repeat-1001",
        "regexes",
        PRE + "probes:\n" + _ok("    expect: {body_regex: 'a{1001}'}\n"),
        "",
    ),
    Case(
        "regex-nested-repeats",
        "regexes",
        PRE + "probes:\n" + _ok("    expect: {body_regex: '((a{100}){100}){100}'}\n"),
        "",
    ),
    Case(
        "file-trailing-newline",
        "file-refs",
        PRE + "probes:\n" + _ok('    headers: {Authorization: "Bearer ${file:@DIR@/tok}"}\n'),
        "",
        files={"tok": SECRET.encode() + b"\n"},
    ),
    Case(
        "capture-shadows-builtin",
        "scenario",
        PRE
        + "probes:\n  - name: sc2\n    kind: scenario\n    steps:\n      - name: w\n        url: '@URL@/ok'\n        capture: {nonce: {header: ETag}}\n      - name: r\n        url: '@URL@/ok?n={{nonce}}'\n",
        "",
    ),
    Case(
        "name-unicode",
        "encodings",
        PRE + "probes:\n" + _ok(name="\u043f\u0440\u043e\u0431\u0430"),
        "",
    ),
    Case(
        "empty-env-default",
        "env",
        PRE
        + "probes:\n"
        + _ok('    headers: {X-A: "${NOPE_UNSET:-}", Authorization: "Bearer ${SECRET}"}\n'),
        "",
    ),
]

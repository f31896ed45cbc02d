"""probes.yaml: its typed model, and `load_config`, which turns any mistake into one clear line.

Owns the YAML loading, `${VAR}` substitution, units, the schema of every section and the
checks across fields. Everything is validated and compiled here, at load time: a running
agent never meets a config error. Imports only the shared vocabulary (`conventions`,
`redact`); never the agent, probes, telemetry, web, rules or CLI.
"""

from .agent import AgentConfig, Defaults, TracingConfig, parse_listen
from .checks import BUILTIN_VARIABLES, iter_requests
from .fields import (
    DEFAULT_SECRET_QUERY_PARAMS,
    HTTP_METHODS,
    MAX_LABEL_VALUE,
    MAX_PROBES,
    MAX_STATIC_LABELS,
    MAX_STEPS,
    RESERVED_LABELS,
    TEMPLATE_RE,
    ConfigError,
    Duration,
    Size,
    printable,
)
from .load import load_config, parse_config, read_config
from .model import Config
from .probes import (
    TLS,
    AnyProbe,
    Capture,
    Expect,
    JSONAssertion,
    ProbeConfig,
    RequestConfig,
    ScenarioConfig,
    StepConfig,
)
from .shard import Shard, parse_shard
from .slos import (
    DEFAULT_BURN_WINDOWS,
    Alerting,
    AvailabilitySLO,
    BurnWindow,
    LatencySLO,
    SLOConfig,
    TrafficAlert,
)
from .yaml_loader import load_yaml

__all__ = [
    "BUILTIN_VARIABLES",
    "DEFAULT_BURN_WINDOWS",
    "DEFAULT_SECRET_QUERY_PARAMS",
    "HTTP_METHODS",
    "MAX_LABEL_VALUE",
    "MAX_PROBES",
    "MAX_STATIC_LABELS",
    "MAX_STEPS",
    "RESERVED_LABELS",
    "TEMPLATE_RE",
    "TLS",
    "AgentConfig",
    "Alerting",
    "AnyProbe",
    "AvailabilitySLO",
    "BurnWindow",
    "Capture",
    "Config",
    "ConfigError",
    "Defaults",
    "Duration",
    "Expect",
    "JSONAssertion",
    "LatencySLO",
    "ProbeConfig",
    "RequestConfig",
    "SLOConfig",
    "ScenarioConfig",
    "Shard",
    "Size",
    "StepConfig",
    "TracingConfig",
    "TrafficAlert",
    "iter_requests",
    "load_config",
    "load_yaml",
    "parse_config",
    "parse_listen",
    "parse_shard",
    "printable",
    "read_config",
]

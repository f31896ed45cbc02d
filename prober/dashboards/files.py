"""Writing the dashboards, checking them for staleness, and reading their queries back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..generated import write_files


@dataclass(frozen=True)
class PanelQuery:
    """One PromQL query a dashboard sends: a panel target, a variable or an annotation."""

    dashboard: str  # uid
    panel: str  # panel title, `$name` for a variable, `annotation: name`
    ref: str
    expr: str
    instant: bool
    exemplar: bool


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every query of a dashboard's JSON, rows' nested panels included, in layout order."""
    uid = str(dashboard["uid"])
    out: list[PanelQuery] = []

    def panels(items: list[dict[str, Any]]) -> None:
        for panel in items:
            panels(panel.get("panels", []))
            for target in panel.get("targets", []):
                out.append(
                    PanelQuery(
                        uid,
                        panel["title"],
                        target["refId"],
                        target["expr"],
                        bool(target.get("instant")) and not target.get("range"),
                        bool(target.get("exemplar")),
                    )
                )

    panels(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            out.append(PanelQuery(uid, f"${variable['name']}", "", variable["query"], True, False))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if annotation.get("expr"):
            name = f"annotation: {annotation['name']}"
            out.append(PanelQuery(uid, name, "", annotation["expr"], False, False))
    return out


def write_dashboards(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write every file into out_dir (created if missing), each replaced atomically."""
    return write_files(files, out_dir)

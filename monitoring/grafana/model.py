"""Grafana's dashboard JSON model (the classic one every Grafana imports), built from a few
panel kinds laid out row by row on its 24-column grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The current schema: Grafana stores dashboards at this version without migrating them.
SCHEMA_VERSION = 42
GRID_COLUMNS = 24
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TAG = "custom-gpt-adapter"

Json = dict[str, Any]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Threshold:
    """A colour from ``value`` upwards (``None``: from minus infinity)."""

    color: str
    value: float | None = None


GREEN = Threshold("green")


def _thresholds(steps: Sequence[Threshold]) -> Json:
    return {
        "mode": "absolute",
        "steps": [{"color": step.color, "value": step.value} for step in steps],
    }


def value_mappings(texts: Mapping[int, tuple[str, str]]) -> list[Json]:
    """Show each value as a text in a colour: ``{0: ("closed", "green"), …}``."""
    options = {
        str(value): {"text": text, "color": color, "index": index}
        for index, (value, (text, color)) in enumerate(sorted(texts.items()))
    }
    return [{"type": "value", "options": options}]


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: Sequence[Query]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    thresholds: Sequence[Threshold] = (GREEN,)
    mappings: Sequence[Json] = ()
    decimals: int | None = None
    # Timeseries only: draw the thresholds as lines (burn-rate limits, objectives).
    threshold_lines: bool = False
    minimum: float | None = None

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {
            "unit": self.unit,
            "thresholds": _thresholds(self.thresholds),
            "mappings": list(self.mappings),
        }
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.minimum is not None:
            defaults["min"] = self.minimum
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": False,
                "thresholdsStyle": {"mode": "line" if self.threshold_lines else "off"},
            }
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": [
                {
                    "refId": chr(ord("A") + index),
                    "datasource": DATASOURCE,
                    "editorMode": "code",
                    "expr": query.expr,
                    "legendFormat": query.legend or "__auto",
                    # A stat shows one value: one evaluation, not one per step of the range.
                    "instant": self.kind == "stat",
                    "range": self.kind != "stat",
                }
                for index, query in enumerate(self.queries)
            ],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": _options(self.kind),
        }


def _options(kind: str) -> Json:
    if kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "state-timeline":
        return {"showValue": "auto", "mergeValues": True, "rowHeight": 0.9}
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area" if kind == "stat" else "none",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


@dataclass
class _Layout:
    """Places panels left to right, wrapping at the grid's width, numbering them from 1."""

    panels: list[Json] = field(default_factory=list)
    x: int = 0
    y: int = 0
    row_height: int = 0

    def row(self, row: Row) -> None:
        self._new_line()
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": self.y, "w": GRID_COLUMNS, "h": 1},
                "panels": [],
            }
        )
        self.y += 1
        for panel in row.panels:
            self.panel(panel)

    def panel(self, panel: Panel) -> None:
        if self.x + panel.width > GRID_COLUMNS:
            self._new_line()
        self.panels.append(panel.to_json(len(self.panels) + 1, self.x, self.y))
        self.x += panel.width
        self.row_height = max(self.row_height, panel.height)

    def _new_line(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


def _variables(namespace_source: str) -> Json:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
            },
            {
                "name": "namespace",
                "label": "Namespace",
                "type": "query",
                "datasource": DATASOURCE,
                "definition": f"label_values({namespace_source}, namespace)",
                "query": f"label_values({namespace_source}, namespace)",
                "current": {},
                "hide": 0,
                "refresh": 2,
                "sort": 1,
                "includeAll": False,
                "multi": False,
                "options": [],
            },
        ]
    }


def dashboard(
    *, uid: str, title: str, description: str, namespace_source: str, rows: Sequence[Row]
) -> Json:
    """A dashboard of ``rows``, with the data source and namespace as variables (the namespace
    offered from the series of ``namespace_source``), linked to the project's other ones."""
    layout = _Layout()
    for row in rows:
        layout.row(row)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "utc",
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "custom-gpt-adapter",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": _variables(namespace_source),
        "panels": layout.panels,
    }

"""The dashboard's partial plotly.js (``dashboard/assets/plotly-tinydse.min.js``, built by
``scripts/plotly_bundle``): it is the plotly.js that plotly.py writes figures for, it has
every trace type the dashboard draws, and an app falls back to Dash's full plotly.js when the
bundle does not match."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

from dashboard import app as A
from tests.dashboard.conftest import FilledDB, make_app

ROOT = Path(__file__).resolve().parents[2]
#: Every trace type plotly.py knows (``scattergl``, ``bar``, ``table``, ...).
TRACE_TYPES = {n.lower() for n in dir(go) if isinstance(getattr(go, n), type)
               and issubclass(getattr(go, n), BaseTraceType)}


def bundle_traces() -> set[str]:
    head = A.PLOTLY_BUNDLE.read_text(encoding="utf-8")[:400]
    m = re.search(r"traces: ([\w,]+)\)", head)
    assert m, head
    return set(m.group(1).split(","))


def test_bundle_is_the_plotly_js_of_plotly_py_with_its_licence() -> None:
    assert A.bundle_version() == get_plotlyjs_version()
    head = A.PLOTLY_BUNDLE.read_text(encoding="utf-8")[:400]
    assert "Licensed under the MIT license" in head
    assert (ROOT / "scripts/plotly_bundle/LICENSE-plotly.js").read_text().startswith(
        "MIT License")
    assert bundle_traces() == {"scatter", "scattergl", "parcoords", "bar"}
    entry = (ROOT / "scripts/plotly_bundle/entry.js").read_text()
    registered = set(re.findall(r"require\('plotly\.js/lib/(\w+)'\)", entry)) - {"core"}
    assert registered | {"scatter"} == bundle_traces()  # the header says what was built


def test_every_trace_type_in_the_dashboard_is_in_the_bundle() -> None:
    """Trace constructors (``go.Bar(``) and trace dicts (``"type": "parcoords"``) in the
    dashboard's source, and the scatter types a large and a small Pareto figure use."""
    import pandas as pd

    from dashboard import figures as F

    used: set[str] = set()
    for path in (ROOT / "dashboard").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= {m.lower() for m in re.findall(r"\bgo\.([A-Z]\w*)\(", text)}
        used |= set(re.findall(r"""["']type["']:\s*["'](\w+)["']""", text))
    used &= TRACE_TYPES  # "type": "log" is an axis type
    assert {"bar", "scatter", "parcoords"} <= used
    n = F.WEBGL_ABOVE + 1
    big = pd.DataFrame({"candidate_id": range(n), "trial": range(n), "status": "complete",
                        "accuracy": [i / n for i in range(n)],
                        "memory_bits": [1000 - i / 10 for i in range(n)], "pareto": False})
    for df in (big, big.iloc[:5]):
        fig = F.pareto_figure({"s": df}, "memory_bits", "accuracy",
                              objectives={"s": ["accuracy", "memory_bits"]},
                              directions={"accuracy": "maximize", "memory_bits": "minimize"})
        used |= {t.type for t in fig.data}
    assert {"scattergl", "scatter"} <= used
    assert used <= bundle_traces(), f"not in the bundle: {sorted(used - bundle_traces())}"


def test_app_serves_the_bundle_only_when_it_matches(tmp_path: Path) -> None:
    assert A.plotly_assets_ignore() == ""
    other = tmp_path / A.PLOTLY_BUNDLE.name
    other.write_text("/**\n* plotly.js v0.0.1 (tinydse partial bundle; traces: scatter)\n*/\n")
    assert A.bundle_version(other) == "0.0.1"
    with pytest.warns(UserWarning, match=r"plotly\.js 0\.0\.1, plotly\.py writes for "):
        ignore = A.plotly_assets_ignore(other)
    assert re.search(ignore, A.PLOTLY_BUNDLE.name) and not re.search(ignore, "style.css")
    assert A.bundle_version(tmp_path / "missing.js") is None


def test_pages_load_the_bundle_and_not_the_full_plotly_js(filled_db: FilledDB) -> None:
    app = make_app(filled_db.url)
    html = app.server.test_client().get("/").get_data(as_text=True)
    assert re.search(r'src="/assets/plotly-tinydse\.min\.js\?m=[\d.]+"', html)
    assert "plotly.min.js" not in html  # Dash's own is loaded only where window.Plotly is not

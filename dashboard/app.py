"""The Dash app shell: a header, the page container, nothing else.

Pages live one per module in :mod:`dashboard.pages` (``dash.register_page``, ids prefixed by
the page, global ``@callback``); figures are pure functions in :mod:`dashboard.figures`; all
reads go through :mod:`dashboard.data`, which opens the store read-only.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dash

#: Milliseconds between live refreshes of an open page.
DEFAULT_REFRESH_MS = 3000

#: The partial plotly.js the pages load as an asset, built by scripts/plotly_bundle (see
#: docs/design.md, "The dashboard's plotly.js"): a third of the full bundle's size.
PLOTLY_BUNDLE = Path(__file__).parent / "assets" / "plotly-tinydse.min.js"


def bundle_version(path: Path = PLOTLY_BUNDLE) -> str | None:
    """The plotly.js version named in the bundle's header, or None (no file, no header)."""
    try:
        with path.open(encoding="utf-8") as f:
            head = f.read(400)
    except OSError:
        return None
    m = re.search(r"plotly\.js v(\S+) \(tinydse partial bundle", head)
    return m.group(1) if m else None


def plotly_assets_ignore(path: Path = PLOTLY_BUNDLE) -> str:
    """``assets_ignore`` for Dash: nothing when the bundle is the plotly.js that plotly.py
    writes figures for; else the bundle, with a warning, so that Dash loads its full
    plotly.js (a figure of another plotly.py may use attributes the bundle lacks)."""
    from plotly.offline import get_plotlyjs_version

    want, have = get_plotlyjs_version(), bundle_version(path)
    if have == want:
        return ""
    warnings.warn(f"dashboard: {path.name} is plotly.js {have}, plotly.py writes for "
                  f"{want}: serving the full plotly.js (rebuild: scripts/plotly_bundle)",
                  stacklevel=2)
    return "^" + re.escape(path.name) + "$"


def create_app(db_url: str, *, refresh_ms: int = DEFAULT_REFRESH_MS) -> dash.Dash:
    """A Dash app serving the studies in ``db_url`` (opened read-only).

    ``refresh_ms`` is the period of the pages' live refresh (``dcc.Interval``); 0 turns it
    off. Page modules are (re-)imported by Dash at each call, so several apps may be created
    in one process (tests); the last one created is the data source of the pages.
    """
    import dash
    from dash import dcc, html

    from dashboard import data

    if refresh_ms < 0:
        raise ValueError(f"refresh_ms={refresh_ms} must be >= 0")
    data.configure(db_url)
    data.REFRESH_MS = refresh_ms
    app = dash.Dash(__name__, use_pages=True, pages_folder="pages", title="tinydse",
                    suppress_callback_exceptions=True, assets_ignore=plotly_assets_ignore(),
                    update_title=None)  # type: ignore[arg-type]
    app.layout = html.Div([
        html.Header([
            dcc.Link("tinydse", href="/", id="app-home", className="app-brand"),
            html.Span(" Pareto dashboard", className="app-subtitle"),
            dcc.Link("studies", href="/", className="app-nav"),
        ], className="app-header"),
        html.Main(dash.page_container, className="app-main"),
    ])
    return app


def run(db_url: str, *, host: str = "127.0.0.1", port: int = 8050,
        refresh_ms: int = DEFAULT_REFRESH_MS, debug: bool = False) -> None:
    """Serve the dashboard (blocking) on ``host:port``, 127.0.0.1 unless told otherwise."""
    app = create_app(db_url, refresh_ms=refresh_ms)
    app.run(host=host, port=port, debug=debug)

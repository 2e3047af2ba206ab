"""The Dash app shell: a header, the page container, nothing else.

Pages live one per module in :mod:`dashboard.pages` (``dash.register_page``, ids prefixed by
the page, global ``@callback``); figures are pure functions in :mod:`dashboard.figures`; all
reads go through :mod:`dashboard.data`, which opens the store read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dash

#: Milliseconds between live refreshes of an open page.
DEFAULT_REFRESH_MS = 3000


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
                    suppress_callback_exceptions=True,
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

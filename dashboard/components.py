"""Small layout pieces shared by the pages (no callbacks here)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from dash import dcc, html


def study_href(study: str, page: str) -> str:
    """The URL of a study page (``pareto`` or ``progress``); the name is URL-quoted."""
    return f"/study/{quote(study, safe='')}/{page}"


def candidate_href(candidate_id: int) -> str:
    return f"/candidate/{int(candidate_id)}"


def unquote_name(value: str | None) -> str:
    """A study name as it came in a URL path."""
    return unquote(value or "")


def not_found(what: str, detail: str = "") -> html.Div:
    """The friendly page for an unknown study, candidate or address."""
    return html.Div([
        html.H2("Not found", id="not-found-title"),
        html.P(what, id="not-found-message"),
        html.P(detail) if detail else None,
        dcc.Link("Back to the list of studies", href="/", id="not-found-home"),
    ], className="not-found")


def study_nav(study: str, current: str) -> html.Nav:
    """Links between a study's pages."""
    links: list[Any] = []
    for page, label in (("pareto", "Pareto"), ("progress", "Progress")):
        if page == current:
            links.append(html.Span(label, className="nav-current"))
        else:
            links.append(dcc.Link(label, href=study_href(study, page),
                                  id=f"{current}-link-{page}"))
        links.append(" · ")
    links.append(dcc.Link("all studies", href="/"))
    return html.Nav(links, className="study-nav")


def interval(page: str, refresh_ms: int) -> dcc.Interval:
    """The live-refresh ticker of a page (disabled when ``refresh_ms`` is 0)."""
    return dcc.Interval(id=f"{page}-interval", interval=max(refresh_ms, 1000),
                        disabled=refresh_ms <= 0, n_intervals=0)

"""The page for any address the dashboard does not serve."""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard.components import not_found

dash.register_page(__name__, path="/404", name="Not found", title="tinydse · not found")


def layout(**_query: Any) -> html.Div:
    return not_found("This address is not a page of the dashboard.")

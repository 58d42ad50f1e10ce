"""Plotly figures as HTML fragments for the dashboards. Shared by labeling and pipelines, so it
imports neither; the page includes plotly.js itself (url ``dashboard-plotly-js``)."""

import plotly.graph_objects as go
import plotly.io as pio
from django.utils.safestring import mark_safe


def chart(figure: go.Figure, div_id: str) -> str:
    figure.update_layout(margin={"l": 50, "r": 20, "t": 40, "b": 40}, height=340)
    html = pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"responsive": True},
        # a chart is drawn as soon as its script runs, before the cards after it are laid
        # out: the first card of a grid is still full width then, and "responsive" follows
        # only window resizes. Fit it again once the page is laid out.
        post_script=(
            "window.addEventListener('load', function () "
            "{ Plotly.Plots.resize(document.getElementById('{plot_id}')); });"
        ),
    )
    return mark_safe(html)  # noqa: S308 - plotly's own output from our numbers

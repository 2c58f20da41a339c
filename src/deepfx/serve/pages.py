"""The index page (every model and the URL to paste into HARP) and one page per model."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from deepfx.serve.state import ServedModel, Target

__all__ = ["index_page", "model_entry", "model_page", "model_urls"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.4em .8em;"
    "text-align:left;vertical-align:top}code{background:#f4f4f4;padding:.1em .3em}"
)


def model_urls(origin: str, model: ServedModel) -> dict[str, str]:
    """``{"all": base}`` plus, for effects with several stems, one URL per single stem."""
    base = origin + model.path
    urls = {"all": base}
    labels = model.card.labels
    if model.card.is_effect and len(labels) > 1:
        for s in labels:
            urls[s] = f"{base}/stems/{quote(s, safe='')}"
    return urls


def model_entry(origin: str, model: ServedModel) -> dict[str, Any]:
    card = model.card
    return {
        "name": model.name,
        "type": card.kind,
        "description": card.short_description,
        "labels": list(card.labels),
        "url": origin + model.path,
        "stem_urls": {k: v for k, v in model_urls(origin, model).items() if k != "all"},
    }


def index_page(origin: str, models: list[ServedModel]) -> str:
    rows = []
    for m in models:
        urls = model_urls(origin, m)
        cells = [f"<code>{escape(urls['all'])}</code>"]
        cells += [
            f"<br><small>only {escape(s)}: <code>{escape(u)}</code></small>"
            for s, u in urls.items()
            if s != "all"
        ]
        rows.append(
            f"<tr><td>{escape(m.name)}</td><td>{escape(m.card.kind)}</td>"
            f"<td>{escape(m.card.short_description)}</td><td>{''.join(cells)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">no models installed</td></tr>'
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>deepfx serve</title>"
        f"<style>{_STYLE}</style></head><body><h1>deepfx serve</h1>"
        "<p>Paste a URL into HARP's model box (<i>Load</i>), then process a region from your "
        "DAW. Everything runs on this machine.</p>"
        "<table><tr><th>model</th><th>type</th><th>what it does</th><th>URL for HARP</th></tr>"
        f"{body}</table></body></html>"
    )


def model_page(t: Target) -> str:
    card = t.model.card
    outs = ", ".join(t.kept) if card.is_effect else "labels: " + ", ".join(card.labels)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(t.model.name)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(t.model.name)}</h1>"
        f"<p>{escape(card.long_description)}</p><p>{escape(card.kind)}; outputs: "
        f"{escape(outs)}</p><p>URL for HARP: <code>{escape(t.base)}</code></p>"
        "<p><a href='/'>all models</a></p></body></html>"
    )

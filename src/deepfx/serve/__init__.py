"""``deepfx serve``: installed models as a local HARP-compatible (Gradio API) server.

HARP (TEAMuP's desktop app, an external sample editor for REAPER, Logic, Ableton...)
sends a DAW region to a Gradio endpoint and loads the result back. This package speaks
that protocol for every installed model, on 127.0.0.1 by default, so the audio never
leaves the machine. Needs the ``serve`` extra (starlette, uvicorn, python-multipart).

Modules: :mod:`.app` (routes, the app), :mod:`.state` (models, state, the request's
target), :mod:`.calls` (controls / process / cancel as jobs), :mod:`.queue` (gradio_client's
queue protocol), :mod:`.controls` (card -> HARP controls, request checks),
:mod:`.protocol` (wire shapes), :mod:`.gradio_api` (config/info for gradio_client),
:mod:`.jobs` (event id -> worker thread, progress, cancel), :mod:`.storage` and
:mod:`.uploads` (private temp folder), :mod:`.guard` (token, Host, Origin),
:mod:`.server` (options, socket, uvicorn), :mod:`.pages` (index and model pages).
See ``docs/serve.md``.
"""

from __future__ import annotations

# The package imports none of its modules (they import each other through it): use
# ``deepfx.serve.server.ServeOptions`` / ``serve()``.
__all__: list[str] = []

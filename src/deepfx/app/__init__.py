"""``deepfx app``: the artist's window, a model library and an Apply window on PySide6.

It is a face, like the CLI: every operation is a call to the public library
(:mod:`deepfx.hub`, :class:`deepfx.store.Store`, :func:`deepfx.engine.run`,
:mod:`deepfx.audacity.bridge`), run on a worker thread (:mod:`deepfx.app.workers`), with
each :mod:`deepfx.errors` class shown as a message and what to do
(:mod:`deepfx.app.messages`). Nothing here imports torch: the engine does, on a worker,
when a model runs.

Modules: ``window`` (main window and menus), ``library`` (the two model lists),
``rows`` (list model + row painter), ``details``, ``installs`` (install queue),
``apply_panel``, ``jobs`` (run queue), ``results``, ``settings``, ``catalog`` (rows from
store + hub, no Qt), ``audacity_state``, ``devices``, ``messages``, ``workers``, ``theme``.
"""

from __future__ import annotations

# The package imports none of its modules (they import each other through it): the entry
# point is ``deepfx.app.window.run_app``.
__all__: list[str] = []

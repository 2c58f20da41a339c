"""Finding and publishing models: the hub, curated lists, local folders, built-ins.

The public API (also used by the CLI, the desktop app and the Audacity bridge)::

    from deepfx import hub, store
    hub.search("drums", kind="effect")          # curated lists + `audacity` tag, cached
    hub.remote_card("hugggof/demucs_extra")      # one repo's card, not installed
    store.Store().install("hugggof/demucs_extra@main", kind="effect")
    hub.publish("my_model/", repo_id="me/my-model")

Everything respects ``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE``; network
errors become :class:`deepfx.errors.NetworkError` naming the endpoint.
"""

from __future__ import annotations

from deepfx.hub._client import endpoint, is_offline
from deepfx.hub.download import FileRecord, RemoteRevision, resolve_revision
from deepfx.hub.publish import PublishResult, publish
from deepfx.hub.search import (
    DEFAULT_CURATED_LISTS,
    HubModel,
    SearchResult,
    curated_lists,
    listing,
    remote_card,
    search,
)

__all__ = [
    "DEFAULT_CURATED_LISTS",
    "FileRecord",
    "HubModel",
    "PublishResult",
    "RemoteRevision",
    "SearchResult",
    "curated_lists",
    "endpoint",
    "is_offline",
    "listing",
    "publish",
    "remote_card",
    "resolve_revision",
    "search",
]

"""Finding models on the hub: curated lists and the ``audacity`` tag, cached with a TTL.

The listing is built from two sources and cached in ``<store root>/cache/hub-models.json``:

* curated lists: JSON arrays of repo ids stored in a hub repo (default the original
  project's ``hugggof/audacity-models`` file ``models.json`` and deepfx's own
  ``deepfx/curated-models`` file ``models.json``; set ``DEEPFX_CURATED_LISTS`` to
  ``repo:file,repo:file`` to change them, or to an empty string to use none);
* a search of the hub by the ``audacity`` and ``deepfx`` tags (``HfApi.list_models(filter=...)``).

Each candidate's ``metadata.json`` is fetched once to learn its type, domains and labels.
Filters (type, domain, text) apply to the cached listing, so they work offline too. When
the hub cannot be reached the cached listing is returned with a note saying so; with no
cache either, the curated entries come from a snapshot shipped in the package
(``curated.json``), each marked ``needs_network`` (installing it needs the hub). A
successful online listing replaces it (the cache).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from deepfx._fs import atomic_write_text
from deepfx.card import CARD_FILENAME, CardWarning, load_card
from deepfx.errors import CardError, HubError, NetworkError, UsageError
from deepfx.hub._client import api, check_online, endpoint, hf_cache_dir, hub_errors, timeout_s

__all__ = [
    "DEFAULT_CURATED_LISTS",
    "HubModel",
    "SearchResult",
    "builtin_models",
    "curated_lists",
    "curated_snapshot",
    "listing",
    "remote_card",
    "search",
]

SEARCH_TAG = "audacity"
#: Tags searched: ``audacity`` (the original ecosystem, and deepfx models its torch 1.9
#: runs) and ``deepfx`` (every model deepfx writes, including those only deepfx runs).
SEARCH_TAGS = (SEARCH_TAG, "deepfx")
DEFAULT_CURATED_LISTS: tuple[tuple[str, str], ...] = (
    ("hugggof/audacity-models", "models.json"),
    ("deepfx/curated-models", "models.json"),
)
DEFAULT_TTL_S = 3600.0


@dataclass
class HubModel:
    """A model found on the hub (its card fetched, not installed)."""

    repo_id: str
    sources: list[str]
    commit: str | None = None
    effect_type: str | None = None
    domain_tags: list[str] = field(default_factory=list)
    short_description: str = ""
    long_description: str = ""
    tags: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sample_rate: int | None = None
    problem: str | None = None  # why its card could not be read, if it could not
    license: str | None = None  # the card's SPDX id, when it has one
    author: str | None = None  # the card's author (or authors, joined)
    #: from the snapshot shipped in the package (offline): installing it needs the network
    needs_network: bool = False

    @property
    def kind(self) -> str:
        if self.effect_type is None:
            return "?"
        return "analyzer" if self.effect_type == "waveform-to-labels" else "effect"

    def matches(self, *, text: str | None, kind: str | None, domain: str | None) -> bool:
        if kind is not None and self.kind != kind:
            return False
        if domain is not None and domain.lower() not in self.domain_tags:
            return False
        if text:
            hay = " ".join(
                [
                    self.repo_id,
                    self.short_description,
                    self.long_description,
                    *self.tags,
                    *self.labels,
                ]
            ).lower()
            return all(word in hay for word in text.lower().split())
        return True

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type": self.kind}


@dataclass
class SearchResult:
    """Models found, and where the listing came from."""

    models: list[HubModel]
    fetched_at: str
    from_cache: bool
    note: str | None = None


def curated_lists() -> list[tuple[str, str]]:
    """The curated lists to read, as ``(repo_id, file)`` pairs (``DEEPFX_CURATED_LISTS``)."""
    from deepfx.settings import curated_lists as from_env

    return from_env(list(DEFAULT_CURATED_LISTS))


def search(
    text: str | None = None,
    *,
    kind: str | None = None,
    domain: str | None = None,
    refresh: bool = False,
    builtins: bool = True,
    cache_dir: Path | None = None,
) -> SearchResult:
    """Models matching ``text`` (all words, in name, descriptions, tags, labels),
    ``kind`` (``"effect"``/``"analyzer"``) and ``domain`` (music, speech, ...).

    Hub models come from :func:`listing` (cached for ``DEEPFX_HUB_TTL`` seconds, default
    3600; ``refresh`` forces a new one; offline, the cached listing with a note). With
    ``builtins`` the built-in models (no network needed) come first; when the hub is
    unreachable and nothing is cached they are still returned, with a note.
    """
    local = builtin_models() if builtins else []
    try:
        result = listing(refresh=refresh, cache_dir=cache_dir)
    except NetworkError as exc:
        shipped = curated_snapshot()
        if not local and not shipped:
            raise
        what = "built-ins only"
        if shipped:
            what = (
                "built-ins and the curated list shipped with deepfx"
                if local
                else "the curated list shipped with deepfx"
            )
            what += " (installing a curated model needs the network)"
        result = SearchResult(shipped, "", from_cache=False, note=f"{exc}; showing {what}")
    result.models = [
        m for m in [*local, *result.models] if m.matches(text=text, kind=kind, domain=domain)
    ]
    return result


def builtin_models() -> list[HubModel]:
    """The built-in models as search results (empty when deepfx.builtins is unavailable)."""
    try:
        from deepfx.builtins import catalog

        specs = catalog()
    except ImportError:
        return []
    out = []
    for spec in specs:
        card = spec.card
        out.append(
            HubModel(
                repo_id=spec.name,
                sources=["builtin"],
                effect_type=card.effect_type,
                domain_tags=list(card.domain_tags),
                short_description=card.short_description,
                long_description=card.long_description,
                tags=list(card.tags),
                labels=list(card.labels),
                sample_rate=card.sample_rate,
                license=card.license,
                author=_author(card),
            )
        )
    return out


def curated_snapshot() -> list[HubModel]:
    """The curated entries shipped in the package (``deepfx/hub/curated.json``), each
    marked ``needs_network``; empty when the curated lists were changed
    (``DEEPFX_CURATED_LISTS``) away from the ones the snapshot was taken of."""
    from importlib import resources

    lists = {f"{repo}:{file}" for repo, file in curated_lists()}
    try:
        data = json.loads(
            resources.files("deepfx.hub").joinpath("curated.json").read_text(encoding="utf-8")
        )
    except (OSError, ValueError):
        return []
    if not lists & set(data.get("lists", [])):
        return []
    out = []
    for m in data.get("models", []):
        out.append(
            HubModel(
                repo_id=str(m["repo_id"]),
                sources=["curated (shipped snapshot)"],
                effect_type=m.get("effect_type"),
                domain_tags=list(m.get("domain_tags", [])),
                short_description=str(m.get("short_description", "")),
                tags=list(m.get("tags", [])),
                labels=list(m.get("labels", [])),
                sample_rate=m.get("sample_rate"),
                needs_network=True,
            )
        )
    return out


def listing(*, refresh: bool = False, cache_dir: Path | None = None) -> SearchResult:
    """Every model of the curated lists and the tag search, from the cache when fresh."""
    cache = _cache_path(cache_dir)
    cached = _read_cache(cache)
    if cached is not None and not refresh and time.time() - cached[0] < _ttl():
        return SearchResult(cached[1], cached[2], from_cache=True)
    try:
        models, notes = _fetch_listing()
    except NetworkError as exc:
        if cached is None:
            raise
        return SearchResult(
            cached[1],
            cached[2],
            from_cache=True,
            note=f"the hub is unreachable ({exc}); showing the list cached at {cached[2]}",
        )
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    payload = {
        "fetched_at": stamp,
        "time": time.time(),
        "endpoint": endpoint(),
        "models": [asdict(m) for m in models],
    }
    try:
        atomic_write_text(cache, json.dumps(payload, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache folder must not stop a search
    return SearchResult(models, stamp, from_cache=False, note="; ".join(notes) or None)


def remote_card(repo_id: str, *, revision: str | None = None, probe: bool = True) -> HubModel:
    """Fetch and read (leniently) one repo's ``metadata.json`` into a :class:`HubModel`.

    ``probe`` first checks the hub answers at all (one request, no retries), so an
    unreachable hub is one clear error after one timeout, not a minute of retries."""
    from huggingface_hub import hf_hub_download

    from deepfx.hub._client import check_repo_id
    from deepfx.hub._limits import bounded
    from deepfx.settings import HUB_METADATA_MAX_BYTES

    check_repo_id(repo_id)
    check_online()
    if probe:
        _probe()
    model = HubModel(repo_id=repo_id, sources=[])
    with (
        hub_errors("reading a model card", repo_id=repo_id, revision=revision),
        bounded(
            "reading a model card", deadline_s=2 * timeout_s(), max_bytes=HUB_METADATA_MAX_BYTES
        ),
    ):
        try:
            path = hf_hub_download(
                repo_id,
                CARD_FILENAME,
                revision=revision,
                endpoint=endpoint(),
                etag_timeout=timeout_s(),
                cache_dir=hf_cache_dir(),
            )
        except Exception as exc:  # noqa: BLE001 - sorted out below
            from huggingface_hub import errors as hf

            if isinstance(exc, hf.RemoteEntryNotFoundError):
                model.problem = f"no {CARD_FILENAME}"
                return model
            raise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CardWarning)
            card = load_card(Path(str(path)), strict=False)
    except CardError as exc:
        model.problem = str(exc).split(": ", 1)[-1].replace("\n", " ")
        return model
    model.effect_type = card.effect_type
    model.domain_tags = list(card.domain_tags)
    model.short_description = card.short_description
    model.long_description = card.long_description
    model.tags = list(card.tags)
    model.labels = list(card.labels)
    model.sample_rate = card.sample_rate
    model.license = card.license
    model.author = _author(card)
    return model


def _author(card: Any) -> str | None:
    """One line naming who made a model: the card's ``author``, else its ``authors``."""
    if card.author:
        return str(card.author)
    return ", ".join(card.authors) if card.authors else None


# --- internals --------------------------------------------------------------------------


def _ttl() -> float:
    from deepfx.settings import hub_ttl_s

    return hub_ttl_s(DEFAULT_TTL_S)


def _cache_path(cache_dir: Path | None) -> Path:
    if cache_dir is None:
        from deepfx.store import default_root, inside_root

        root = default_root()
        return inside_root(root, root / "cache" / "hub-models.json", what="the listing cache")
    return Path(cache_dir) / "hub-models.json"


def _read_cache(path: Path) -> tuple[float, list[HubModel], str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("endpoint") != endpoint():
            return None
        models = [HubModel(**m) for m in data["models"]]
        return float(data["time"]), models, str(data["fetched_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _probe() -> None:
    """One quick request without retries, so an unreachable hub is known in one timeout.

    (``list_models`` retries a refused connection for about 20 s, and ``hf_hub_download``
    silently falls back to its cache: neither tells "offline" quickly.)
    """
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    from deepfx.hub._limits import bounded
    from deepfx.settings import HUB_METADATA_MAX_BYTES

    with (
        hub_errors("checking the hub is reachable"),
        bounded(
            "checking the hub is reachable",
            deadline_s=2 * timeout_s(),
            max_bytes=HUB_METADATA_MAX_BYTES,
        ),
    ):
        resp = get_session().get(
            f"{endpoint()}/api/models",
            params={"filter": SEARCH_TAG, "limit": 1},
            headers=build_hf_headers(),
            timeout=timeout_s(),
        )
        hf_raise_for_status(resp)


def _fetch_listing() -> tuple[list[HubModel], list[str]]:
    """Read the curated lists and the tag search, then each candidate's card."""
    from huggingface_hub import errors as hf
    from huggingface_hub import hf_hub_download

    from deepfx.hub._limits import bounded
    from deepfx.settings import HUB_METADATA_MAX_BYTES

    check_online()
    _probe()
    found: dict[str, list[str]] = {}
    commits: dict[str, str | None] = {}
    notes: list[str] = []
    for repo, file in curated_lists():
        try:
            with (
                hub_errors("reading a curated model list", repo_id=repo),
                bounded(
                    "reading a curated model list",
                    deadline_s=2 * timeout_s(),
                    max_bytes=HUB_METADATA_MAX_BYTES,
                ),
            ):
                try:
                    path = hf_hub_download(
                        repo,
                        file,
                        endpoint=endpoint(),
                        etag_timeout=timeout_s(),
                        cache_dir=hf_cache_dir(),
                    )
                except (hf.RepositoryNotFoundError, hf.RemoteEntryNotFoundError):
                    notes.append(f"curated list {repo}:{file} not found on {endpoint()}")
                    continue
        except NetworkError:
            raise
        try:
            ids = json.loads(Path(str(path)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            notes.append(f"curated list {repo}:{file} is not valid JSON; skipped")
            continue
        if not isinstance(ids, list):
            notes.append(f"curated list {repo}:{file} is not a JSON array; skipped")
            continue
        for rid in ids:
            if isinstance(rid, str) and "/" in rid:
                found.setdefault(rid.strip(), []).append(f"curated:{repo}")
    for tag in SEARCH_TAGS:  # deepfx-only models (the old host cannot run) carry no `audacity`
        what = f"searching models tagged {tag!r}"
        with (
            hub_errors(what),
            # every page of the listing together: 10 x DEEPFX_HUB_TIMEOUT
            bounded(what, deadline_s=10 * timeout_s(), max_bytes=HUB_METADATA_MAX_BYTES),
        ):
            for info in api().list_models(filter=tag, full=True):
                sources = found.setdefault(info.id, [])
                if "tag" not in sources:
                    sources.append("tag")
                commits[info.id] = info.sha
    from concurrent.futures import ThreadPoolExecutor

    def card_of(rid: str) -> HubModel:
        try:
            return remote_card(rid, probe=False)
        except NetworkError:
            raise
        except (HubError, UsageError) as exc:  # a bad id in a list: shown, not fatal
            return HubModel(repo_id=rid, sources=[], problem=str(exc))

    ids = sorted(found, key=str.lower)
    # cards are small: fetch a few at once so a long list does not take N round trips
    with ThreadPoolExecutor(max_workers=min(8, max(1, len(ids)))) as pool:
        models = list(pool.map(card_of, ids))
    for model in models:
        model.sources = found[model.repo_id]
        model.commit = commits.get(model.repo_id)
    return models, notes

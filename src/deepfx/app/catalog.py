"""What the library lists: installed models and available ones, as plain rows (no Qt).

Installed rows come from :meth:`deepfx.store.Store.installed` (offline); available rows
from :func:`deepfx.hub.search` (built-ins first, then the curated lists and the hub's
``audacity`` tag, cached). One :class:`Entry` per model name, holding both when a model
is installed *and* listed, so a row can say "update available".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from deepfx.hub import HubModel, SearchResult
    from deepfx.store import InstalledModel

__all__ = ["DOMAINS", "Entry", "installed_entries", "merge", "parse_query"]

DOMAINS = ("music", "speech", "environmental", "other")
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class Entry:
    """One model as a row: what the card says, and its state in the store."""

    name: str
    kind: str  # "effect", "analyzer" or "?" (card unreadable)
    source: str  # "builtin", "hub" or "local"
    description: str = ""
    long_description: str = ""
    author: str = ""
    domains: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sample_rate: int | None = None
    license: str | None = None
    size: int | None = None  # bytes on disk (installed) or to download (when known)
    installed: InstalledModel | None = None
    remote: HubModel | None = None
    problem: str | None = None
    exported_with: dict[str, str] = field(default_factory=dict)
    #: set by the window while an install runs or after one failed
    activity: str | None = None

    @property
    def is_installed(self) -> bool:
        return self.installed is not None

    @property
    def update_available(self) -> bool:
        inst, rem = self.installed, self.remote
        if inst is None or rem is None or inst.source != "hub" or inst.pinned:
            return False
        return bool(rem.commit) and rem.commit != inst.commit

    @property
    def status(self) -> str:
        """``installed`` · ``update available`` · ``installing 42 %`` · ``failed: why`` ·
        ``not installed`` (``· needs network`` for an entry of the shipped curated
        snapshot, listed offline) · ``card problem: why``."""
        if self.activity:
            return self.activity
        if self.problem and not self.is_installed:
            why = " ".join(self.problem.split())
            why = why.split(" - ", 1)[1] if " - " in why else why  # the field, not the preamble
            return f"card problem: {why}"
        if self.update_available:
            return "update available"
        if self.is_installed:
            return "installed"
        if self.remote is not None and getattr(self.remote, "needs_network", False):
            return "not installed · needs network"  # from the list shipped with deepfx
        return "not installed"

    @property
    def size_text(self) -> str:
        from deepfx.store import human_size

        return human_size(self.size) if self.size else ""

    def matches(self, text: str, domain: str | None) -> bool:
        if domain and domain not in self.domains:
            return False
        hay = " ".join(
            [self.name, self.author, self.description, self.long_description, *self.tags]
            + self.labels
        ).lower()
        return all(word in hay for word in text.lower().split())


def _full_card(folder: Path) -> dict[str, Any]:
    """The installed folder's metadata.json as plain JSON (licence, authors, long
    description, exporting versions: the manifest keeps only a summary), {} if unreadable."""
    try:
        data = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def installed_entries(models: list[InstalledModel]) -> list[Entry]:
    """Rows for what the store holds (reads manifests and cards as JSON: offline, no torch)."""
    out = []
    for m in models:
        card: dict[str, Any] = {**_full_card(m.folder), **m.card}
        authors = card.get("authors")
        author = card.get("author") or (", ".join(map(str, authors)) if authors else "")
        out.append(
            Entry(
                name=m.name,
                kind=m.kind,
                source=m.source,
                description=str(card.get("short_description", "")),
                long_description=str(card.get("long_description", "")),
                author=str(author),
                license=card.get("license"),
                exported_with=dict(card.get("exported_with") or {}),
                domains=[str(d).lower() for d in card.get("domain_tags", [])],
                tags=list(card.get("tags", [])),
                labels=list(card.get("labels", [])),
                sample_rate=card.get("sample_rate"),
                size=m.size,
                installed=m,
            )
        )
    return out


def merge(installed: list[Entry], found: SearchResult | None) -> tuple[list[Entry], list[Entry]]:
    """Split into (installed rows, available rows); a listed model that is installed
    lends its hub data (commit, licence, long description) to the installed row."""
    by_name = {e.name: e for e in installed}
    available: list[Entry] = []
    for rm in found.models if found is not None else []:
        have = by_name.get(rm.repo_id)
        if have is not None:
            have.remote = rm
            have.long_description = have.long_description or rm.long_description
            have.license = have.license or rm.license
            have.author = have.author or (rm.author or "")
            continue
        source = "builtin" if rm.sources == ["builtin"] else "hub"
        available.append(
            Entry(
                name=rm.repo_id,
                kind=rm.kind,
                source=source,
                description=rm.short_description,
                long_description=rm.long_description,
                author=rm.author or ("" if source == "builtin" else rm.repo_id.split("/")[0]),
                domains=[d.lower() for d in rm.domain_tags],
                tags=list(rm.tags),
                labels=list(rm.labels),
                sample_rate=rm.sample_rate,
                license=rm.license,
                remote=rm,
                problem=rm.problem,
            )
        )
    return installed, available


def parse_query(text: str, *, endpoint: str) -> tuple[str, str]:
    """``("repo", "user/model")`` for a repo id or a hub URL, else ``("text", words)``.

    Accepts ``user/model``, ``user/model@rev``, ``https://huggingface.co/user/model``,
    ``.../user/model/tree/main`` and the same under ``endpoint`` (``HF_ENDPOINT``).
    """
    text = text.strip()
    if text.startswith(("http://", "https://")):
        parts = [p for p in urlsplit(text).path.split("/") if p]
        base = [p for p in urlsplit(endpoint).path.split("/") if p]
        parts = parts[len(base) :] if parts[: len(base)] == base else parts
        if parts and parts[0] == "models":
            parts = parts[1:]
        if len(parts) >= 2 and _REPO_RE.match(f"{parts[0]}/{parts[1]}"):
            return "repo", f"{parts[0]}/{parts[1]}"
        return "text", text
    if (
        " " not in text
        and _REPO_RE.match(text.split("@", 1)[0])
        and not text.startswith(("builtin/", "local/"))
    ):
        return "repo", text
    return "text", text

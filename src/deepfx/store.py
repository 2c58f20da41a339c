"""The store: installed models on disk, verified, atomic, updatable.

Layout (``<root>`` is ``DEEPFX_HOME``, else the platform's user data folder)::

    <root>/models/<org>/<name>/
        active.json              {"revision": "<folder>"}  written atomically
        <folder>/                one complete model folder per installed revision
            metadata.json, model.pt, README.md, ...
            .deepfx-manifest.json  name, source, repo id, commit, files + hashes, ...
    <root>/locks/                one file lock per model (concurrent installs)
    <root>/tmp/                  downloads in progress (same filesystem: renames are atomic);
                                 .partial-<org>--<name>-<commit>/ a cancelled download kept
                                 for resuming (deleted after a day, or by discard_partial)
    <root>/cache/                hub listings (time-to-live)

Hub models are named ``<org>/<name>`` as on the hub; local ones ``local/<name>``;
built-ins ``builtin/<name>``. Where a model comes from is a :class:`deepfx.sources.Source`
(hub, local folder / .zip, built-in): the store picks one in :meth:`Store.install` and
keeps the rest (layout, manifest, lock, check, switch) the same for all. An install has
the source fill a folder under ``<root>/tmp``, verifies every file, checks the folder
(:func:`deepfx.folder.check_folder`: card, kind, network loads), and only then renames
the folder into place and switches ``active.json``: a failure at any step leaves nothing
behind, and the previous revision keeps working until the switch (the steps are listed in
``Store._install``).

Every path the store writes or removes goes through :meth:`Store._checked`: it must
resolve, after links, inside ``<root>``, else :class:`~deepfx.errors.StorePathError` and
nothing is touched. Folder names come only from checked values (a 40-hex commit id, a
content hash, a validated model name), never from a server or a card unchecked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepfx._fs import atomic_write_text
from deepfx.card import Kind, ModelCard
from deepfx.errors import (
    AlreadyInstalledError,
    DiskFullError,
    HubError,
    ModelNotFoundError,
    NotInstalledError,
    StorePathError,
)
from deepfx.folder import check_folder, check_kind, move_folder_into_place
from deepfx.sources import (
    DownloadCallback,
    Origin,
    Source,
    StepCallback,
    human_size,
    is_commit,
    split_spec,
    step,
)
from deepfx.sources.builtin import BuiltinSource, builtin_spec
from deepfx.sources.hub import NAME_RE, HubSource, partial_prefix
from deepfx.sources.local import LocalSource

if TYPE_CHECKING:
    from deepfx.engine.events import CancelToken

__all__ = [
    "human_size",
    "InstallResult",
    "InstalledModel",
    "RemovePlan",
    "Store",
    "UpdateResult",
    "default_root",
    "ensure_installed",
    "find_installed",
    "lookup",
    "derived_network",
    "optimized_network",
]

MANIFEST_NAME = ".deepfx-manifest.json"
ACTIVE_NAME = "active.json"
_NAME_RE = NAME_RE
#: The only names a revision folder can have: a hub commit, or a local/built-in content id.
_FOLDER_RE = re.compile(r"^(?:[0-9a-f]{40}|(?:local|builtin)-[0-9a-f]{16})$")


def default_root() -> Path:
    """Where models live: ``DEEPFX_HOME`` if set, else the user data folder (platformdirs)."""
    from deepfx.settings import home

    return home()


def inside_root(root: Path, path: Path, *, what: str = "a store path") -> Path:
    """``path`` if it resolves, after every link, to ``root`` or below it; else
    :class:`StorePathError`. The one check every store write and removal goes through."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real == real_root or real.is_relative_to(real_root):
        return path
    raise StorePathError(
        f"refusing to touch {what} {path}: it resolves to {real}, outside the store "
        f"{real_root}; nothing was written or removed (remove the link or fix DEEPFX_HOME)"
    )


@dataclass(frozen=True)
class InstalledModel:
    """One installed model as its manifest records it (no network needed to read it)."""

    name: str
    source: Origin
    folder: Path
    commit: str
    revision: str | None
    pinned: bool
    repo_id: str | None
    size: int
    installed_at: str
    card: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    card_warnings: list[str] = field(default_factory=list)
    #: The derived ONNX network's record (:class:`deepfx.optimize.Optimized` as a dict):
    #: both timings, the runner deepfx uses, or why there is none; ``None``: never tried.
    optimized: dict[str, Any] | None = None

    @property
    def optimized_line(self) -> str:
        """``optimized: 2.1x faster (...)`` / ``not optimized: <why>`` (``models info``,
        the window's details)."""
        from deepfx.optimize import Optimized

        rec = Optimized.from_dict(self.optimized)
        if rec is None:
            return "not optimized: not tried yet (deepfx models optimize " + self.name + ")"
        return rec.line()

    @property
    def kind(self) -> str:
        return "analyzer" if self.card.get("effect_type") == "waveform-to-labels" else "effect"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``deepfx models list --json``)."""
        return {
            "name": self.name,
            "source": self.source,
            "type": self.kind,
            "repo_id": self.repo_id,
            "commit": self.commit,
            "revision": self.revision,
            "pinned": self.pinned,
            "size": self.size,
            "installed_at": self.installed_at,
            "folder": str(self.folder),
            "card": self.card,
            "files": self.files,
            "card_warnings": self.card_warnings,
            "optimized": self.optimized,
        }


@dataclass(frozen=True)
class InstallResult:
    model: InstalledModel
    replaced: str | None = None  # the commit that was active before, if any
    #: what changed against the replaced revision, one line per file ("model.pt: changed
    #: (1.2 MB -> 1.3 MB)", "notes.txt: added", ...); empty for a first install
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateResult:
    name: str
    old_commit: str
    new_commit: str
    changed: bool
    note: str = ""


@dataclass
class RemovePlan:
    """What :meth:`Store.remove` will delete; nothing happens until :meth:`execute`."""

    name: str
    folder: Path
    paths: list[Path]
    bytes_freed: int
    _store_root: Path

    def execute(self) -> int:
        """Delete the model (rename aside first, so a half-deleted model is never listed).

        Returns the number of bytes freed.
        """
        store = Store(self._store_root)
        with store._lock(self.name):  # not while it is being installed
            folder = store._checked(self.folder, "the model folder")
            if folder != store._model_dir(self.name):
                raise StorePathError(f"refusing to remove {folder}: not the folder of {self.name}")
            if not folder.exists():
                raise NotInstalledError(self.name, suggestion=suggest_name(self.name))
            trash = store._work_dir(".remove-")
            try:
                os.replace(folder, trash / "model")
            finally:
                shutil.rmtree(trash, ignore_errors=True)
            _prune_empty(folder.parent, stop=store.models_dir)
            _prune_empty(trash.parent, stop=store.root)
        return self.bytes_freed


class Store:
    """Installed models under ``root`` (default :func:`default_root`).

    All methods that only read (``installed``, ``info``, ``folder``) work offline.
    """

    def __init__(self, root: Path | str | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()

    def __repr__(self) -> str:
        return f"<Store {self.root}>"

    # --- reading -----------------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def installed(self) -> list[InstalledModel]:
        """Every installed model, sorted by name. Broken entries are skipped."""
        out: list[InstalledModel] = []
        if not self.models_dir.is_dir():
            return out
        for org in sorted(p for p in self.models_dir.iterdir() if p.is_dir()):
            for model_dir in sorted(p for p in org.iterdir() if p.is_dir()):
                entry = self._read_entry(model_dir)
                if entry is not None:
                    out.append(entry)
        return out

    def resolve_name(self, name: str) -> str:
        """Full name for ``name``: a full ``org/name`` or a unique short name."""
        name = name.strip()
        if "/" in name:
            return name
        matches = [m.name for m in self.installed() if m.name.split("/", 1)[1] == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            err = NotInstalledError(name)
            err.args = (f"{name!r} is ambiguous: {', '.join(matches)}; use the full name",)
            raise err
        raise NotInstalledError(name, suggestion=suggest_name(name))

    def info(self, name: str) -> InstalledModel:
        """The installed model called ``name`` (full or unique short name)."""
        full = self.resolve_name(name)
        entry = self._read_entry(self._model_dir(full))
        if entry is None:
            raise NotInstalledError(name, suggestion=suggest_name(name))
        return entry

    def folder(self, name: str) -> Path:
        """The active model folder of ``name``; raises NotInstalledError."""
        return self.info(name).folder

    # --- installing --------------------------------------------------------------------

    def install(
        self,
        spec: str | Path,
        *,
        revision: str | None = None,
        kind: Kind | None = None,
        name: str | None = None,
        force: bool = False,
        on_step: StepCallback | None = None,
        on_download: DownloadCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstallResult:
        """Install a model from the hub, a local folder / .zip, or the built-ins.

        Parameters
        ----------
        spec
            ``user/model`` (optionally ``user/model@revision``), ``builtin/<x>``, or the
            path of a model folder or .zip.
        revision
            Branch, tag or commit to install and pin (hub only); overrides ``@revision``.
        kind
            ``"effect"`` or ``"analyzer"`` when the caller needs one type: a model of the
            other type is refused with :class:`WrongModelTypeError` before its network is
            downloaded.
        name
            Name for a local model (default: the folder's name), installed as ``local/<name>``.
        force
            Reinstall even if the same commit is installed already.
        on_step
            Called with a short description of each step, for progress display.
        on_download
            Hub installs: called with ``(bytes_done, bytes_total)`` as files download.
        cancel
            Hub installs: a :class:`deepfx.engine.CancelToken`; cancelling raises
            :class:`~deepfx.errors.Cancelled`. Nothing is installed, but the bytes already
            downloaded are kept (see :meth:`partial_size`) and the next install of the
            same commit resumes from them; :meth:`discard_partial` deletes them.
        """
        from deepfx.hub.local import is_local_spec

        text = str(spec)
        if isinstance(spec, Path) or is_local_spec(text):
            return self.add_local(Path(text), name=name, kind=kind, force=force, on_step=on_step)
        source: Source
        if text.startswith("builtin/"):
            source = BuiltinSource.named(text, on_step=on_step)
            check_kind(source.spec.card, kind=kind, name=text)  # before building anything
        else:
            repo_id, at_rev = split_spec(text)
            source = HubSource.resolve(
                repo_id,
                revision=revision or at_rev,
                pinned=is_commit(revision or at_rev),
                work_root=self.root / "tmp",
                kind=kind,
                on_step=on_step,
                on_download=on_download,
                cancel=cancel,
            )
        return self._install(source, kind=kind, force=force, on_step=on_step)

    def add_local(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        kind: Kind | None = None,
        force: bool = False,
        on_step: StepCallback | None = None,
    ) -> InstallResult:
        """Install a local model folder or .zip as ``local/<name>``; nothing is uploaded."""
        source = LocalSource.at(path, name=name, on_step=on_step)
        return self._install(source, kind=kind, force=force, on_step=on_step)

    def update(
        self,
        name: str,
        *,
        revision: str | None = None,
        on_step: StepCallback | None = None,
        on_download: DownloadCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> UpdateResult:
        """Bring a hub model to the current commit of the revision it follows.

        A model installed from a branch (``main`` by default) follows that branch; one
        installed at a commit (``user/model@<sha>`` or ``--revision <sha>``) is pinned and
        stays. ``revision`` switches what the model follows (a branch, tag or commit). The
        old revision stays installed and usable until the new one is verified and in place.
        """
        from deepfx.hub.download import resolve_revision

        current = self.info(name)
        if current.source != "hub" or current.repo_id is None:
            return UpdateResult(
                current.name,
                current.commit,
                current.commit,
                False,
                f"{current.source} models are not updated from the hub",
            )
        if revision is None and current.pinned:
            return UpdateResult(
                current.name,
                current.commit,
                current.commit,
                False,
                f"pinned at commit {current.commit[:12]}; pass --revision main to follow main",
            )
        want = revision or current.revision or "main"
        step(on_step, f"asking the hub for the current commit of {current.repo_id}@{want}")
        remote = resolve_revision(current.repo_id, revision=want)
        if remote.commit == current.commit and want == current.revision:
            return UpdateResult(current.name, current.commit, current.commit, False, "up to date")
        source = HubSource.resolve(
            current.repo_id,
            revision=want,
            pinned=is_commit(want),
            work_root=self.root / "tmp",
            on_step=on_step,
            on_download=on_download,
            cancel=cancel,
            remote=remote,
        )
        self._install(source, kind=None, force=True, on_step=on_step)
        changed = remote.commit != current.commit
        note = "" if changed else f"now following {want}"
        return UpdateResult(current.name, current.commit, remote.commit, changed, note)

    def remove(self, name: str) -> RemovePlan:
        """Plan the removal of ``name``: see what will be freed, then call ``.execute()``.

        The folder removed is the model's own ``<root>/models/<org>/<name>``, derived from
        its name and checked to resolve inside the store, never from what a manifest says.
        """
        full = self.resolve_name(name)
        entry = self.info(full)
        model_dir = self._checked(self._model_dir(full), "the model folder")
        paths: list[Path] = []
        size = 0
        for top, _dirs, names in os.walk(model_dir):  # links are not followed
            for n in names:
                p = Path(top) / n
                st = p.lstat()
                if not p.is_symlink():
                    paths.append(p)
                    size += st.st_size
        return RemovePlan(entry.name, model_dir, sorted(paths), size, self.root)

    def optimize(self, name: str, *, on_step: StepCallback | None = None) -> InstalledModel:
        """Derive, verify and time an ONNX network for the installed model ``name`` (as an
        install does, :mod:`deepfx.optimize`), and record the result in its manifest.

        The original network is never touched; a failed conversion is recorded (and any
        earlier derived file removed), not raised. Returns the updated entry.
        """
        from deepfx.optimize import DERIVED_DIR

        full = self.resolve_name(name)
        with self._lock(full):
            entry = self.info(full)
            folder = self._checked(entry.folder, "the model folder")
            record = _optimize_staged(folder, None, on_step, force=True)
            if record is None or record.get("status") not in ("kept", "slower"):
                shutil.rmtree(self._checked(folder / DERIVED_DIR), ignore_errors=True)
            man_path = self._checked(folder / MANIFEST_NAME, "the manifest")
            man = json.loads(man_path.read_text(encoding="utf-8"))
            man["optimized"] = record
            atomic_write_text(man_path, json.dumps(man, indent=2) + "\n")
            fresh = self._read_entry(self._model_dir(full))
            assert fresh is not None  # just written
            return fresh

    def partial_size(self, repo_id: str) -> int:
        """Bytes of a cancelled (or cut off) download of ``repo_id`` kept for resuming."""
        return sum(
            f.stat().st_size for d in self._partials(repo_id) for f in d.rglob("*") if f.is_file()
        )

    def discard_partial(self, repo_id: str) -> int:
        """Delete the kept partial downloads of ``repo_id``; return the bytes freed."""
        freed = self.partial_size(repo_id)
        for d in self._partials(repo_id):
            shutil.rmtree(d, ignore_errors=True)
        _prune_empty(self.root / "tmp", stop=self.root)
        return freed

    def _partials(self, repo_id: str) -> list[Path]:
        return sorted((self.root / "tmp").glob(f"{partial_prefix(repo_id)}*"))

    # --- internals ---------------------------------------------------------------------

    def _checked(self, path: Path, what: str = "a store path") -> Path:
        """``path`` if it resolves inside the store root (see :func:`inside_root`)."""
        return inside_root(self.root, path, what=what)

    def _model_dir(self, full: str) -> Path:
        if not _NAME_RE.match(full):
            raise NotInstalledError(full, suggestion=suggest_name(full))
        org, model = full.split("/", 1)
        return self.models_dir / org / model

    def _work_dir(self, prefix: str) -> Path:
        """A new private folder under ``<root>/tmp``. Another deepfx may remove the empty
        ``tmp`` folder at any moment (after its own install); then it is made again."""
        tmp_root = self._checked(self.root / "tmp", "the work folder")
        for _ in range(20):
            tmp_root.mkdir(parents=True, exist_ok=True)
            try:
                return Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
            except FileNotFoundError:
                continue
        raise OSError(errno.ENOENT, "the store's work folder keeps disappearing", str(tmp_root))

    def _read_entry(self, model_dir: Path) -> InstalledModel | None:
        try:
            active = json.loads((model_dir / ACTIVE_NAME).read_text(encoding="utf-8"))
            revision = active["revision"]
            if not isinstance(revision, str) or not _FOLDER_RE.match(revision):
                return None  # not a name the store writes: never follow it
            folder = model_dir / revision
            self._checked(folder)
            man = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, StorePathError):
            return None
        return InstalledModel(
            name=man["name"],
            source=man["source"],
            folder=folder,
            commit=man["commit"],
            revision=man.get("revision"),
            pinned=bool(man.get("pinned")),
            repo_id=man.get("repo_id"),
            size=int(man.get("size", 0)),
            installed_at=man.get("installed_at", ""),
            card=man.get("card", {}),
            files=man.get("files", []),
            card_warnings=man.get("card_warnings", []),
            optimized=man.get("optimized") if isinstance(man.get("optimized"), dict) else None,
        )

    @contextlib.contextmanager
    def _lock(self, full: str) -> Iterator[None]:
        from filelock import FileLock, Timeout

        from deepfx.settings import lock_timeout_s

        locks = self._checked(self.root / "locks", "the lock folder")
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(locks / (full.replace("/", "--") + ".lock")))
        try:
            lock.acquire(timeout=lock_timeout_s())
        except Timeout:
            raise HubError(
                f"another deepfx is installing {full} and did not finish in time; try again"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _install(
        self,
        source: Source,
        *,
        kind: Kind | None,
        force: bool,
        on_step: StepCallback | None,
    ) -> InstallResult:
        """Install ``source`` as one transaction; every failure leaves the store as it was.

        Steps:

        1. Check the model's folder and the work folder resolve inside the store; remove
           work folders of installs killed more than a day ago.
        2. Take the model's file lock (another install of it waits, then finds it done).
        3. Refuse if the same commit is installed already (unless ``force``).
        4. Make a private work folder under ``<root>/tmp``; ``source.fetch`` fills its
           ``model/`` folder (download + verify, copy, or build).
        5. :func:`deepfx.folder.check_folder`: read the card, check the kind, load the
           network. Hash the files (unless the source verified them) and name the
           revision folder: the hub commit, or ``<source>-<content hash>``.
        6. Write the manifest into the staged folder (atomically).
        7. Move the staged folder into ``<root>/models/<org>/<name>/<revision>``
           (:func:`deepfx.folder.move_folder_into_place`), then switch ``active.json``
           to it (atomic rename): the one moment the installed model changes.
        8. Delete the work folder, then the other revisions of the model.

        A full disk (``ENOSPC``) at any step is a :class:`DiskFullError`.
        """
        full = source.name
        commit = source.commit
        model_dir = self._checked(self._model_dir(full), "the model folder")
        tmp_root = self._checked(self.root / "tmp", "the work folder")
        try:
            if tmp_root.is_dir():
                _clean_stale(tmp_root)
            with self._lock(full):
                previous = self._read_entry(model_dir)
                # a local folder has no commit before it is read: it is compared by content
                # below, so a changed `local/` model replaces the installed one
                unknown = commit is None and source.origin != "local"
                if previous is not None and not force and (unknown or previous.commit == commit):
                    raise AlreadyInstalledError(
                        f"{full} is already installed (revision {previous.commit[:12]}); "
                        f"use `deepfx models update {full}` or `--force` to reinstall"
                    )
                work = self._work_dir(".install-")
                try:
                    staged = work / "model"
                    staged.mkdir()
                    built = source.fetch(staged)
                    step(on_step, "checking the model card and loading the network")
                    card, card_warnings = check_folder(staged, kind=kind, name=full)
                    files = built if isinstance(built, list) else _hash_folder(staged)
                    if commit is None:
                        commit = _content_id(files)
                    if previous is not None and previous.commit == commit and not force:
                        raise AlreadyInstalledError(
                            f"{full} is already installed with identical files; "
                            "nothing to do (`--force` reinstalls it)"
                        )
                    origin = source.origin
                    folder_name = commit if origin == "hub" else f"{origin}-{commit[:16]}"
                    if not _FOLDER_RE.match(folder_name):
                        raise StorePathError(f"refusing {folder_name!r} as a folder name")
                    manifest = {
                        "name": full,
                        "source": origin,
                        "repo_id": source.repo_id,
                        "revision": source.revision,
                        "pinned": source.pinned,
                        "commit": commit,
                        "endpoint": _endpoint() if origin == "hub" else None,
                        "files": files,
                        "size": sum(int(f["size"]) for f in files),
                        "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "card": _card_summary(card),
                        "card_warnings": card_warnings,
                        "optimized": _optimize_staged(staged, card, on_step),
                    }
                    atomic_write_text(staged / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
                    step(on_step, f"moving {full} into place")
                    created = not model_dir.exists()
                    model_dir.mkdir(parents=True, exist_ok=True)
                    self._checked(model_dir, "the model folder")  # no link planted on the way
                    try:
                        target = self._checked(model_dir / folder_name, "the revision folder")
                        self._checked(model_dir / ACTIVE_NAME, "the active revision file")
                        # the same revision reinstalled with --force replaces its folder
                        move_folder_into_place(staged, target, replace=True, aside=work / "old")
                        atomic_write_text(
                            model_dir / ACTIVE_NAME, json.dumps({"revision": folder_name}) + "\n"
                        )
                    except BaseException:
                        if created:
                            shutil.rmtree(model_dir, ignore_errors=True)
                            _prune_empty(model_dir.parent, stop=self.models_dir)
                        raise
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                _drop_old_revisions(self, model_dir, keep=folder_name)
                entry = self._read_entry(model_dir)
                assert entry is not None  # just written
                changes = file_changes(previous.files, files) if previous else ()
                return InstallResult(entry, previous.commit if previous else None, changes)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"the disk holding {self.root} is full; free some space (or set "
                    "DEEPFX_HOME to a bigger disk) and try again; nothing was installed"
                ) from None
            raise
        finally:
            _prune_empty(tmp_root, stop=self.root)


def lookup(name: str) -> Path:
    """The active folder of the installed model ``name`` (``org/name``, ``local/x``,
    ``builtin/x`` or a unique short name). Only looks: never builds or installs.

    Raises
    ------
    NotInstalledError
        No such model is installed (the message says how to install it).
    """
    return Store().folder(name)


def ensure_installed(name: str) -> Path:
    """:func:`lookup`, except that a built-in not installed yet is installed first (built
    from its packaged weights, atomically): the one place a name leads to an install, and
    a visible one. A hub model is never installed here (that needs the network and the
    user's say: ``deepfx models install``)."""
    try:
        return lookup(name)
    except NotInstalledError:
        if not name.startswith("builtin/"):
            raise
        try:
            builtin_spec(name)
        except ModelNotFoundError:
            raise NotInstalledError(name, suggestion=suggest_name(name)) from None
        try:
            return Store().install(name).model.folder
        except AlreadyInstalledError:  # another process just built it
            return lookup(name)


#: The name callers have used so far; it behaves as :func:`ensure_installed` (built-ins
#: are built on first use). New code says which it means: :func:`lookup` or
#: :func:`ensure_installed`.
find_installed = ensure_installed


# --- helpers ------------------------------------------------------------------------------


def _endpoint() -> str:
    from deepfx.hub._client import endpoint

    return endpoint()


def _optimize_staged(
    folder: Path, card: ModelCard | None, on_step: StepCallback | None, *, force: bool = False
) -> dict[str, Any] | None:
    """The manifest's ``"optimized"`` entry for the model in ``folder``: derive a verified
    ONNX network beside the original (:func:`deepfx.optimize.derive`) unless
    ``DEEPFX_OPTIMIZE`` is off (and not ``force``). Never raises for the model's sake:
    an install does not fail because its network cannot be optimised."""
    from deepfx.settings import optimize_on_install

    if not force and not optimize_on_install():
        return {"status": "off", "runner": "", "note": "DEEPFX_OPTIMIZE is off at install"}
    try:
        import warnings

        from deepfx.card import CardWarning, load_card
        from deepfx.folder import network_file
        from deepfx.optimize import derive_isolated

        if card is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CardWarning)
                card = load_card(folder)
        source = network_file(folder, card)
        step(on_step, f"deriving a faster ONNX version of {source.name} (verified, timed)")
        return derive_isolated(folder, source_file=source).to_dict()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        from deepfx.errors import first_line

        note = f"{type(exc).__name__}: {first_line(exc)[:200]}"
        return {"status": "failed", "runner": "", "note": note}


def optimized_network(folder: Path) -> Path | None:
    """The derived ONNX network deepfx uses by default for the store folder ``folder``, or
    ``None``: none was kept (not tried, failed, slower, off), or its file is missing or is
    not the size and hash recorded. Read from the manifest alone: nothing is loaded."""
    from deepfx.optimize import DERIVED_FILE

    rec = _derived_record(folder)
    if rec is None or rec.get("status") != "kept":
        return None
    return _derived_path(folder, rec, DERIVED_FILE)


def derived_network(folder: Path) -> Path | None:
    """The derived ONNX network of ``folder`` whether or not it was faster (``--runner
    onnx`` asks for it), else ``None``."""
    from deepfx.optimize import DERIVED_FILE

    rec = _derived_record(folder)
    if rec is None or rec.get("status") not in ("kept", "slower"):
        return None
    return _derived_path(folder, rec, DERIVED_FILE)


def _derived_record(folder: Path) -> dict[str, Any] | None:
    try:
        man = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rec = man.get("optimized") if isinstance(man, dict) else None
    return rec if isinstance(rec, dict) else None


def _derived_path(folder: Path, rec: dict[str, Any], rel: str) -> Path | None:
    path = Path(folder) / rel
    if rec.get("file") != rel or not path.is_file() or path.is_symlink():
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path if digest == rec.get("sha256") else None


def _card_summary(card: ModelCard) -> dict[str, Any]:
    return {
        "short_description": card.short_description,
        "effect_type": card.effect_type,
        "domain_tags": list(card.domain_tags),
        "tags": list(card.tags),
        "labels": list(card.labels),
        "sample_rate": card.sample_rate,
        "multichannel": card.multichannel,
    }


def _hash_folder(folder: Path) -> list[dict[str, Any]]:
    from deepfx.hub.download import file_hashes

    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME:
            sha256, blob = file_hashes(p)
            rel = p.relative_to(folder).as_posix()
            out.append({"path": rel, "size": p.stat().st_size, "sha256": sha256, "blob_id": blob})
    return out


def known_model_names() -> list[str]:
    """Every model name known without the network: installed, built-in, the cached hub
    listing and the curated snapshot shipped in the package (for "did you mean?")."""
    from importlib import resources

    names: list[str] = []
    with contextlib.suppress(Exception):
        names += [m.name for m in Store().installed()]
    with contextlib.suppress(Exception):
        from deepfx.builtins import catalog

        names += [s.name for s in catalog()]
    with contextlib.suppress(Exception):
        cache = default_root() / "cache" / "hub-models.json"
        names += [str(m["repo_id"]) for m in json.loads(cache.read_text("utf-8"))["models"]]
    with contextlib.suppress(Exception):
        shipped = resources.files("deepfx.hub").joinpath("curated.json").read_text("utf-8")
        names += [str(m["repo_id"]) for m in json.loads(shipped)["models"]]
    return list(dict.fromkeys(names))


def suggest_name(name: str) -> str:
    """The closest known model name to a mistyped ``name``, or ``""`` (a hint only: a
    store or catalogue that cannot be read gives none)."""
    import difflib

    names = known_model_names()
    if name in names:
        return ""
    lower = {n.lower(): n for n in names}
    key = name.strip().lower()
    if key in lower:
        return lower[key]
    shorts: dict[str, list[str]] = {}
    for n in names:
        shorts.setdefault(n.split("/", 1)[-1].lower(), []).append(n)
    if "/" not in key and len(shorts.get(key, [])) == 1:
        return shorts[key][0]
    close = difflib.get_close_matches(key, list(lower), n=1, cutoff=0.75)
    if close:
        return lower[close[0]]
    short = difflib.get_close_matches(key.split("/", 1)[-1], list(shorts), n=1, cutoff=0.75)
    if short and len(shorts[short[0]]) == 1:
        return shorts[short[0]][0]
    return ""


def file_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> tuple[str, ...]:
    """One line per file that differs between two manifests' file lists (sorted by path)."""

    before = {str(f["path"]): f for f in old}
    after = {str(f["path"]): f for f in new}
    out = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a is None and b is not None:
            out.append(f"{path}: added ({human_size(int(b['size']))})")
        elif b is None and a is not None:
            out.append(f"{path}: removed")
        elif a is not None and b is not None:
            if (a.get("sha256") or a.get("blob_id")) != (b.get("sha256") or b.get("blob_id")):
                was, now = human_size(int(a["size"])), human_size(int(b["size"]))
                out.append(f"{path}: changed ({was} -> {now})")
    return tuple(out)


def _content_id(files: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: str(f["path"])):
        h.update(f"{f['path']}\0{f.get('sha256') or f.get('blob_id')}\n".encode())
    return h.hexdigest()


def _drop_old_revisions(store: Store, model_dir: Path, *, keep: str) -> None:
    """Delete revisions other than ``keep``. On POSIX a process still running the old
    network keeps its open files; on Windows a locked folder is left for the next install.
    A link found here is removed itself, never what it points to."""
    for p in model_dir.iterdir():
        if p.name == keep or p.name == ACTIVE_NAME:
            continue
        if p.is_symlink():
            p.unlink(missing_ok=True)
        elif p.is_dir():
            shutil.rmtree(store._checked(p, "an old revision"), ignore_errors=True)


def _clean_stale(tmp_root: Path, *, older_than_s: float = 24 * 3600) -> None:
    """Remove work folders left by installs that were killed (power loss, kill -9)."""
    import time

    now = time.time()
    for p in tmp_root.glob(".*-*"):
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)


def _prune_empty(folder: Path, *, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while empty."""
    folder, stop = Path(folder), Path(stop)
    while folder != stop and stop in folder.parents:
        try:
            inside_root(stop, folder)
            folder.rmdir()
        except (OSError, StorePathError):
            return
        folder = folder.parent

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
built-ins ``builtin/<name>``. An install downloads (or copies, or builds) into
``<root>/tmp``, verifies every file, validates the card and loads the network, and only
then renames the folder into place and switches ``active.json``: a failure at any step
leaves nothing behind, and the previous revision keeps working until the switch.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deepfx._fs import atomic_write_text
from deepfx.card import Kind, ModelCard
from deepfx.errors import (
    AlreadyInstalledError,
    Cancelled,
    DiskFullError,
    HubError,
    ModelNotFoundError,
    NetworkError,
    NotInstalledError,
    StorePathError,
)
from deepfx.folder import check_folder, check_kind, move_folder_into_place, read_card_notes

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
    "find_installed",
]

MANIFEST_NAME = ".deepfx-manifest.json"
ACTIVE_NAME = "active.json"
Source = Literal["hub", "local", "builtin"]
#: Called with a one-line description of each install step ("downloading model.pt").
StepCallback = Callable[[str], None]
#: Called as ``on_download(bytes_done, bytes_total)`` over all files of a hub install.
DownloadCallback = Callable[[int, int], None]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
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
    source: Source
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
        }


@dataclass(frozen=True)
class InstallResult:
    model: InstalledModel
    replaced: str | None = None  # the commit that was active before, if any


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
                raise NotInstalledError(self.name)
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
        raise NotInstalledError(name)

    def info(self, name: str) -> InstalledModel:
        """The installed model called ``name`` (full or unique short name)."""
        full = self.resolve_name(name)
        entry = self._read_entry(self._model_dir(full))
        if entry is None:
            raise NotInstalledError(name)
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
        if text.startswith("builtin/"):
            return self._install_builtin(text, kind=kind, force=force, on_step=on_step)
        repo_id, at_rev = _split_spec(text)
        return self._install_hub(
            repo_id,
            revision=revision or at_rev,
            pinned=_is_commit(revision or at_rev),
            kind=kind,
            force=force,
            on_step=on_step,
            on_download=on_download,
            cancel=cancel,
        )

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
        from deepfx.hub.local import copy_local

        path = Path(path).expanduser()
        stem = name or (path.stem if path.suffix.lower() == ".zip" else path.resolve().name)
        full = f"local/{_slug(stem)}"

        def build(dest: Path) -> None:
            _step(on_step, f"copying {path}")
            copy_local(path, dest)

        return self._install(
            full,
            source="local",
            repo_id=None,
            commit=None,
            revision=None,
            pinned=False,
            build=build,
            kind=kind,
            force=force,
            on_step=on_step,
        )

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
        _step(on_step, f"asking the hub for the current commit of {current.repo_id}@{want}")
        remote = resolve_revision(current.repo_id, revision=want)
        if remote.commit == current.commit and want == current.revision:
            return UpdateResult(current.name, current.commit, current.commit, False, "up to date")
        self._install_hub(
            current.repo_id,
            revision=want,
            pinned=_is_commit(want),
            kind=None,
            force=True,
            on_step=on_step,
            remote=remote,
            on_download=on_download,
            cancel=cancel,
        )
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
        return sorted((self.root / "tmp").glob(f"{_partial_prefix(repo_id)}*"))

    # --- internals ---------------------------------------------------------------------

    def _checked(self, path: Path, what: str = "a store path") -> Path:
        """``path`` if it resolves inside the store root (see :func:`inside_root`)."""
        return inside_root(self.root, path, what=what)

    def _model_dir(self, full: str) -> Path:
        if not _NAME_RE.match(full):
            raise NotInstalledError(full)
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

    def _install_hub(
        self,
        repo_id: str,
        *,
        revision: str | None,
        pinned: bool,
        kind: Kind | None,
        force: bool,
        on_step: StepCallback | None,
        remote: Any = None,
        on_download: DownloadCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstallResult:
        from deepfx.hub._client import check_repo_id
        from deepfx.hub.download import check_commit, fetch_revision, resolve_revision

        if repo_id.count("/") <= 1:  # more looks like a path: the message below says so
            check_repo_id(repo_id)  # the hub's own rules, before any request: UsageError
        if not _NAME_RE.match(repo_id):
            raise ModelNotFoundError(
                f"{repo_id!r} is not a repo id (`user/model`), a built-in (`builtin/<x>`) "
                "or an existing folder / .zip"
            )
        if remote is None:
            _step(on_step, f"looking up {repo_id}" + (f"@{revision}" if revision else ""))
            remote = resolve_revision(repo_id, revision=revision)
        commit = check_commit(remote.commit, repo_id)

        def build(dest: Path) -> list[dict[str, Any]]:
            free = shutil.disk_usage(dest).free
            if free < remote.size:
                raise DiskFullError(
                    f"{repo_id} needs {human_size(remote.size)} but the disk holding {self.root} "
                    f"has {human_size(free)} free; free some space (or set DEEPFX_HOME to a bigger "
                    "disk) and try again; nothing was installed"
                )

            sizes = {f.path: f.size for f in remote.files}
            finished: dict[str, int] = {}

            def on_file(path: str, i: int, n: int, done: int) -> None:
                total = human_size(sizes.get(path, 0))
                _step(on_step, f"downloading {path} ({i + 1}/{n}): {human_size(done)} of {total}")
                if on_download is not None:
                    for earlier in finished:  # files before this one are complete (a file
                        finished[earlier] = sizes.get(earlier, 0)  # kept from before: no bytes)
                    finished[path] = done
                    on_download(sum(finished.values()), remote.size)

            # Downloads go to a folder named after the commit and kept when cancelled or
            # cut off, so the next install of that commit resumes (huggingface_hub picks up
            # its .incomplete files); it becomes the staged folder once complete.
            partial = self.root / "tmp" / f"{_partial_prefix(repo_id)}{remote.commit}"
            try:
                records = fetch_revision(
                    remote,
                    partial,
                    first=lambda d: read_card_notes(d, kind=kind, name=repo_id),
                    on_file=on_file,
                    cancel=cancel,
                )
            except (Cancelled, NetworkError):
                raise
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            if on_download is not None:
                on_download(remote.size, remote.size)
            dest.rmdir()
            os.replace(partial, dest)
            return [r.to_dict() for r in records]

        return self._install(
            repo_id,
            source="hub",
            repo_id=repo_id,
            commit=commit,
            revision=revision or "main",
            pinned=pinned,
            build=build,
            kind=kind,
            force=force,
            on_step=on_step,
        )

    def _install_builtin(
        self, full: str, *, kind: Kind | None, force: bool, on_step: StepCallback | None
    ) -> InstallResult:
        spec = _builtin_spec(full)

        def build(dest: Path) -> None:
            _step(on_step, f"building {full} from packaged weights")
            spec.build(dest)

        check_kind(spec.card, kind=kind, name=full)
        return self._install(
            full,
            source="builtin",
            repo_id=None,
            commit=None,
            revision=None,
            pinned=False,
            build=build,
            kind=kind,
            force=force,
            on_step=on_step,
        )

    def _install(
        self,
        full: str,
        *,
        source: Source,
        repo_id: str | None,
        commit: str | None,
        revision: str | None,
        pinned: bool,
        build: Callable[[Path], Any],
        kind: Kind | None,
        force: bool,
        on_step: StepCallback | None,
    ) -> InstallResult:
        model_dir = self._checked(self._model_dir(full), "the model folder")
        tmp_root = self._checked(self.root / "tmp", "the work folder")
        try:
            if tmp_root.is_dir():
                _clean_stale(tmp_root)
            with self._lock(full):
                previous = self._read_entry(model_dir)
                if (
                    previous is not None
                    and not force
                    and (commit is None or previous.commit == commit)
                ):
                    raise AlreadyInstalledError(
                        f"{full} is already installed (revision {previous.commit[:12]}); "
                        f"use `deepfx models update {full}` or `--force` to reinstall"
                    )
                work = self._work_dir(".install-")
                try:
                    staged = work / "model"
                    staged.mkdir()
                    built = build(staged)
                    _step(on_step, "checking the model card and loading the network")
                    card, card_warnings = check_folder(staged, kind=kind, name=full)
                    files = built if isinstance(built, list) else _hash_folder(staged)
                    if commit is None:
                        commit = _content_id(files)
                    if previous is not None and previous.commit == commit and not force:
                        raise AlreadyInstalledError(
                            f"{full} is already installed with identical files; "
                            "use `--force` to reinstall"
                        )
                    folder_name = commit if source == "hub" else f"{source}-{commit[:16]}"
                    if not _FOLDER_RE.match(folder_name):
                        raise StorePathError(f"refusing {folder_name!r} as a folder name")
                    manifest = {
                        "name": full,
                        "source": source,
                        "repo_id": repo_id,
                        "revision": revision,
                        "pinned": pinned,
                        "commit": commit,
                        "endpoint": _endpoint() if source == "hub" else None,
                        "files": files,
                        "size": sum(int(f["size"]) for f in files),
                        "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "card": _card_summary(card),
                        "card_warnings": card_warnings,
                    }
                    atomic_write_text(staged / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
                    _step(on_step, f"moving {full} into place")
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
                return InstallResult(entry, previous.commit if previous else None)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"the disk holding {self.root} is full; free some space (or set "
                    "DEEPFX_HOME to a bigger disk) and try again; nothing was installed"
                ) from None
            raise
        finally:
            _prune_empty(tmp_root, stop=self.root)


def find_installed(name: str) -> Path:
    """The folder of the installed model ``name`` (``org/name``, ``local/x``,
    ``builtin/x`` or a unique short name). Built-ins are built on first use.

    Raises
    ------
    NotInstalledError
        No such model is installed (the message says how to install it).
    """
    store = Store()
    try:
        return store.folder(name)
    except NotInstalledError:
        if name.startswith("builtin/"):
            try:
                _builtin_spec(name)
            except ModelNotFoundError:
                raise NotInstalledError(name) from None
            try:
                return store.install(name).model.folder
            except AlreadyInstalledError:  # another process just built it
                return store.folder(name)
        raise


# --- helpers ------------------------------------------------------------------------------


def _step(cb: StepCallback | None, text: str) -> None:
    if cb is not None:
        cb(text)


def _endpoint() -> str:
    from deepfx.hub._client import endpoint

    return endpoint()


def _split_spec(text: str) -> tuple[str, str | None]:
    if "@" in text:
        repo, rev = text.rsplit("@", 1)
        return repo.strip(), rev.strip() or None
    return text.strip(), None


def _is_commit(revision: str | None) -> bool:
    """A full commit sha pins a model; a branch or tag name is followed by updates."""
    return revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision) is not None


def _partial_prefix(repo_id: str) -> str:
    """Name start of a kept partial download in ``<root>/tmp`` (``.partial-org--name-``)."""
    return f".partial-{repo_id.replace('/', '--')}-"


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug or "model"


def human_size(n: int | None) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units, as disks and the hub count); ``-`` if unknown."""
    if not n:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _builtin_spec(full: str) -> Any:
    """The :class:`deepfx.builtins.BuiltinSpec` called ``full``; a deepfx without the
    built-ins package (or with a family module missing) has none."""
    try:
        from deepfx.builtins import catalog

        specs = catalog()
    except ImportError:
        raise ModelNotFoundError(
            f"{full}: no built-in models are available in this installation"
        ) from None
    for spec in specs:
        if spec.name == full:
            return spec
    names = ", ".join(s.name for s in specs) or "none"
    raise ModelNotFoundError(f"no built-in model {full!r}; available: {names}")


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

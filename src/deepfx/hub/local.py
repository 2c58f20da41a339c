"""Local sources: a model folder or a .zip of one. Private models never leave the machine.

What is copied, and what is refused (:class:`~deepfx.errors.UnsafeSourceError`, naming
the entry):

* a link is copied as the file it points to only when its real path (after every link)
  is inside the source folder (inside the zip); a link out of it (``weights.bin ->
  /etc/passwd``, an ONNX external-data file pointing elsewhere) is refused;
* a link to a folder inside the source is copied as that folder, unless it is the folder
  itself or one above it (``loop -> .``): a loop is refused, never copied 41 times;
* special files (FIFOs, sockets, devices) are refused;
* at most ``DEEPFX_LOCAL_MAX_FILES`` files and folders and ``DEEPFX_LOCAL_MAX_BYTES`` bytes are
  copied (see :mod:`deepfx.settings`), counted as they are copied, so no layout of links
  can copy without end.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from deepfx.card import CARD_FILENAME
from deepfx.errors import CardError, ModelNotFoundError, UnsafeSourceError

__all__ = ["copy_local", "is_local_spec"]

#: Never copied from a local folder: version control, caches, editor litter.
_IGNORED = frozenset({".git", "__pycache__", ".cache", ".DS_Store"})
#: Links followed one after the other inside a zip before it counts as a loop.
_MAX_ZIP_LINK_HOPS = 40


def is_local_spec(spec: str) -> bool:
    """True when ``spec`` names an existing folder or .zip file (not a repo id)."""
    p = Path(spec).expanduser()
    return p.is_dir() or (p.is_file() and p.suffix.lower() == ".zip")


@dataclass
class _Budget:
    """Files and bytes left to copy; exceeding either refuses the whole source."""

    src: Path
    files: int
    bytes: int

    @classmethod
    def from_settings(cls, src: Path) -> _Budget:
        from deepfx.settings import local_max_bytes, local_max_files

        return cls(src, local_max_files(), local_max_bytes())

    def take(self, size: int, name: str) -> None:
        self.files -= 1
        self.bytes -= size
        if self.files < 0:
            raise UnsafeSourceError(
                f"{self.src} holds more files and folders than add-local copies "
                f"(DEEPFX_LOCAL_MAX_FILES); refused at {name!r}, nothing was installed"
            )
        if self.bytes < 0:
            raise UnsafeSourceError(
                f"{self.src} holds more bytes than add-local copies "
                f"(DEEPFX_LOCAL_MAX_BYTES); refused at {name!r}, nothing was installed"
            )


def copy_local(src: Path, dest: Path) -> None:
    """Copy a model folder, or safely extract a .zip of one, into the empty folder ``dest``.

    A zip may hold the model files at its top level or inside one folder. Entries with
    absolute paths, ``..`` parts, drive letters or NUL are refused (path traversal), so a
    zip cannot write outside ``dest``; links follow the rules in the module docstring.
    """
    src = Path(src).expanduser()
    if src.is_dir():
        if not (src / CARD_FILENAME).is_file():
            raise CardError(f"no {CARD_FILENAME} in this folder; is it a model folder?", path=src)
        root = Path(os.path.realpath(src))
        _copy_tree(root, root, Path(dest), _Budget.from_settings(src), (root,))
        return
    if not src.is_file():
        raise ModelNotFoundError(f"{src} is neither a model folder nor a .zip file")
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile:
        raise ModelNotFoundError(f"{src} is not a valid .zip file") from None
    with zf:
        _extract_zip(src, zf, Path(dest))
    if not (dest / CARD_FILENAME).is_file():
        raise CardError(f"no {CARD_FILENAME} in this zip; zip a model folder", path=src)


# --- folders ------------------------------------------------------------------------------


def _copy_tree(
    root: Path, folder: Path, dest: Path, budget: _Budget, chain: tuple[Path, ...]
) -> None:
    """Copy ``folder`` (a real path inside ``root``) into ``dest``. ``chain`` holds the real
    folders being copied, outermost first: a link back to one of them is a loop.

    Files are copied one by one so an OSError (a full disk) surfaces as itself, not as the
    aggregated ``shutil.Error`` that ``copytree`` raises.
    """
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name
        if name in _IGNORED or name.endswith(".pyc"):
            continue
        here = Path(entry.path)
        shown = _rel(root, here, budget.src)
        real = here
        if entry.is_symlink():
            real = Path(os.path.realpath(here))
            if not (real == root or real.is_relative_to(root)):
                raise UnsafeSourceError(
                    f"{shown} is a link to {real}, outside the model folder; add-local copies "
                    "only links that stay inside it. Replace the link with the file itself"
                )
        try:
            st = real.stat()
        except OSError:
            raise UnsafeSourceError(f"{shown} is a broken link; remove or fix it") from None
        target = dest / name
        if stat.S_ISDIR(st.st_mode):
            if real in chain:
                raise UnsafeSourceError(
                    f"{shown} is a link to the folder it is in (or one above it): a link loop; "
                    "refused, remove the link"
                )
            budget.take(0, shown)  # folders count too: links cannot make endless empty ones
            target.mkdir(exist_ok=True)
            _copy_tree(root, real, target, budget, (*chain, real))
        elif stat.S_ISREG(st.st_mode):
            budget.take(st.st_size, shown)
            _copy_file(real, target, shown)
        else:
            raise UnsafeSourceError(
                f"{shown} is not a regular file (a FIFO, socket or device); remove it"
            )


def _copy_file(src: Path, dest: Path, shown: str) -> None:
    """Copy a regular file; opened without following links (one swapped in after the check
    is refused), so what is copied is what was checked."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(src, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeSourceError(f"{shown} changed into a link while copying; refused") from None
        raise
    with os.fdopen(fd, "rb") as fin, dest.open("wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _rel(root: Path, path: Path, src: Path) -> str:
    try:
        return str(src / path.relative_to(root))
    except ValueError:
        return str(path)


# --- zips ---------------------------------------------------------------------------------


def _extract_zip(src: Path, zf: zipfile.ZipFile, dest: Path) -> None:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    for info in infos:
        _check_zip_name(src, info.filename)
    prefix = _common_root(infos)
    members = {_norm(i.filename): i for i in infos}
    budget = _Budget.from_settings(src)
    root = dest.resolve()
    for info in infos:
        parts = PurePosixPath(_norm(info.filename)).parts
        rel = parts[len(prefix) :]
        if not rel or rel[0] in ("__MACOSX", ".git"):
            continue
        data_info = _follow_zip_links(src, zf, members, info, prefix)
        budget.take(data_info.file_size, info.filename)
        target = root.joinpath(*rel).resolve()
        if not target.is_relative_to(root):
            raise UnsafeSourceError(f"{src} holds an unsafe path {info.filename!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(data_info) as fin, target.open("wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)


def _norm(name: str) -> str:
    return name.replace("\\", "/")


def _check_zip_name(src: Path, name: str) -> None:
    parts = PurePosixPath(_norm(name)).parts
    if name.startswith(("/", "\\")) or ".." in parts or ":" in name or "\0" in name:
        raise UnsafeSourceError(f"{src} holds an unsafe path {name[:80]!r}; refusing to extract it")


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _follow_zip_links(
    src: Path,
    zf: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    info: zipfile.ZipInfo,
    prefix: tuple[str, ...],
) -> zipfile.ZipInfo:
    """The member whose bytes ``info`` stands for: itself, or, for a link, the file member it
    points to inside the zip's model folder (links to links followed, loops refused)."""
    seen: set[str] = set()
    current = info
    top = "/".join(prefix)
    while _is_link(current):
        name = _norm(current.filename)
        if name in seen or len(seen) >= _MAX_ZIP_LINK_HOPS:
            raise UnsafeSourceError(f"{src} holds a link loop at {info.filename!r}; refused")
        seen.add(name)
        if current.file_size > 4096:
            raise UnsafeSourceError(f"{src} holds a link {name!r} with a bad target; refused")
        link = zf.read(current).decode("utf-8", "replace")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
        inside = not link.startswith("/") and not joined.startswith("../") and joined != ".."
        if inside and top:
            inside = joined.startswith(top + "/")
        if not inside or "\0" in link:
            raise UnsafeSourceError(
                f"{src} holds a link {info.filename!r} to {link[:80]!r}, outside the model "
                "folder; add-local copies only links that stay inside it"
            )
        nxt = members.get(joined)
        if nxt is None:
            folder = joined + "/"
            what = "a folder" if any(m.startswith(folder) for m in members) else "nothing"
            raise UnsafeSourceError(
                f"{src} holds a link {info.filename!r} to {what} ({link[:80]!r}); only links "
                "to files inside the zip are copied"
            )
        current = nxt
    return current


def _common_root(infos: list[zipfile.ZipInfo]) -> tuple[str, ...]:
    """The single top folder all entries share (a zipped folder), or ``()``."""
    names = [PurePosixPath(_norm(i.filename)) for i in infos]
    tops = {n.parts[0] for n in names if n.parts}
    if len(tops) == 1 and all(len(n.parts) > 1 for n in names):
        return (tops.pop(),)
    return ()

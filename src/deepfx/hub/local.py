"""Local sources: a model folder or a .zip of one. Private models never leave the machine."""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from deepfx.card import CARD_FILENAME
from deepfx.errors import CardError, ModelNotFoundError

__all__ = ["copy_local", "is_local_spec"]

#: Never copied from a local folder: version control, caches, editor litter.
_IGNORED = frozenset({".git", "__pycache__", ".cache", ".DS_Store"})


def is_local_spec(spec: str) -> bool:
    """True when ``spec`` names an existing folder or .zip file (not a repo id)."""
    p = Path(spec).expanduser()
    return p.is_dir() or (p.is_file() and p.suffix.lower() == ".zip")


def copy_local(src: Path, dest: Path) -> None:
    """Copy a model folder, or safely extract a .zip of one, into the empty folder ``dest``.

    A zip may hold the model files at its top level or inside one folder. Entries with
    absolute paths, ``..`` parts or links are refused (path traversal), so a zip cannot
    write outside ``dest``.
    """
    src = Path(src).expanduser()
    if src.is_dir():
        if not (src / CARD_FILENAME).is_file():
            raise CardError(f"no {CARD_FILENAME} in this folder; is it a model folder?", path=src)
        _copy_tree(src, dest)
        return
    if not src.is_file():
        raise ModelNotFoundError(f"{src} is neither a model folder nor a .zip file")
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile:
        raise ModelNotFoundError(f"{src} is not a valid .zip file") from None
    with zf:
        names = [i for i in zf.infolist() if not i.is_dir()]
        prefix = _common_root(names)
        root = dest.resolve()
        for info in names:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in info.filename:
                raise ModelNotFoundError(
                    f"{src} holds an unsafe path {info.filename!r}; refusing to extract it"
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ModelNotFoundError(f"{src} holds a link {info.filename!r}; refusing it")
            rel = parts[len(prefix) :]
            if not rel or rel[0] in ("__MACOSX", ".git"):
                continue
            target = root.joinpath(*rel).resolve()
            if not target.is_relative_to(root):
                raise ModelNotFoundError(f"{src} holds an unsafe path {info.filename!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as fin, target.open("wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    if not (dest / CARD_FILENAME).is_file():
        raise CardError(f"no {CARD_FILENAME} in this zip; zip a model folder", path=src)


def _common_root(infos: list[zipfile.ZipInfo]) -> tuple[str, ...]:
    """The single top folder all entries share (a zipped folder), or ``()``."""
    tops = {PurePosixPath(i.filename).parts[0] for i in infos if PurePosixPath(i.filename).parts}
    if len(tops) == 1 and all(len(PurePosixPath(i.filename).parts) > 1 for i in infos):
        return (tops.pop(),)
    return ()


def _copy_tree(src: Path, dest: Path) -> None:
    """Copy files one by one so an OSError (a full disk) surfaces as itself, not as the
    aggregated ``shutil.Error`` that ``copytree`` raises. Links are followed."""
    for item in sorted(src.iterdir()):
        if item.name in _IGNORED or item.suffix == ".pyc":
            continue
        target = dest / item.name
        if item.is_dir():
            target.mkdir(exist_ok=True)
            _copy_tree(item, target)
        elif item.is_file():
            shutil.copyfile(item, target)

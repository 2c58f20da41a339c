"""``deepfx publish``: validate a model folder, tag its README, upload it to the hub.

The README's YAML front matter gets the ``audacity`` tag (how the hub search and
``deepfx models search`` find models) and ``library_name: deepfx``; the rest of the
README is kept. Upload uses huggingface_hub's ``create_repo`` + ``upload_folder``; the
token comes from the standard HF settings (``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from deepfx._fs import atomic_write_text
from deepfx.card import ModelCard, load_card
from deepfx.errors import PublishError, ValidationFailed
from deepfx.hub._client import api, check_online, endpoint, hub_errors

__all__ = ["PublishResult", "check_folder", "publish", "update_front_matter"]

TAG = "audacity"
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    url: str
    commit: str | None


def update_front_matter(readme: Path, card: ModelCard, *, repo_id: str) -> str:
    """Write or update README.md's YAML front matter so the hub lists the model.

    Ensures ``tags`` holds ``audacity`` (plus the card's domain tags) and
    ``library_name: deepfx``; other keys and the body are kept. Returns the new text.
    Written here until the contributor kit's own updater lands (deepfx.export).
    """
    import yaml

    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    meta: dict[str, object] = {}
    body = text
    m = _FRONT.match(text)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise PublishError(
                f"{readme}: its YAML front matter is invalid ({exc}); fix it"
            ) from None
        if not isinstance(loaded, dict):
            raise PublishError(f"{readme}: its front matter is not a YAML mapping; fix it")
        meta = loaded
        body = text[m.end() :]
    raw_tags = meta.get("tags") or []
    tags = [raw_tags] if isinstance(raw_tags, str) else [str(t) for t in list(raw_tags)]  # type: ignore[call-overload]
    for t in (TAG, *card.domain_tags):
        if t not in tags:
            tags.append(t)
    meta["tags"] = tags
    meta.setdefault("library_name", "deepfx")
    if card.license and "license" not in meta:
        meta["license"] = card.license.lower()
    if not body.strip():
        title = card.name or repo_id.split("/")[-1]
        body = (
            f"\n# {title}\n\n{card.long_description}\n\n"
            f"- type: {card.kind} ({card.effect_type})\n"
            f"- sample rate: {card.sample_rate} Hz\n"
            f"- outputs: {', '.join(card.labels)}\n\n"
            f"Install with `deepfx models install {repo_id}`.\n"
        )
    new = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body
    atomic_write_text(readme, new)
    return new


def check_folder(folder: Path) -> ModelCard:
    """Validate a model folder before upload.

    Uses :func:`deepfx.validate.validate` when available; otherwise reads the card
    strictly, loads the network and runs one forward pass on one second of noise.
    """
    folder = Path(folder)
    try:
        from deepfx.validate import validate
    except ImportError:
        validate = None  # type: ignore[assignment]
    card = load_card(folder, strict=True)
    if validate is not None:
        report = validate(folder)
        if not getattr(report, "ok", False):
            raise ValidationFailed(
                f"{folder} failed validation; fix it before publishing:\n{report}", report
            )
        return card
    import numpy as np

    from deepfx.model import Model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = Model(folder, card).load()
        channels = 2 if card.multichannel else 1
        x = np.random.default_rng(0).standard_normal((channels, card.sample_rate)).astype("float32")
        model.forward(x * 0.1)
    return card


def publish(
    folder: Path | str,
    *,
    repo_id: str,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
) -> PublishResult:
    """Validate ``folder``, tag its README and upload it to ``repo_id`` on the hub."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder; pass a model folder")
    if not re.match(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$", repo_id):
        raise PublishError(f"{repo_id!r} is not a repo id; use `user/model`")
    card = check_folder(folder)
    update_front_matter(folder / "README.md", card, repo_id=repo_id)
    check_online()
    hub = api()
    with hub_errors("publishing", repo_id=repo_id):
        from huggingface_hub import errors as hf

        try:
            url = hub.create_repo(repo_id, private=private, exist_ok=True, token=token)
            info = hub.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                commit_message=commit_message or f"Publish {card.name or repo_id} with deepfx",
                ignore_patterns=[".git/*", "__pycache__/*", ".cache/*", "*.pyc", ".deepfx-*"],
                token=token,
            )
        except hf.HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status in (401, 403):
                raise PublishError(
                    f"the hub at {endpoint()} refused the upload to {repo_id} (HTTP {status}); "
                    "log in with `hf auth login` or set HF_TOKEN to a token with write access"
                ) from None
            raise
        except ValueError as exc:  # the hub rejected the README's metadata
            raise PublishError(
                f"the hub at {endpoint()} rejected README.md's front matter: {exc}; fix it"
            ) from None
    commit = getattr(info, "oid", None)
    return PublishResult(repo_id=repo_id, url=str(url), commit=commit)

"""``deepfx publish``: validate a model folder, tag its README, upload it to the hub.

The README's YAML front matter gets the ``deepfx`` tag, and ``audacity`` when the
original host's torch 1.9 can run ``model.pt`` (a torch 2.x ``model.pt`` is first
rewritten into the equivalent form torch 1.9 reads, when the network allows; see
:func:`deepfx.legacy.archive.prepare_folder_for_legacy_host`), and ``library_name:
deepfx``; the rest of the README is kept. Upload uses huggingface_hub's
``create_repo`` + ``upload_folder``; the token comes from the standard HF settings
(``HF_TOKEN`` or ``hf auth login``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from deepfx.card import ModelCard, load_card
from deepfx.errors import PublishError, ValidationFailed
from deepfx.hub._client import api, check_online, endpoint, hub_errors
from deepfx.modelcard_readme import write_readme

__all__ = ["PublishResult", "check_folder", "publish"]


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    url: str
    commit: str | None


def check_folder(folder: Path) -> ModelCard:
    """Validate a model folder before upload.

    Runs the same battery as ``deepfx validate`` (strict card, every format, every
    contract rule); any failure stops the publish before anything is uploaded.
    """
    from deepfx.validation import validate

    folder = Path(folder)
    card = load_card(folder, strict=True)
    report = validate(folder)
    if not report.ok:
        raise ValidationFailed(
            f"{folder} failed validation; fix it before publishing:\n{report}", report
        )
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
    if (folder / "model.pt").is_file() and card.model_file in (None, "model.pt"):
        # in the form the original host (torch 1.9) loads, when the network allows it;
        # the README then gets the `audacity` tag (write_readme audits model.pt)
        from deepfx.legacy.archive import prepare_folder_for_legacy_host

        prepare_folder_for_legacy_host(folder, card)
    write_readme(folder / "README.md", card, files=sorted(p.name for p in folder.iterdir()))
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

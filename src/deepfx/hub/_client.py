"""The one place deepfx talks to the hub: endpoint, token, timeouts, error mapping.

huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, when it is imported.
deepfx reads them on every call instead, so a process that changes them (the tests, an
app switching mirrors) is honoured. Every hub error becomes a :mod:`deepfx.errors` class
whose message names the endpoint and the next step.
"""

from __future__ import annotations

import contextlib
import errno
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from deepfx.errors import (
    DiskFullError,
    HubError,
    ModelNotFoundError,
    NetworkError,
    UnsafeHubAnswerError,
    UsageError,
    first_line,
)
from deepfx.settings import DEFAULT_ENDPOINT, hub_endpoint, offline
from deepfx.settings import hf_cache_dir as _hf_cache_dir

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "DEFAULT_ENDPOINT",
    "api",
    "check_repo_id",
    "endpoint",
    "hf_cache_dir",
    "hub_errors",
    "is_offline",
    "timeout_s",
]


def endpoint() -> str:
    """The hub's base URL: ``HF_ENDPOINT`` if set, else huggingface.co."""
    return hub_endpoint()


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``DEEPFX_OFFLINE``) asks for no network at all."""
    return offline()


def hf_cache_dir() -> str:
    """huggingface_hub's cache folder (:func:`deepfx.settings.hf_cache_dir`)."""
    return _hf_cache_dir()


def timeout_s() -> float:
    """Seconds to wait for the hub to answer a metadata request (``DEEPFX_HUB_TIMEOUT``);
    a bad value is a :class:`~deepfx.errors.UsageError` (see :mod:`deepfx.settings`)."""
    from deepfx.settings import hub_timeout_s

    return hub_timeout_s()


def check_repo_id(repo_id: str) -> None:
    """Refuse a repo id that huggingface_hub's own validator refuses (``user/x--y``,
    ``x.git``, over 96 characters...) with a :class:`~deepfx.errors.UsageError`, before any
    request; the message quotes at most 60 characters of it."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        shown = repr(repo_id) if len(repo_id) <= 60 else repr(repo_id[:57] + "...")
        reason = str(exc).split(": '", 1)[0].rstrip(".:")
        if len(repo_id) > 96:
            reason = f"it is {len(repo_id)} characters long, the hub allows at most 96"
        raise UsageError(
            f"{shown} is not a valid hub repo id ({reason}); a repo id looks like `user/model`"
        ) from None


def api() -> HfApi:
    """An :class:`huggingface_hub.HfApi` for the current endpoint; the token comes from the
    standard HF settings (``HF_TOKEN`` or ``hf auth login``)."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint())


def check_online() -> None:
    """Raise :class:`NetworkError` when offline mode is on, before any request is tried."""
    if is_offline():
        raise NetworkError(
            f"offline mode is on (HF_HUB_OFFLINE); cannot reach {endpoint()}. "
            "Installed models still work; unset HF_HUB_OFFLINE to reach the hub"
        )


def _unreachable(where: str, exc: BaseException) -> str:
    """One human line for a connection that failed: why, in words, and what to do (no
    exception class names, no errno)."""
    text = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e).lower()
    if any(
        s in text
        for s in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name resolution",
            "getaddrinfo failed",
            "no address associated",
            "errno -2",
            "errno -3",
            "errno -5",
        )
    ):
        why = "its address could not be looked up: no internet connection, or DNS is down"
    elif "refused" in text:
        why = "the connection was refused: nothing answers at that address"
    elif "certificate" in text or "ssl" in text:
        why = "a secure connection could not be made (a proxy or a wrong clock?)"
    elif "unreachable" in text:
        why = "the network is unreachable"
    elif "reset" in text or "disconnected" in text or "closed" in text:
        why = "the connection was cut"
    else:
        why = "the connection failed"
    return (
        f"cannot reach the hub at {where}: {why}; check your connection (or HF_ENDPOINT) "
        "and try again. Installed models still work offline"
    )


@contextlib.contextmanager
def _quiet_retries() -> Iterator[None]:
    """huggingface_hub logs every retry ("Retrying in 8s [Retry 5/5]", "'[Errno -2] ...'
    thrown while requesting"): the one error line deepfx prints says it all instead."""
    import logging

    logger = logging.getLogger("huggingface_hub")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


@contextlib.contextmanager
def hub_errors(
    what: str, *, repo_id: str | None = None, revision: str | None = None
) -> Iterator[None]:
    """Map huggingface_hub / httpx / OS errors raised inside the block to deepfx errors.

    ``what`` says what was being done ("reading the model list"), for the message.
    """
    import httpx2
    from huggingface_hub import errors as hf

    where = endpoint()
    repo = f" {repo_id!r}" if repo_id else ""
    try:
        with _quiet_retries():
            yield
    except HubError:
        raise
    except hf.RevisionNotFoundError:
        raise ModelNotFoundError(
            f"revision {revision!r} not found in repo{repo} on {where}; "
            "check the branch, tag or commit name"
        ) from None
    except hf.RemoteEntryNotFoundError as exc:
        raise ModelNotFoundError(
            f"a file is missing from repo{repo} on {where} while {what}: {first_line(exc)}"
        ) from None
    except hf.RepositoryNotFoundError:
        raise ModelNotFoundError(
            f"no model repo{repo} on {where}; check the name (it looks like `user/model`), "
            "or log in with `hf auth login` if it is private"
        ) from None
    except hf.HFValidationError as exc:
        raise UsageError(f"invalid value while {what}{repo}: {first_line(exc)[:200]}") from None
    except hf.LocalEntryNotFoundError as exc:
        # huggingface_hub gives up on a file after retrying a failing HEAD (HTTP 5xx,
        # timeouts) and says "not in the local cache": name the real cause instead
        cause = exc.__cause__
        if isinstance(cause, hf.HfHubHTTPError) and cause.response is not None:
            detail = f"answered HTTP {cause.response.status_code}"
        elif isinstance(cause, httpx2.TimeoutException):
            detail = "did not answer in time (DEEPFX_HUB_TIMEOUT sets the wait)"
        elif isinstance(cause, (httpx2.TransportError, ConnectionError, OSError)):
            raise NetworkError(_unreachable(where, cause)) from None
        else:
            detail = "could not be used"
        raise NetworkError(
            f"the hub at {where} {detail} while {what}{repo}; nothing was installed, "
            "try again later"
        ) from None
    except hf.OfflineModeIsEnabled:
        raise NetworkError(
            f"offline mode is on (HF_HUB_OFFLINE); cannot reach {where} while {what}"
        ) from None
    except hf.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise NetworkError(
            f"the hub at {where} answered HTTP {status} while {what}{repo}: "
            f"{first_line(exc)}; try again later"
        ) from None
    except httpx2.TimeoutException:
        raise NetworkError(
            f"the hub at {where} did not answer in time while {what}{repo}; "
            "check your connection (DEEPFX_HUB_TIMEOUT sets the wait) and try again"
        ) from None
    except (httpx2.TransportError, ConnectionError) as exc:
        raise NetworkError(_unreachable(where, exc)) from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        # huggingface_hub parsing an answer that is not the hub's JSON (garbage, wrong types)
        raise UnsafeHubAnswerError(
            f"the hub at {where} sent an answer deepfx cannot read while {what}{repo} "
            f"({type(exc).__name__}: {first_line(exc)[:120]}); nothing was written. "
            "Check HF_ENDPOINT"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"the disk is full while {what}{repo}; free some space and try again "
                "(nothing was installed)"
            ) from None
        if "Consistency check failed" in str(exc):
            raise NetworkError(
                f"a download from {where} was cut short while {what}{repo}; "
                "nothing was installed, try again"
            ) from None
        raise

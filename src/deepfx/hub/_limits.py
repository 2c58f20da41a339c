"""An overall deadline and a byte bound for every hub request deepfx makes.

huggingface_hub gives each read a timeout, and checks a file's size only after the whole
body has arrived. Neither stops a hostile or broken server: one that drips a byte every
2 s answers every read in time and never finishes; one that announces 2 KB and never ends
the body is read on until the disk is full. deepfx therefore wraps the requests made
inside :func:`bounded` (for one file, or one metadata call):

* before each request (HEAD, GET, a redirect, a resumed GET) the time left to the deadline
  is checked, and every timeout of the request is cut to the time left, so a silent server
  hits the deadline too;
* each answer's body is counted as it arrives: more than the bound (the file's announced
  size for a file, :data:`~deepfx.settings.HUB_METADATA_MAX_BYTES` otherwise) or past the
  deadline raises :class:`~deepfx.errors.DownloadLimitError` at once.

The hooks are event hooks on huggingface_hub's shared ``httpx2.Client`` (its public
``event_hooks``); outside :func:`bounded` (a context variable, so per thread) they do
nothing, so other users of huggingface_hub in the same process are not affected.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2

from deepfx.errors import DownloadLimitError
from deepfx.settings import HUB_METADATA_MAX_BYTES

__all__ = ["bounded", "too_large"]


@dataclass
class _Limits:
    what: str
    deadline: float  # time.monotonic() value
    seconds: float
    max_bytes: int
    where: str
    last_status: int | None = None  # the last failing HTTP status seen (retries hide it)


_HOOKS_LOCK = threading.Lock()
_CURRENT: contextvars.ContextVar[_Limits | None] = contextvars.ContextVar(
    "deepfx_hub_limits", default=None
)


@contextlib.contextmanager
def bounded(what: str, *, deadline_s: float, max_bytes: int) -> Iterator[None]:
    """Requests made by huggingface_hub inside the block (this thread) must be done within
    ``deadline_s`` seconds in all, and no successful answer may carry more than
    ``max_bytes`` bytes of body. ``what`` ("downloading model.pt") is for the message."""
    from deepfx.hub._client import endpoint

    _install_hooks()
    limits = _Limits(what, time.monotonic() + deadline_s, deadline_s, max(0, max_bytes), endpoint())
    token = _CURRENT.set(limits)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def too_large(what: str, limit: int, where: str) -> DownloadLimitError:
    return DownloadLimitError(
        f"the hub at {where} sent more than the {limit} bytes it announced while {what}; "
        "refused (a broken or hostile server); nothing was installed"
    )


def _past_deadline(lim: _Limits) -> DownloadLimitError:
    last = f"; its last answer was HTTP {lim.last_status}" if lim.last_status else ""
    return DownloadLimitError(
        f"the hub at {lim.where} did not finish {lim.what} within its deadline of "
        f"{lim.seconds:.1f} s (DEEPFX_HUB_TIMEOUT plus the size at DEEPFX_HUB_MIN_RATE){last}; "
        "the server is failing, stalling or too slow; nothing was installed, try again later"
    )


def _install_hooks() -> None:
    """Add the two hooks to huggingface_hub's shared client (again, if it was recreated)."""
    from huggingface_hub.utils import get_session

    with _HOOKS_LOCK:  # search reads cards from several threads at once
        hooks = get_session().event_hooks
        if _on_request not in hooks["request"]:
            hooks["request"].append(_on_request)
        if _on_response not in hooks["response"]:
            hooks["response"].append(_on_response)


def _on_request(request: httpx2.Request) -> None:
    lim = _CURRENT.get()
    if lim is None:
        return
    left = lim.deadline - time.monotonic()
    if left <= 0:
        raise _past_deadline(lim)
    timeout = dict(request.extensions.get("timeout") or {})
    for key in ("connect", "read", "write", "pool"):
        value = timeout.get(key)
        timeout[key] = left if value is None else min(float(value), left)
    request.extensions["timeout"] = timeout


def _on_response(response: httpx2.Response) -> None:
    lim = _CURRENT.get()
    if lim is None:
        return
    ok = response.status_code in (200, 206)
    if response.status_code >= 400:
        lim.last_status = response.status_code
    bound = lim.max_bytes if ok else HUB_METADATA_MAX_BYTES
    announced = response.headers.get("Content-Length")
    if ok and announced and announced.isdigit() and int(announced) > bound:
        raise too_large(lim.what, bound, lim.where)
    assert isinstance(response.stream, httpx2.SyncByteStream)  # a sync client's answer
    response.stream = _Guarded(response.stream, lim, bound)


class _Guarded(httpx2.SyncByteStream):
    """A response body that stops at the deadline or one byte past the bound."""

    def __init__(self, inner: httpx2.SyncByteStream, lim: _Limits, bound: int):
        self._inner = inner
        self._lim = lim
        self._bound = bound

    def __iter__(self) -> Iterator[bytes]:
        got = 0
        for chunk in self._inner:
            got += len(chunk)
            if got > self._bound:
                raise too_large(self._lim.what, self._bound, self._lim.where)
            if time.monotonic() > self._lim.deadline:
                raise _past_deadline(self._lim)
            yield chunk

    def close(self) -> None:
        self._inner.close()

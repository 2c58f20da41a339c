"""The Audacity status line: not running · running without mod-script-pipe · Audacity 4
(no scripting pipe) · connected with the selected tracks and time range.

:func:`probe` asks :func:`deepfx.audacity.bridge.status` (the same call as ``deepfx
audacity status``) with a short connect timeout, and when nothing answers looks for an
Audacity process to tell "not running" from "pipe not enabled". It blocks for up to a
couple of seconds, so the window calls it on a worker.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENABLE_STEPS", "AudacityState", "describe", "find_audacity", "probe"]

#: The three steps that enable the scripting module (it ships with Audacity 3, disabled).
ENABLE_STEPS = (
    "In Audacity open Edit > Preferences > Modules.",
    "Set mod-script-pipe to Enabled.",
    "Quit and restart Audacity (the module loads only at start-up).",
)


@dataclass(frozen=True)
class AudacityState:
    """``state`` is ``"connected"``, ``"no-pipe"``, ``"audacity4"`` or ``"not-running"``."""

    state: str
    text: str
    tracks: tuple[str, ...] = ()
    start_s: float | None = None
    end_s: float | None = None

    @property
    def can_apply(self) -> bool:
        return self.state == "connected" and bool(self.tracks) and self._has_range

    @property
    def _has_range(self) -> bool:
        return self.start_s is not None and self.end_s is not None and self.end_s > self.start_s


def _clock(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:05.2f}"


def find_audacity() -> tuple[int, str | None] | None:
    """``(pid, major version or None)`` of a running Audacity of this user, else None."""
    if not sys.platform.startswith("linux"):
        return None  # the pipe check alone decides elsewhere
    uid = os.getuid()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if d.stat().st_uid != uid:
                continue
            comm = (d / "comm").read_text().strip().lower()
            if not comm.startswith("audacity"):
                continue
            exe = os.readlink(d / "exe")
        except OSError:
            continue
        return int(d.name), _major_version(exe)
    return None


@functools.lru_cache(maxsize=8)
def _major_version(exe: str) -> str | None:
    """Audacity's major version from the package that owns ``exe`` (dpkg/rpm), if known
    (cached: the status line is refreshed every few seconds)."""
    for cmd in (["dpkg-query", "-S", exe], ["rpm", "-qf", "--qf", "%{VERSION}", exe]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=2).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if cmd[0] == "dpkg-query" and out:
            pkg = out.split(":", 1)[0].strip()
            try:
                out = subprocess.run(
                    ["dpkg-query", "-W", "-f", "${Version}", pkg],
                    capture_output=True,
                    text=True,
                    timeout=2,
                ).stdout
            except (OSError, subprocess.SubprocessError):
                continue
        m = re.match(r"^(?:\d+:)?(\d+)\.", out.strip())
        if m:
            return m.group(1)
    return None


def describe(status: object, process: tuple[int, str | None] | None) -> AudacityState:
    """The status line for a :class:`deepfx.audacity.bridge.Status` and a found process."""
    connected = bool(getattr(status, "connected", False))
    if connected:
        sel = getattr(status, "selection", None)
        if sel is None or not sel.tracks:
            return AudacityState(
                "connected", "Connected to Audacity · no audio track selected: select a range"
            )
        names = tuple(t.name for t in sel.tracks)
        n = len(names)
        shown = ", ".join(names[:3]) + (f" +{n - 3}" if n > 3 else "")
        if sel.duration_s <= 0:
            text = f"Connected · {shown} selected, but no time range: drag over the audio"
        else:
            text = (
                f"Connected · {n} track{'s' if n != 1 else ''} selected ({shown}) · "
                f"{_clock(sel.start_s)}–{_clock(sel.end_s)} ({sel.duration_s:.2f} s)"
            )
        return AudacityState("connected", text, names, sel.start_s, sel.end_s)
    if process is not None and process[1] is not None and int(process[1]) >= 4:
        return AudacityState(
            "audacity4",
            f"Audacity {process[1]} is running: it has no scripting pipe, so deepfx cannot "
            "reach its selection. Apply to audio files instead and drag the results into it.",
        )
    if process is not None:
        steps = " ".join(f"{i}. {s}" for i, s in enumerate(ENABLE_STEPS, 1))
        return AudacityState(
            "no-pipe", f"Audacity is running, but mod-script-pipe is not enabled. {steps}"
        )
    return AudacityState(
        "not-running",
        "Audacity is not running. Start Audacity 3 (with mod-script-pipe enabled) to apply to "
        "its selection, or apply to audio files.",
    )


def probe(*, connect_timeout_s: float = 1.5) -> AudacityState:
    """Ask Audacity (blocks up to about ``connect_timeout_s``)."""
    from deepfx.audacity import bridge
    from deepfx.audacity.pipe import AudacityPipe
    from deepfx.errors import AudacityError

    pipe = AudacityPipe(timeout_s=5.0, connect_timeout_s=connect_timeout_s)
    try:
        st = bridge.status(pipe=pipe)
    except AudacityError as exc:  # answered once, then stopped: a dialog is open in it
        st = bridge.Status(connected=False, message=str(exc))
    finally:
        pipe.close()
    return describe(st, None if st.connected else find_audacity())

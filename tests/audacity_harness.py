"""Start and stop a real Audacity under Xvfb for the ``audacity`` tests.

Each pytest session gets one Audacity in a fresh HOME (its own config, data and temp
folders), with mod-script-pipe enabled through the config file. What this encodes was
measured (see docs/audacity.md, "Troubleshooting"):

* the config must name the module, its path and its file time, or it is silently not
  loaded; ``PrefsVersion`` and ``[Version]`` keep Audacity from treating it as a fresh
  install (welcome window); ``EmptyCanBeDirty=0`` avoids a save prompt at exit; no
  dither keeps exports of untouched audio bit-exact;
* a first start with an empty plugin registry re-runs Audacity as a plugin scanner that
  breaks the pipe, so one throw-away start produces ``pluginregistry.cfg`` which is then
  copied into each real session;
* one Audacity per user (the pipe names are per uid): sessions run one after another.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from deepfx.audacity.pipe import AudacityPipe, pipe_paths
from deepfx.errors import AudacityError

MODULE_CANDIDATES = (
    "/usr/lib/audacity/modules/mod-script-pipe.so",
    "/usr/lib/x86_64-linux-gnu/audacity/modules/mod-script-pipe.so",
    "/usr/lib/aarch64-linux-gnu/audacity/modules/mod-script-pipe.so",
    "/usr/local/lib/audacity/modules/mod-script-pipe.so",
)

_REGISTRY_CACHE: Path | None = None


def missing_reason() -> str | None:
    """Why the real-Audacity tests cannot run here, or None when they can."""
    if os.name != "posix":
        return "the Audacity harness runs on Linux only (Xvfb)"
    if shutil.which("audacity") is None:
        return "the `audacity` binary is not installed (apt-get install audacity xvfb xauth)"
    if shutil.which("Xvfb") is None:
        return "Xvfb is not installed (apt-get install xvfb xauth)"
    if module_path() is None:
        return "mod-script-pipe.so was not found next to the audacity install"
    return None


def module_path() -> Path | None:
    for candidate in MODULE_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def write_config(home: Path) -> Path:
    """A config in which mod-script-pipe loads and no dialog ever opens."""
    module = module_path()
    assert module is not None
    stamp = datetime.fromtimestamp(module.stat().st_mtime).strftime("%Y-%m-%dT%H:%M:%S")
    config_dir = home / ".config" / "audacity"
    config_dir.mkdir(parents=True, exist_ok=True)
    (home / ".local" / "share").mkdir(parents=True, exist_ok=True)
    temp = home / "audacity-temp"
    temp.mkdir(exist_ok=True)
    cfg = "\n".join(
        [
            "PrefsVersion=1.1.1r1",
            "[Version]",
            "Major=3",
            "Minor=2",
            "Micro=4",
            "[GUI]",
            "ShowSplashScreen=0",
            "EmptyCanBeDirty=0",
            "[Quality]",
            "HQDitherAlgorithmChoice=None",
            "[Directories]",
            f"TempDir={temp}",
            "[Module]",
            "mod-script-pipe=1",
            "[ModulePath]",
            f"mod-script-pipe={module}",
            "[ModuleDateTime]",
            f"mod-script-pipe={stamp}",
            "",
        ]
    )
    (config_dir / "audacity.cfg").write_text(cfg)
    return config_dir


def _env(home: Path, display: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        DISPLAY=display,
        NO_AT_BRIDGE="1",
    )
    return env


def _kill_group(proc: subprocess.Popen[bytes], *, grace_s: float = 3.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


class Xvfb:
    """A private X display (``-displayfd`` lets the server pick a free number)."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1280x1024x24",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(write_fd)
        try:
            number = b""
            deadline = time.monotonic() + 15
            while not number.endswith(b"\n") and time.monotonic() < deadline:
                chunk = os.read(read_fd, 16)
                if not chunk:
                    break
                number += chunk
        finally:
            os.close(read_fd)
        if not number.strip():
            _kill_group(self.proc)
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number.decode().strip()}"

    def stop(self) -> None:
        _kill_group(self.proc)


def plugin_registry(display: str) -> Path:
    """``pluginregistry.cfg`` from one throw-away start, made once per test session."""
    global _REGISTRY_CACHE
    if _REGISTRY_CACHE is not None and _REGISTRY_CACHE.is_file():
        return _REGISTRY_CACHE
    home = Path(tempfile.mkdtemp(prefix="deepfx-audacity-registry-"))
    config_dir = write_config(home)
    registry = config_dir / "pluginregistry.cfg"
    proc = subprocess.Popen(
        ["audacity"],
        env=_env(home, display),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        last_size = -1
        while time.monotonic() < deadline:
            size = registry.stat().st_size if registry.is_file() else -1
            if size > 0 and size == last_size:
                break
            last_size = size
            time.sleep(0.5)
        else:
            raise RuntimeError("Audacity's first start did not write pluginregistry.cfg")
    finally:
        _kill_group(proc)
    cache = Path(tempfile.mkdtemp(prefix="deepfx-audacity-registry-cache-")) / registry.name
    shutil.copy2(registry, cache)
    shutil.rmtree(home, ignore_errors=True)
    _REGISTRY_CACHE = cache
    return cache


class AudacitySession:
    """One running Audacity with a connected :class:`AudacityPipe` (``.pipe``)."""

    def __init__(self) -> None:
        self.xvfb = Xvfb()
        self.home = Path(tempfile.mkdtemp(prefix="deepfx-audacity-home-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.pipe: AudacityPipe | None = None
        self.start_s = 0.0

    def start(self) -> AudacitySession:
        registry = plugin_registry(self.xvfb.display)
        config_dir = write_config(self.home)
        shutil.copy2(registry, config_dir / "pluginregistry.cfg")
        t0 = time.monotonic()
        self.log = open(self.home / "audacity.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["audacity"],
            env=_env(self.home, self.xvfb.display),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = self.proc
        # Wait for Audacity to (re)create its pipes: the files of an earlier Audacity
        # may still be there, and opening those would talk to nobody.
        to_path, _ = pipe_paths()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"Audacity exited at start (log: {self.home}/audacity.log)")
            with contextlib.suppress(FileNotFoundError):
                if os.stat(to_path).st_mtime >= time.time() - (time.monotonic() - t0) - 1:
                    break
            time.sleep(0.05)
        self.pipe = AudacityPipe(
            connect_timeout_s=30, timeout_s=30, is_alive=lambda: proc.poll() is None
        ).connect()
        self.start_s = time.monotonic() - t0
        return self

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Let another process talk to Audacity (the CLI, the resident worker): measured on
        3.2.4, a second client cannot open the command pipe while this one holds it
        (ENXIO), so the session's pipe is closed for the block and connected again."""
        assert self.pipe is not None and self.proc is not None
        self.pipe.close()
        try:
            yield
        finally:
            proc = self.proc
            self.pipe = AudacityPipe(
                connect_timeout_s=30, timeout_s=30, is_alive=lambda: proc.poll() is None
            ).connect()

    def import_audio(self, path: Path, audio: Any, rate: int) -> Path:
        """Write ``audio`` (``(samples,)`` or ``(channels, samples)``) as a float WAV at
        ``path`` and import it as a new track: float samples come back exactly."""
        import soundfile as sf

        sf.write(str(path), audio.T if audio.ndim == 2 else audio, rate, subtype="FLOAT")
        assert self.pipe is not None
        self.pipe.do("Import2", Filename=str(path))
        return path

    def clear(self) -> None:
        """Remove every track (a fresh project without a new window)."""
        assert self.pipe is not None
        self.pipe.do("SelectAll")
        self.pipe.do("RemoveTracks")

    def stop(self) -> None:
        """SelectAll, RemoveTracks, Exit; kill what is left."""
        try:
            if self.pipe is not None and self.proc is not None and self.proc.poll() is None:
                with contextlib.suppress(AudacityError, OSError):
                    self.clear()
                    self.pipe.send("Exit:", timeout_s=3)
                self.pipe.close()
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill_group(self.proc)
        finally:
            self.pipe = None
            if self.proc is not None:
                _kill_group(self.proc)
            self.xvfb.stop()
            shutil.rmtree(self.home, ignore_errors=True)

    def restart(self) -> None:
        """After a timeout or a crash: a fresh Audacity (same display)."""
        if self.proc is not None:
            _kill_group(self.proc)
        if self.pipe is not None:
            self.pipe.close()
        shutil.rmtree(self.home, ignore_errors=True)
        self.home = Path(tempfile.mkdtemp(prefix="deepfx-audacity-home-"))
        self.start()


_SHARED: AudacitySession | None = None
_USERS = 0


@pytest.fixture(scope="session", name="audacity_session")
def audacity_session_fixture() -> Iterator[AudacitySession]:
    """One real Audacity for the whole test session (skips when it cannot run here).

    Each test module imports this fixture, and pytest keeps one session fixture per
    defining module; the count makes them share a single Audacity (two per uid would
    fight over the pipe names), stopped when the last user is torn down.
    """
    global _SHARED, _USERS
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    if _SHARED is None:
        session = AudacitySession()
        try:
            session.start()
        except BaseException:
            session.stop()
            raise
        _SHARED = session
    _USERS += 1
    try:
        yield _SHARED
    finally:
        _USERS -= 1
        if _USERS == 0 and _SHARED is not None:
            _SHARED.stop()
            _SHARED = None
            _drop_registry_cache()


def _drop_registry_cache() -> None:
    global _REGISTRY_CACHE
    if _REGISTRY_CACHE is not None:
        shutil.rmtree(_REGISTRY_CACHE.parent, ignore_errors=True)
    _REGISTRY_CACHE = None


@pytest.fixture(name="audacity")
def audacity_fixture(audacity_session: AudacitySession) -> Iterator[AudacitySession]:
    """The session's Audacity with an empty project, restarted if it stopped answering."""
    try:
        audacity_session.clear()
    except AudacityError:
        audacity_session.restart()
    yield audacity_session

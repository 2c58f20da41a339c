"""A real torch 1.9 (the original Audacity host's libtorch) in a subprocess.

The original host embedded libtorch 1.9; its contributors used torch 1.9 and
``audacitorch`` 0.0.4. torch 1.9 wheels exist for Python 3.6-3.9 only, so the runtime is
a Python 3.9 virtualenv with ``torch==1.9.0``, ``numpy<2`` and ``audacitorch==0.0.4``
(installed ``--no-deps``: audacitorch pins an old torch). The wheels are downloaded once
into a folder beside the venv (``<venv>-wheels``), so re-creating it is offline.

:class:`LegacyRuntime` runs :mod:`deepfx.legacy._worker` (which needs no deepfx) in that
interpreter: load a ``model.pt`` with ``torch.jit.load``, run inputs passed as ``.npy``
files, read the outputs back. A process killed by a signal (torch 1.9 aborts with
SIGABRT on archives it cannot read) comes back as ``crashed=True`` with the signal name.

``python -m deepfx.legacy.runtime [--python PY39] [--venv DIR]`` creates or checks the
runtime and prints its interpreter (``scripts/install.sh`` calls it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepfx.errors import UsageError
from deepfx.settings import child_environment, legacy_base_python, legacy_venv, pyenv_root

__all__ = [
    "LEGACY_REQUIREMENTS",
    "LegacyResult",
    "LegacyRuntime",
    "default_venv",
    "ensure_runtime",
    "find_base_python",
]

#: What the legacy runtime holds, installed with ``--no-deps`` (the resolver would
#: otherwise let audacitorch's pins pull other releases).
LEGACY_REQUIREMENTS = ("torch==1.9.0", "numpy<2", "audacitorch==0.0.4", "typing-extensions")
LEGACY_TORCH = "1.9.0"
_WORKER = Path(__file__).with_name("_worker.py")


@dataclass
class LegacyResult:
    """The outcome of running a model in torch 1.9.

    ``ok``: loaded and ran every input. ``outputs``: one per input, an array or a tuple of
    arrays. ``crashed``: the process died of ``signal_name`` (e.g. SIGABRT) - the original
    host would have crashed. ``error``: torch's message; ``last_line``: its real cause.
    """

    ok: bool
    outputs: list[Any] = field(default_factory=list)
    stage: str | None = None
    error: str | None = None
    last_line: str | None = None
    crashed: bool = False
    signal_name: str | None = None

    def describe(self) -> str:
        """One line for a report."""
        if self.ok:
            return f"ran {len(self.outputs)} input(s) in torch {LEGACY_TORCH}"
        if self.crashed:
            return (
                f"torch {LEGACY_TORCH} crashed ({self.signal_name}) while loading or running "
                "it: the original Audacity host would crash too"
                + (f" ({self.last_line})" if self.last_line else "")
            )
        return f"torch {LEGACY_TORCH} failed to {self.stage or 'run'} it: {self.last_line}"


@dataclass(frozen=True)
class LegacyRuntime:
    """An interpreter with torch 1.9 installed (usually ``<venv>/bin/python``)."""

    python: Path

    def _call(self, args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        return self._python(_WORKER, args, timeout=timeout, extra_env={"OMP_NUM_THREADS": "1"})

    def _python(
        self,
        script: str | os.PathLike[str],
        args: Sequence[str],
        *,
        timeout: float,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in the legacy interpreter, without this venv's Python paths;
        ``extra_env`` fills variables the environment does not set."""
        env = child_environment(drop=("PYTHONPATH", "PYTHONHOME"))
        for key, value in (extra_env or {}).items():
            env.setdefault(key, value)
        return subprocess.run(
            [str(self.python), str(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    @staticmethod
    def _parse(proc: subprocess.CompletedProcess[str]) -> dict[str, Any] | None:
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("{"):
                try:
                    data = json.loads(line)
                except ValueError:
                    return None
                return data if isinstance(data, dict) else None
        return None

    def version(self, *, timeout: float = 120) -> str | None:
        """torch's version in this interpreter, or None if it has no working torch."""
        try:
            proc = self._call(["version"], timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            return None
        data = self._parse(proc)
        return str(data["torch"]) if data and data.get("ok") else None

    def schemas(self, *, timeout: float = 300) -> list[str]:
        """torch 1.9's operator signatures in the compact form of ``torch19_ops.txt``."""
        proc = self._call(["schemas"], timeout=timeout)
        data = self._parse(proc)
        if not data or not data.get("ok"):
            raise UsageError(f"{self.python}: could not list torch's operators: {proc.stderr}")
        return [str(s) for s in data["schemas"]]

    def run_model(
        self, model_file: str | os.PathLike[str], inputs: Sequence[np.ndarray], *, timeout=600.0
    ) -> LegacyResult:
        """Load ``model_file`` with ``torch.jit.load`` in torch 1.9 and run each input.

        Inputs are float32 ``(channels, samples)`` arrays; outputs come back in order.
        """
        with tempfile.TemporaryDirectory(prefix="deepfx-legacy-") as tmp:
            in_dir, out_dir = Path(tmp, "in"), Path(tmp, "out")
            in_dir.mkdir()
            out_dir.mkdir()
            keys = [f"{i:04d}" for i in range(len(inputs))]
            for key, x in zip(keys, inputs, strict=True):
                np.save(in_dir / f"{key}.npy", np.ascontiguousarray(x, dtype=np.float32))
            try:
                proc = self._call(
                    ["run", str(Path(model_file).resolve()), str(in_dir), str(out_dir)],
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                return LegacyResult(False, stage="run", last_line=f"timed out after {timeout} s")
            if proc.returncode < 0:
                return LegacyResult(
                    False,
                    crashed=True,
                    signal_name=_signal_name(-proc.returncode),
                    error=proc.stderr,
                    last_line=_cause(proc.stderr),
                )
            data = self._parse(proc)
            if data is None:
                return LegacyResult(
                    False,
                    stage="run",
                    error=proc.stderr,
                    last_line=_cause(proc.stderr) or f"exit code {proc.returncode}",
                )
            if not data.get("ok"):
                return LegacyResult(
                    False,
                    stage=str(data.get("stage") or "run"),
                    error=str(data.get("error") or ""),
                    last_line=str(data.get("last_line") or ""),
                )
            outputs: list[Any] = []
            for key in keys:
                parts = data["outputs"][key]
                arrays = [np.load(out_dir / f"{p['key']}.npy") for p in parts]
                is_tuple = len(parts) > 1 or parts[0]["key"] != key
                outputs.append(tuple(arrays) if is_tuple else arrays[0])
            return LegacyResult(True, outputs=outputs)

    def run_script(
        self, script: str | os.PathLike[str], *args: str, timeout: float = 600.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a Python file in the legacy interpreter (how tests build genuine fixtures
        with torch 1.9 + audacitorch, as contributors did)."""
        return self._python(script, args, timeout=timeout)


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _cause(stderr: str) -> str:
    """The line of a C++ abort that says why (``what():  ...``), else the last line."""
    lines = [s.strip() for s in stderr.splitlines() if s.strip()]
    for line in lines:
        if line.startswith("what():"):
            return line
    return lines[-1] if lines else ""


def find_base_python() -> Path | None:
    """A Python 3.9 to build the runtime from: ``$DEEPFX_LEGACY_BASE_PYTHON``, ``python3.9``
    on PATH, or pyenv's 3.9 (``~/.pyenv/versions/3.9*/bin/python``).

    Each candidate is asked for its version: a pyenv *shim* named ``python3.9`` is on PATH
    even where 3.9 is not the active pyenv version, and then fails when run."""
    import shutil

    env = legacy_base_python()
    if env:
        return env
    root = pyenv_root() / "versions"
    candidates = [Path(p) for p in [shutil.which("python3.9")] if p]
    candidates += sorted(root.glob("3.9*/bin/python"), reverse=True)
    for candidate in candidates:
        if _is_python39(candidate):
            return candidate
    return None


def _is_python39(python: Path) -> bool:
    try:
        r = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0 and r.stdout.strip() == "True"


def default_venv() -> Path:
    """Where the runtime lives: ``$DEEPFX_LEGACY_VENV``, else deepfx's user cache folder."""
    env = legacy_venv()
    if env:
        return env
    import platformdirs

    return Path(platformdirs.user_cache_dir("deepfx")) / "legacy-venv"


def _python_version(python: Path) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def _have_wheels(folder: Path) -> bool:
    """Whether the download cache already holds a wheel for every requirement."""
    patterns = ("torch-1.9.0-*.whl", "numpy-1.*.whl", "audacitorch-0.0.4-*.whl", "typing_ext*.whl")
    return all(any(folder.glob(p)) for p in patterns)


def ensure_runtime(
    python: str | os.PathLike[str] | None = None,
    *,
    venv: str | os.PathLike[str] | None = None,
    wheels: str | os.PathLike[str] | None = None,
    log: Any = None,
) -> LegacyRuntime:
    """A ready torch 1.9 runtime, created if needed.

    ``python`` may be an interpreter that already has torch 1.9 (used as is) or a base
    Python 3.9 to create the venv from (default: :func:`find_base_python`). ``venv``
    defaults to :func:`default_venv`; ``wheels`` (the download cache) to ``<venv>-wheels``.
    Raises :class:`~deepfx.errors.UsageError` when no Python 3.9 is available or the
    install fails.
    """
    say = log or (lambda msg: None)
    if python is not None:
        given = Path(python).expanduser()
        if not given.exists():
            raise UsageError(f"{given}: no such interpreter; give a Python 3.9 executable")
        rt = LegacyRuntime(given)
        if (rt.version() or "").startswith(LEGACY_TORCH):
            return rt
    venv_dir = Path(venv).expanduser() if venv else default_venv()
    rt = LegacyRuntime(venv_dir / "bin" / "python")
    if rt.python.exists() and (rt.version() or "").startswith(LEGACY_TORCH):
        return rt
    base = Path(python).expanduser() if python is not None else find_base_python()
    if base is None:
        raise UsageError(
            "the legacy runtime (torch 1.9) needs Python 3.9, which was not found; install "
            "it (e.g. `pyenv install 3.9`) or pass its path"
        )
    if _python_version(base) != (3, 9):
        raise UsageError(
            f"{base} is not Python 3.9 (torch 1.9 wheels exist for Python <= 3.9); pass a "
            "Python 3.9 interpreter"
        )
    wheel_dir = (
        Path(wheels).expanduser() if wheels else venv_dir.with_name(venv_dir.name + "-wheels")
    )
    wheel_dir.mkdir(parents=True, exist_ok=True)

    def pip(args: list[str], interpreter: Path) -> None:
        proc = subprocess.run(
            [str(interpreter), "-m", "pip", *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise UsageError(
                f"setting up the legacy runtime failed: pip {' '.join(args[:2])} ... "
                f"({_cause(proc.stderr) or proc.returncode})"
            )

    if not _have_wheels(wheel_dir):
        say(f"[legacy] downloading {' '.join(LEGACY_REQUIREMENTS)} into {wheel_dir} (once)")
        pip(
            ["download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheel_dir)]
            + list(LEGACY_REQUIREMENTS),
            base,
        )
    say(f"[legacy] creating {venv_dir}")
    proc = subprocess.run(
        [str(base), "-m", "venv", "--clear", str(venv_dir)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise UsageError(f"could not create {venv_dir}: {_cause(proc.stderr)}")
    pip(
        ["install", "-q", "--no-deps", "--no-index", "--find-links", str(wheel_dir)]
        + list(LEGACY_REQUIREMENTS),
        rt.python,
    )
    if not (rt.version() or "").startswith(LEGACY_TORCH):
        raise UsageError(f"{rt.python}: torch {LEGACY_TORCH} does not import after installing")
    return rt


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m deepfx.legacy.runtime")
    parser.add_argument("--python", help="a Python 3.9 interpreter (default: search)")
    parser.add_argument("--venv", help="where the runtime lives (default: user cache)")
    args = parser.parse_args(argv)
    rt = ensure_runtime(args.python, venv=args.venv, log=lambda m: print(m, file=sys.stderr))
    print(rt.python)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

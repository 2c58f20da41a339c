"""Every error deepfx raises, in one place.

Each class also inherits the built-in exception a Python user would expect
(``FileNotFoundError``, ``ValueError``...), carries the fields a program needs, and
has a message that says what happened *and what to do next*. Faces (CLI, app,
Audacity bridge) show ``str(err)`` as a one-line hint and exit with ``err.exit_code``;
tracebacks only appear with ``DEEPFX_DEBUG=1``.

Tree::

    DeepfxError
    ├── CardError (ValueError)                 invalid metadata.json
    ├── ModelLoadError (RuntimeError)          model file cannot be loaded
    │   ├── BackendMissingError                torch / onnxruntime not installed
    │   └── UnsafeModelError                   refused: could run code / touch files
    ├── ContractError (ValueError)             model broke the I/O contract
    ├── ExportError (RuntimeError)             could not export a module
    ├── ValidationFailed                       `deepfx validate` found failures
    ├── AudioError
    │   ├── AudioFileNotFoundError (FileNotFoundError)
    │   ├── AudioPermissionError (PermissionError)
    │   ├── AudioDecodeError (ValueError)
    │   ├── EmptyAudioError (ValueError)
    │   └── NonFiniteAudioError (ValueError)
    ├── MemoryBudgetError (MemoryError)
    ├── OutputError (OSError)                  an output cannot be planned or written
    │   └── OutputConflictError                outputs would overwrite an input or each other
    ├── UsageError (ValueError)                bad option value (unknown stem, overlap >= chunk)
    ├── Cancelled                              user cancelled (exit 130; 143 on SIGTERM)
    ├── HubError
    │   ├── ModelNotFoundError (LookupError)   unknown repo / revision / name
    │   ├── NotInstalledError (LookupError)
    │   ├── AlreadyInstalledError
    │   ├── WrongModelTypeError (ValueError)   "this is an analyzer"
    │   ├── NetworkError (ConnectionError)
    │   ├── ChecksumMismatchError
    │   ├── DiskFullError (OSError)
    │   ├── PublishError
    │   ├── UnsafeHubAnswerError (ValueError)  commit id / file name / size a hub must not send
    │   ├── DownloadLimitError                 a download broke its deadline or size bound
    │   ├── UnsafeSourceError (ValueError)     add-local: a link out, a loop, too many files
    │   └── StorePathError                     a store path resolves outside the store
    └── AudacityError
        ├── AudacityNotRunningError (ConnectionError)
        ├── AudacityTimeoutError (TimeoutError)
        ├── AudacityCommandError
        ├── SelectionError (ValueError)
        └── UnsafePipeError (PermissionError)  a pipe that is a link, a file, not ours

:func:`excerpt` shortens user data (a card's string, a file name) before a message quotes
it, so a 10 MB string never reaches the terminal.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlreadyInstalledError",
    "AudacityCommandError",
    "AudacityError",
    "AudacityNotRunningError",
    "AudacityTimeoutError",
    "AudioDecodeError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioPermissionError",
    "BackendMissingError",
    "Cancelled",
    "CardError",
    "ChecksumMismatchError",
    "ContractError",
    "DeepfxError",
    "DiskFullError",
    "DownloadLimitError",
    "EmptyAudioError",
    "ExportError",
    "UnsafeModelError",
    "HubError",
    "MemoryBudgetError",
    "ModelLoadError",
    "ModelNotFoundError",
    "NetworkError",
    "NonFiniteAudioError",
    "NotInstalledError",
    "OutputConflictError",
    "OutputError",
    "PublishError",
    "SelectionError",
    "StorePathError",
    "UnsafeHubAnswerError",
    "UnsafePipeError",
    "UnsafeSourceError",
    "UsageError",
    "ValidationFailed",
    "WrongModelTypeError",
    "ScaffoldError",
    "excerpt",
    "first_line",
]


def excerpt(text: object, limit: int = 80) -> str:
    """A short, printable excerpt of user data for an error message.

    Messages must stay one short line even when a card or a file holds megabytes: the
    value is ``repr``-quoted (so control characters and newlines cannot break the line)
    and cut to about ``limit`` characters with ``…`` and the full length noted.
    """
    try:
        s = text if isinstance(text, str) else str(text)
    except ValueError:  # an int of more than 4300 digits cannot even be printed
        return "<a number with thousands of digits>"
    quoted = repr(s[:limit])
    if len(quoted) > limit + 2:  # escapes (\\n, \\x00) made it longer: cut the quoted form
        quoted = quoted[: limit + 1] + quoted[0]
    return f"{quoted}… ({len(s)} characters)" if len(s) > limit else quoted


def first_line(exc: BaseException, *, limit: int | None = None) -> str:
    """The first non-blank line of ``exc``'s message (its class name if it has none), cut
    to ``limit`` characters: how a foreign exception (torch, onnx, soundfile, the hub
    client) is quoted inside a one-line deepfx message."""
    line = next((s.strip() for s in str(exc).splitlines() if s.strip()), type(exc).__name__)
    if limit is not None and len(line) > limit:
        return line[: limit - 3] + "..."
    return line


class DeepfxError(Exception):
    """Base of every deepfx error. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


# --- model card, model files, contract -------------------------------------------------


class CardError(DeepfxError, ValueError):
    """A model card (metadata.json) is missing, unreadable or breaks the schema.

    ``problems`` lists one ``"field: rule"`` string per violation, e.g.
    ``"short_description: at most 60 characters (got 75)"``.
    """

    exit_code = 3

    def __init__(
        self, message: str, *, path: Path | None = None, problems: list[str] | None = None
    ):
        self.path = path
        self.problems = list(problems or [])
        where = f"{path}: " if path else ""
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(f"{where}{message}{detail}")


class ModelLoadError(DeepfxError, RuntimeError):
    """The network file cannot be loaded: corrupt, not a model, too new, unsafe."""

    exit_code = 3

    def __init__(self, path: Path | str, cause: str):
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"cannot load model file {self.path}: {cause}")


class BackendMissingError(ModelLoadError):
    """The runtime for a model format is not installed; the message names the install command."""

    def __init__(self, path: Path | str, backend: str, install: str):
        self.backend = backend
        super().__init__(path, f"{backend} is not installed; install it with `{install}`")


class UnsafeModelError(ModelLoadError):
    """The network file holds something deepfx refuses to load or run: a pickled object
    that is not plain tensor data, an operator outside the allow-list (one that could
    touch files, processes or the network), a custom ONNX domain, external data outside
    the model folder. ``what`` names the offending part (e.g. ``aten::from_file``)."""

    def __init__(self, path: Path | str, what: str, cause: str):
        self.what = what
        super().__init__(
            path,
            f"refused for safety: {cause}; deepfx only runs models whose files cannot "
            "run code or touch files (see docs/security-models.md)",
        )


class ContractError(DeepfxError, ValueError):
    """A model broke the waveform-to-waveform / waveform-to-labels contract.

    ``rule`` is the broken rule in words; ``model`` and ``at_s`` (the start time of the
    chunk being processed, in seconds) are filled in when known.
    """

    exit_code = 4

    def __init__(self, rule: str, *, model: str | None = None, at_s: float | None = None):
        self.rule = rule
        self.model = model
        self.at_s = at_s
        who = f"model {model!r}" if model else "the model"
        when = f" on the chunk starting at {at_s:.3f} s" if at_s is not None else ""
        super().__init__(f"{who} broke its contract{when}: {rule}")


class ExportError(DeepfxError, RuntimeError):
    """A module could not be exported to the requested format."""

    exit_code = 3


class ValidationFailed(DeepfxError):
    """`deepfx validate` ran and at least one check failed; ``report`` holds the details."""

    exit_code = 1

    def __init__(self, message: str, report: object | None = None):
        self.report = report
        super().__init__(message)


# --- audio -----------------------------------------------------------------------------


class AudioError(DeepfxError):
    """Problems with input audio."""

    exit_code = 2


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        super().__init__(f"audio file not found: {self.path}")


class AudioPermissionError(AudioError, PermissionError):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        super().__init__(f"permission denied reading {self.path}; check the file's permissions")


class AudioDecodeError(AudioError, ValueError):
    def __init__(self, path: Path | str, cause: str):
        self.path = Path(path)
        self.cause = cause
        super().__init__(
            f"cannot read audio from {self.path}: {cause} "
            "(supported: wav, flac, ogg, mp3, aiff; check the file is not truncated)"
        )


class EmptyAudioError(AudioError, ValueError):
    def __init__(self, what: str):
        super().__init__(f"{what} contains no audio samples (zero length)")


class NonFiniteAudioError(AudioError, ValueError):
    """Input holds NaN or infinite samples; ``at_s`` is the time of the first one."""

    def __init__(self, what: str, at_s: float, channel: int):
        self.at_s = at_s
        self.channel = channel
        super().__init__(
            f"{what} contains NaN or infinite samples (first at {at_s:.6f} s, channel {channel}); "
            "repair or re-export the audio"
        )


class MemoryBudgetError(DeepfxError, MemoryError):
    exit_code = 2


class OutputError(DeepfxError, OSError):
    """An output cannot be written: a read-only or missing folder, a name taken by a
    folder, a name too long, a format that cannot hold the audio, too many open files."""

    exit_code = 2


class OutputConflictError(OutputError):
    """The planned outputs would overwrite one of the run's inputs, or each other; found
    before anything is written."""


class UsageError(DeepfxError, ValueError):
    """An option has a value that cannot work (unknown stem name, overlap >= chunk...);
    the message names the valid choices."""

    exit_code = 2


class ScaffoldError(UsageError):
    """``deepfx init`` cannot create the project (bad name, the folder exists...)."""


class Cancelled(DeepfxError):
    """The user cancelled; nothing partial was written."""

    exit_code = 130

    def __init__(self, message: str | None = None, *, signal: int = 2):
        self.signal = signal
        if signal != 2:  # SIGTERM (15) -> 143, the shell's 128 + signal number
            self.exit_code = 128 + signal
        if message is None:
            what = "cancelled" if signal == 2 else "terminated"
            message = f"{what}; no partial output was written"
        super().__init__(message)


# --- hub and store ---------------------------------------------------------------------


class HubError(DeepfxError):
    exit_code = 5


class ModelNotFoundError(HubError, LookupError):
    pass


class NotInstalledError(HubError, LookupError):
    """No model by this name: the message leads somewhere (a close name, the built-ins,
    add-local for ``local/``, a folder that is missing), never to a command that fails."""

    def __init__(self, name: str, *, suggestion: str | None = None):
        self.name = name
        #: a close known name (:func:`deepfx.store.suggest_name` finds it where raised)
        self.suggestion = suggestion or ""
        super().__init__(_not_installed(name, self.suggestion))


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~", "\\"))
        or name.count("/") > 1
        or name.endswith((".zip", "/", ".json"))
        or "\\" in name
    )


def _not_installed(name: str, suggestion: str) -> str:
    shown = excerpt(name, 80)
    if suggestion:
        return (
            f"model {shown} is not installed; did you mean {suggestion}? "
            "(`deepfx models list` shows the installed ones)"
        )
    if _looks_like_path(name):
        return (
            f"no model folder at {shown}; give a folder holding metadata.json, or an "
            "installed name (`deepfx models list`)"
        )
    if name.startswith("builtin/"):
        return f"no built-in model {shown}; `deepfx models search` lists the built-ins"
    if name.startswith("local/"):
        return (
            f"no local model {shown}; add one with `deepfx models add-local FOLDER "
            f"--name {name.split('/', 1)[1]}`"
        )
    if "/" in name:
        return (
            f"model {shown} is not installed; see `deepfx models list`, "
            f"or install it with `deepfx models install {name}`"
        )
    return (
        f"model {shown} is not installed; give its full name (`deepfx models list`), or "
        f"look for it with `deepfx models search {name}`"
    )


class AlreadyInstalledError(HubError):
    pass


class WrongModelTypeError(HubError, ValueError):
    pass


class NetworkError(HubError, ConnectionError):
    pass


class ChecksumMismatchError(HubError):
    def __init__(self, filename: str, expected: str, got: str):
        self.filename = filename
        self.expected = expected
        self.got = got
        super().__init__(
            f"downloaded {filename} does not match the hub's checksum "
            f"(expected {expected}, got {got}); nothing was installed, try again"
        )


class DiskFullError(HubError, OSError):
    pass


class PublishError(HubError):
    pass


class UnsafeHubAnswerError(HubError, ValueError):
    """The hub answered something deepfx will not turn into files: a commit id that is not
    40 hex digits, a file name that is absolute, has ``..``, a backslash or a NUL, an HTTP
    5xx. Nothing was written; the message names the server and the value (shortened)."""


class DownloadLimitError(HubError):
    """A download ran past its overall deadline (``DEEPFX_HUB_TIMEOUT`` plus the time at
    ``DEEPFX_HUB_MIN_RATE``) or sent more bytes than the hub announced for the file.
    Nothing was installed."""


class UnsafeSourceError(HubError, ValueError):
    """A local model folder or .zip holds something ``add-local`` refuses: a link that leads
    out of the folder, a link loop, a special file, or more files / bytes than the bounds
    (``DEEPFX_LOCAL_MAX_FILES``, ``DEEPFX_LOCAL_MAX_BYTES``). The message names the entry."""


class StorePathError(HubError):
    """A path the store was about to write or remove resolves (after links) outside the
    store's root; nothing was written or removed."""


# --- Audacity --------------------------------------------------------------------------


class AudacityError(DeepfxError):
    exit_code = 6


class AudacityNotRunningError(AudacityError, ConnectionError):
    pass


class AudacityTimeoutError(AudacityError, TimeoutError):
    pass


class AudacityCommandError(AudacityError):
    pass


class SelectionError(AudacityError, ValueError):
    pass


class UnsafePipeError(AudacityError, PermissionError):
    """Audacity's pipe name holds a link, a regular file or another user's FIFO: refused
    before a byte is written to it."""

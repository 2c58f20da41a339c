"""Every error as a message and what to do: the window never shows a traceback.

:func:`explain` turns any exception into a :class:`Message`: a short title, the error's
own one-line text (deepfx errors already say what happened and what to do next) and a
hint for the window ("Open Settings to change the hub endpoint"). Anything that is not a
:class:`deepfx.errors.DeepfxError` is a bug: its traceback goes to the log file
(:func:`log_path`, shown in the Help menu) and the user sees where to find it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from deepfx import errors as E

__all__ = ["HINTS", "Message", "explain", "log_path", "setup_logging"]

log = logging.getLogger("deepfx.app")


@dataclass(frozen=True)
class Message:
    title: str
    text: str
    hint: str
    error: str  # the class name, for tests and the log

    def __str__(self) -> str:
        return f"{self.title}: {self.text} {self.hint}".strip()


#: (class, title, what to do in the window); the first class an error is an instance of wins.
HINTS: tuple[tuple[type[BaseException], str, str], ...] = (
    (E.Cancelled, "Cancelled", "Nothing was written; run it again when you are ready."),
    (E.CardError, "Invalid model card", "Ask the model's author to fix metadata.json."),
    (
        E.BackendMissingError,
        "A runtime is missing",
        "Install it with the command shown, then restart deepfx.",
    ),
    (
        E.UnsafeModelError,
        "Model refused for safety",
        "Its files could run code or touch files; deepfx will not run it. Pick another model.",
    ),
    (
        E.ModelLoadError,
        "The model cannot be loaded",
        "Update or reinstall it, or pick another model.",
    ),
    (
        E.ContractError,
        "The model misbehaved",
        "It returned output deepfx cannot use; report it to the model's author.",
    ),
    (E.ExportError, "Export failed", "Check the model module and try again."),
    (E.ValidationFailed, "Validation failed", "See the report for the failing checks."),
    (E.AudioFileNotFoundError, "File not found", "Check the file still exists."),
    (E.AudioPermissionError, "Cannot open the file", "Check you may read it, then retry."),
    (E.AudioDecodeError, "Cannot read the audio", "Convert the file to WAV or FLAC and retry."),
    (E.EmptyAudioError, "No audio", "Pick a file or selection with sound in it."),
    (E.NonFiniteAudioError, "Broken samples", "Repair or re-export the audio."),
    (E.AudioError, "Audio problem", "Check the input audio."),
    (E.MemoryBudgetError, "Not enough memory", "Process a shorter file or close other programs."),
    (
        E.OutputConflictError,
        "Outputs would overwrite an input",
        "Choose another output folder: inputs are never overwritten.",
    ),
    (E.OutputError, "Cannot write the output", "Choose another output folder in the Apply tab."),
    (
        E.ScaffoldError,
        "Cannot create the model project",
        "Pick an empty folder and a valid name, then try again.",
    ),
    (E.UsageError, "Option not possible", "Change the option shown and try again."),
    (E.ModelNotFoundError, "Model not found", "Check the name (user/model) or the hub URL."),
    (E.NotInstalledError, "Not installed", "Install the model in the library first."),
    (E.AlreadyInstalledError, "Already installed", "Use Update to get a newer revision."),
    (E.WrongModelTypeError, "Wrong type of model", "Look for it in the other tab."),
    (
        E.NetworkError,
        "The hub cannot be reached",
        "Installed models still work; check the connection or the hub endpoint in Settings.",
    ),
    (E.ChecksumMismatchError, "Download corrupted", "Nothing was installed; install again."),
    (E.DiskFullError, "Disk full", "Free some space or move the store folder in Settings."),
    (E.PublishError, "Publishing failed", "Check the repo name and your token."),
    (
        E.UnsafeHubAnswerError,
        "The hub sent something unsafe",
        "Nothing was installed; check the hub endpoint in Settings.",
    ),
    (
        E.DownloadLimitError,
        "The download stalled or grew too large",
        "Nothing was installed; try again later or check the connection.",
    ),
    (
        E.UnsafeSourceError,
        "The model folder is unsafe",
        "It holds links out of the folder, loops or too many files; copy plain files instead.",
    ),
    (
        E.StorePathError,
        "The model store looks tampered with",
        "Nothing was changed; check the store folder in Settings.",
    ),
    (E.HubError, "Model store problem", "Try again; see the log file if it persists."),
    (
        E.AudacityNotRunningError,
        "Audacity is not reachable",
        "Start Audacity with mod-script-pipe enabled, or apply to files instead.",
    ),
    (
        E.AudacityTimeoutError,
        "Audacity stopped answering",
        "Close any open dialog in Audacity and try again; the project was left as it was.",
    ),
    (
        E.SelectionError,
        "Nothing to process in Audacity",
        "Select a time range on one or more audio tracks.",
    ),
    (
        E.UnsafePipeError,
        "Audacity's pipe is not safe to use",
        "Something other than Audacity sits at its pipe path; restart Audacity and try again.",
    ),
    (
        E.AudacityCommandError,
        "Audacity refused a command",
        "The project was left as it was; check Audacity is not busy and try again.",
    ),
    (E.AudacityError, "Audacity problem", "The project was left as it was; try again."),
    (E.DeepfxError, "Something went wrong", "Try again; see the log file if it persists."),
)


def explain(exc: BaseException) -> Message:
    """The message for ``exc``; unexpected errors are logged with their traceback."""
    for cls, title, hint in HINTS:
        if isinstance(exc, cls):
            return Message(title, _one_line(str(exc)) or title, hint, type(exc).__name__)
    log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    return Message(
        "Internal error",
        f"{type(exc).__name__}: {_one_line(str(exc))}",
        f"This is a bug in deepfx; the details are in {log_path()}.",
        type(exc).__name__,
    )


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def log_path() -> Path:
    """The app's log file: ``DEEPFX_APP_LOG``, else ``<user log dir>/deepfx/app.log``."""
    from deepfx.settings import app_log

    env = app_log()
    if env:
        return env
    from platformdirs import user_log_dir

    return Path(user_log_dir("deepfx", appauthor=False)) / "app.log"


def setup_logging() -> Path:
    """Send the app's log (warnings and errors, with tracebacks) to :func:`log_path`."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("deepfx")
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return path

"""Run a deepfx model on the selection of a running Audacity, and put the results back.

This is the Python API behind ``deepfx audacity ...`` (and the desktop app):

* :func:`status` says whether Audacity answers, which tracks the project has and what
  is selected;
* :func:`apply` reads the selection (no time range: the selected tracks, whole), exports
  each selected audio track's part of it at the project rate, runs the model through
  :func:`deepfx.engine.process`, then adds the results: an effect adds one new track per
  output, named ``"<track> - <label>"`` (with the model, then a number, when that name is
  taken: :func:`effect_track_names`) and placed at the selection start, all in one
  ``.lof`` import (one undo step per output, name, clip title and place included); an
  analyzer adds one label track ``"<model> - labels"`` with each label at its absolute
  time, in one undo step (a Nyquist Prompt program that returns the labels). The source
  tracks are never changed.

Failure leaves the project as it was: "no audio track selected" is said before the model
loads, the model is loaded before the project is touched, every model runs before
anything is imported, and if an import fails what was added is removed again.

Audacity 3.2's scripting has no getter for the selected time range nor for the project
rate, so both are measured: ``AddLabel:`` makes a label spanning exactly the selection,
``GetInfo: Type=Labels`` reads it, ``Undo:`` removes it (and the label track it may have
made); the rate is the one in the header of an exported file. ``GetInfo`` prints times
with 6 significant digits, so the range is snapped to the nearest samples of that value:
on a selection starting after 10 s it may start up to a few samples away from where the
mouse put it, and the results are placed exactly on the samples that were processed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deepfx.audacity.pipe import DEFAULT_TIMEOUT_S, AudacityPipe, format_command
from deepfx.errors import (
    AudacityCommandError,
    AudacityError,
    AudacityNotRunningError,
    DeepfxError,
    SelectionError,
)

if TYPE_CHECKING:
    from deepfx.engine.events import CancelToken
    from deepfx.labels import Label
    from deepfx.model import Model

__all__ = [
    "AddedTrack",
    "ApplyProgress",
    "ApplyResult",
    "Selection",
    "Status",
    "TrackInfo",
    "apply",
    "status",
]

#: Audacity's preference for the sample format of WAV exports: 6 is 32-bit float
#: (libsndfile's SF_FORMAT_FLOAT), so the model sees the samples unchanged. The user's
#: own value is put back afterwards.
_WAV_FORMAT_PREF = "/FileFormats/ExportFormat_SF1_Type/WAV_10000"
_WAV_FLOAT = "6"


@dataclass(frozen=True)
class TrackInfo:
    """One track of the Audacity project, as ``GetInfo: Type=Tracks`` reports it.

    ``index`` counts every track (audio and label) from 0, in the order shown;
    ``start_s`` / ``end_s`` are ``None`` for label tracks, ``channels`` is 1 or 2 for
    audio tracks and 0 for label tracks.
    """

    index: int
    name: str
    kind: str
    selected: bool
    start_s: float | None = None
    end_s: float | None = None
    channels: int = 0
    #: The track's gain slider (linear); Audacity <= 3.6 calls it ``gain``, 3.7 ``volume``.
    volume: float | None = None

    @property
    def is_wave(self) -> bool:
        return self.kind == "wave"


@dataclass(frozen=True)
class Selection:
    """The time range selected in Audacity (seconds from the project start, to 6
    significant digits) and the selected audio tracks."""

    start_s: float
    end_s: float
    tracks: tuple[TrackInfo, ...]

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Status:
    """What :func:`status` found: ``connected`` is False (with ``message`` saying why)
    when Audacity does not answer."""

    connected: bool
    tracks: tuple[TrackInfo, ...] = ()
    selection: Selection | None = None
    message: str = ""


@dataclass(frozen=True)
class AddedTrack:
    """A track :func:`apply` added: for effects one per (source track, output label),
    for analyzers the label track (``source`` is then the model name)."""

    name: str
    kind: str
    source: str
    label: str
    start_s: float
    samples: int = 0
    channels: int = 0
    labels: int = 0


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply` did: the model, its kind, the range processed (snapped to
    samples of ``sample_rate``, the project rate) and the tracks it added."""

    model: str
    kind: str
    sample_rate: int
    start_s: float
    end_s: float
    added: tuple[AddedTrack, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ApplyProgress:
    """A progress event of :func:`apply`.

    ``stage`` is ``"loading"`` (the model; ``track`` is then the model's name),
    ``"reading"`` (exporting the selection), ``"running"`` (the model; ``done``/``total``
    then come from the engine, in its units, with ``chunk`` of ``chunks`` the forward
    call being worked on and ``eta_s`` the engine's time left for this track), or
    ``"adding"`` (importing results); ``index``/``count`` say which selected track.
    """

    stage: str
    track: str
    index: int
    count: int
    done: float = 0
    total: float = 0
    chunk: int = 0
    chunks: int = 0
    eta_s: float | None = None


ProgressCallback = Callable[[ApplyProgress], None]


# --- public API ------------------------------------------------------------------------


def status(*, pipe: AudacityPipe | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Status:
    """Connect (unless ``pipe`` is given) and report the project and its selection.

    Never raises for "Audacity not running": returns ``Status(connected=False,
    message=...)`` with the steps to fix it, so a UI can show it as a state.
    """
    try:
        with _connected(pipe, timeout_s) as p:
            tracks = _tracks(p)
            selection = _read_selection(p, tracks) if tracks else None
            return Status(connected=True, tracks=tuple(tracks), selection=selection)
    except AudacityNotRunningError as exc:
        return Status(connected=False, message=str(exc))


def apply(
    model: str | Path | Model,
    *,
    stems: Sequence[str] | None = None,
    per_channel: bool | None = None,
    device: str = "auto",
    threads: int | None = None,
    pipe: AudacityPipe | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_progress: ProgressCallback | None = None,
    cancel: Any = None,
    loader: Callable[[], Model] | None = None,
) -> ApplyResult:
    """Run ``model`` on Audacity's selection and add the results to the project.

    Parameters
    ----------
    model
        An installed model name (``org/name``), a model folder, or a loaded
        :class:`~deepfx.model.Model`. It is loaded before Audacity is touched, so a
        missing or broken model changes nothing.
    stems
        Effects only: keep just these output labels (default: all of them).
    per_channel
        Passed to the engine. ``None`` (default): stereo stays stereo for effects (a mono
        model runs once per channel) and analyzers read a mono mix; ``False``: mix down
        to mono; ``True``: run analyzers per channel too.
    device, threads
        Where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``...) and CPU threads.
    pipe
        An open :class:`AudacityPipe` to reuse; by default one is opened and closed.
    timeout_s
        Limit for each Audacity command, in seconds (not for the model).
    on_progress
        Called with :class:`ApplyProgress` events.
    cancel
        A ``deepfx.engine.CancelToken``; cancelling (from another thread, or from
        ``on_progress``) stops at the next step and removes anything already added.
    loader
        Gives the loaded model instead of loading ``model`` here (the resident worker's
        cache; it reports its own "loading" stage). Called after the track check.

    Raises
    ------
    SelectionError
        No audio track selected, or an empty time range.
    NotInstalledError, CardError, ModelLoadError
        The model cannot be found or loaded.
    ContractError
        The model broke its contract; nothing was added.
    AudacityNotRunningError, AudacityTimeoutError, AudacityCommandError
        Talking to Audacity failed.
    """
    from deepfx.engine.options import check_stems
    from deepfx.model import Model as _Model
    from deepfx.model import load_model

    with _connected(pipe, timeout_s) as p, _scratch_dir(_model_label(model)) as scratch:
        # "nothing selected" is said at once, before the model's seconds of loading
        tracks = _tracks(p)
        if not any(t.selected and t.is_wave for t in tracks):
            raise SelectionError(_NOTHING_SELECTED)
        if loader is not None:
            loaded = loader()
        else:
            if on_progress and not isinstance(model, _Model):
                on_progress(ApplyProgress("loading", _model_label(model), 0, 1))
            loaded = load_model(model, device=device, threads=threads)  # type: ignore[arg-type]
            loaded.load()
        kept = check_stems(loaded.card, stems, model_name=loaded.name)  # before any change
        selection = _read_selection(p, tracks)
        if selection is None or not selection.tracks:
            raise SelectionError(_NOTHING_SELECTED)
        if selection.duration_s <= 0:
            selection = _whole_tracks(selection)
        was_selected = tuple(t for t in tracks if t.selected)
        job = _Apply(
            p, loaded, tracks, selection, scratch, kept, per_channel, device, threads,
            on_progress, cancel,
        )  # fmt: skip
        try:
            inputs, job.rate = _export_selection(p, selection, scratch, on_progress)
            results = _run_all(job, inputs)
            job.start_s = round(selection.start_s * job.rate) / job.rate
            end_s = job.start_s + max(a.shape[1] for a in inputs) / job.rate
            _add_results(job, results)
        finally:
            _restore_selection(p, selection, all_selected=was_selected)
    return ApplyResult(
        model=loaded.name,
        kind=loaded.card.kind,
        sample_rate=job.rate,
        start_s=job.start_s,
        end_s=end_s,
        added=tuple(job.added),
    )


_NOTHING_SELECTED = (
    "no audio track is selected in Audacity: click one or more audio tracks (or select a "
    "time range on them), then run again"
)


def _model_label(model: object) -> str:
    """A short, readable name of what is being applied (for progress and temp folders)."""
    name = getattr(model, "name", None)
    if isinstance(name, str) and name:
        return name
    text = str(model).rstrip("/")
    if "/" in text and not Path(text).exists():
        return text  # an installed model's org/name
    return Path(text).name or text


def _whole_tracks(selection: Selection) -> Selection:
    """No time range (a cursor): like Audacity's own effects, take the selected tracks
    whole, from the earliest start to the latest end among them."""
    starts = [t.start_s for t in selection.tracks if t.start_s is not None]
    ends = [t.end_s for t in selection.tracks if t.end_s is not None]
    if not starts or not ends or max(ends) <= min(starts):
        raise SelectionError(
            "the selected audio tracks hold no audio: select tracks with audio, then run again"
        )
    return Selection(start_s=min(starts), end_s=max(ends), tracks=selection.tracks)


@dataclass
class _Apply:
    """One apply's state, passed as one object: what was asked (model, options,
    callbacks), what Audacity showed (tracks, selection), and what has been done so far
    (the rate read, where results go, the tracks added: removed again on failure)."""

    pipe: AudacityPipe
    model: Model
    tracks: list[TrackInfo]
    selection: Selection
    scratch: Path
    stems: tuple[str, ...] | None
    per_channel: bool | None
    device: str
    threads: int | None
    on_progress: ProgressCallback | None
    cancel: CancelToken | None
    rate: int = 0
    start_s: float = 0.0
    added: list[AddedTrack] = field(default_factory=list)

    @property
    def base(self) -> int:
        """Index of the first track this apply adds (they go after every existing one)."""
        return len(self.tracks)

    def progress(
        self, stage: str, name: str, index: int, done: float = 0, total: float = 0, **more: Any
    ) -> None:
        """Tell the caller where this apply is (:class:`ApplyProgress`)."""
        if self.on_progress:
            count = len(self.selection.tracks)
            self.on_progress(ApplyProgress(stage, name, index, count, done, total, **more))

    def check_cancel(self) -> None:
        """The engine's cancel check, between Audacity steps."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled("cancelled; the Audacity project was left as it was")


# --- reading the project ---------------------------------------------------------------


@contextlib.contextmanager
def _connected(pipe: AudacityPipe | None, timeout_s: float) -> Iterator[AudacityPipe]:
    if pipe is not None:
        if not pipe.connected:
            pipe.connect()
        yield pipe
        return
    own = AudacityPipe(timeout_s=timeout_s).connect()
    try:
        yield own
    finally:
        own.close()


@contextlib.contextmanager
def _scratch_dir(label: str = "") -> Iterator[Path]:
    """A private (0700) folder for the exchanged files. Its name carries the model, since
    Audacity's History window shows each import's path (``Imported '<folder>/<name>'``)."""
    from deepfx.outputs.names import safe_component

    tag = safe_component(label.replace("/", " "))[:60] if label else "audacity"
    path = Path(tempfile.mkdtemp(prefix=f"deepfx {tag} "))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _tracks(pipe: AudacityPipe) -> list[TrackInfo]:
    raw = pipe.get_info("Tracks")
    if not isinstance(raw, list):
        raise AudacityCommandError(f"unexpected answer to GetInfo Tracks: {raw!r:.200}")
    out = []
    for i, t in enumerate(raw):
        wave = t.get("kind") == "wave"
        out.append(
            TrackInfo(
                index=i,
                name=str(t.get("name", "")),
                kind=str(t.get("kind", "")),
                selected=bool(t.get("selected")),
                start_s=float(t["start"]) if wave and "start" in t else None,
                end_s=float(t["end"]) if wave and "end" in t else None,
                channels=int(t.get("channels", 1)) if wave else 0,
                volume=_volume(t) if wave else None,
            )
        )
    return out


def _volume(track: dict[str, Any]) -> float | None:
    """The gain of a wave track: ``volume`` in Audacity 3.7+, ``gain`` before."""
    for key in ("volume", "gain"):
        if key in track:
            try:
                return float(track[key])
            except (TypeError, ValueError):
                return None
    return None


def _has_selection_info(pipe: AudacityPipe) -> bool:
    """Whether this Audacity answers ``GetInfo: Type=Selection`` (3.6+).

    Sending it to an Audacity without it opens a modal dialog and hangs the pipe, so it
    is looked up first in ``GetInfo: Type=Commands``: the values of GetInfo's ``Type``.
    """
    cached = getattr(pipe, "_deepfx_selection_info", None)
    if isinstance(cached, bool):
        return cached
    found = False
    with contextlib.suppress(AudacityError):
        for cmd in pipe.get_info("Commands") or []:
            if isinstance(cmd, dict) and cmd.get("id") == "GetInfo":
                for param in cmd.get("params") or []:
                    if isinstance(param, dict) and param.get("key") == "Type":
                        found = "Selection" in (param.get("enum") or [])
                break
    with contextlib.suppress(AttributeError):
        pipe._deepfx_selection_info = found  # type: ignore[attr-defined]
    return found


def _label_multiset(pipe: AudacityPipe) -> Counter[tuple[int, float, float, str]]:
    raw = pipe.get_info("Labels")
    found: Counter[tuple[int, float, float, str]] = Counter()
    for track_index, labels in raw or []:
        for start, end, text in labels:
            found[(int(track_index), float(start), float(end), str(text))] += 1
    return found


def _read_selection(pipe: AudacityPipe, tracks: list[TrackInfo]) -> Selection | None:
    """The selected time range: ``GetInfo: Type=Selection`` where Audacity has it (3.6+),
    else via ``AddLabel:`` / ``GetInfo: Type=Labels`` / ``Undo:``, then the track
    selection put back the way it was (``Undo:`` restores the selection of the previous
    undo state, not the current one)."""
    selected = tuple(t for t in tracks if t.selected and t.is_wave)
    if _has_selection_info(pipe):
        # Audacity 3.6+: ask directly; the project is not touched
        reply = pipe.send(format_command("GetInfo", Type="Selection", Format="JSON"))
        if reply.ok:
            data = reply.json()
            if isinstance(data, dict) and "Start" in data and "End" in data:
                return Selection(
                    start_s=float(data["Start"]), end_s=float(data["End"]), tracks=selected
                )
    before = _label_multiset(pipe)
    pipe.do("AddLabel")
    after = _label_multiset(pipe)
    new = after - before
    if sum(new.values()) != 1:
        if new:
            pipe.do("Undo")
        return None
    pipe.do("Undo")
    ((_, start, end, _),) = new.keys()
    result = Selection(start_s=start, end_s=end, tracks=selected)
    _restore_selection(pipe, result, all_selected=tuple(t for t in tracks if t.selected))
    return result


def _restore_selection(
    pipe: AudacityPipe, selection: Selection, *, all_selected: tuple[TrackInfo, ...] | None = None
) -> None:
    chosen = all_selected if all_selected is not None else selection.tracks
    with contextlib.suppress(AudacityError):
        if chosen:
            for n, t in enumerate(chosen):
                pipe.do(
                    "SelectTracks", Track=t.index, TrackCount=1, Mode="Set" if n == 0 else "Add"
                )
        else:
            pipe.do("SelectNone")
        pipe.do("SelectTime", Start=selection.start_s, End=selection.end_s)


#: Audacity 3.5+ "Music Imports" preferences and the values that make an import plain:
#: no tempo dialog ("When importing a music loop into an empty project": do nothing) and
#: no stretching to the project tempo (into an existing project: do nothing). The
#: user's values are put back afterwards; older versions ignore the keys.
_MUSIC_IMPORT_PREFS = {
    "/FileFormats/MusicFileImportSettingChoice": ("No", "Ask"),
    "/FileFormats/MusicFileImportOnExistingProjectSettingChoice": (
        "DoNothing",
        "MatchIfBeatsAndMeasures",
    ),
}


@contextlib.contextmanager
def _plain_imports(pipe: AudacityPipe) -> Iterator[None]:
    """Import results as plain audio (no 3.5+ tempo dialog or stretch), then restore the
    user's "Music Imports" preferences (their defaults where they were never set)."""
    old: dict[str, str] = {}
    for name, (value, default) in _MUSIC_IMPORT_PREFS.items():
        reply = pipe.send(f'GetPreference: Name="{name}"')
        old[name] = reply.text.strip() if reply.ok and reply.text.strip() else default
        pipe.do("SetPreference", Name=name, Value=value)
    try:
        yield
    finally:
        with contextlib.suppress(AudacityError):
            for name, value in old.items():
                pipe.do("SetPreference", Name=name, Value=value)


@contextlib.contextmanager
def _float_wav_exports(pipe: AudacityPipe) -> Iterator[None]:
    """Make WAV exports 32-bit float for the duration, then restore the user's choice."""
    old = pipe.send(f'GetPreference: Name="{_WAV_FORMAT_PREF}"')
    pipe.do("SetPreference", Name=_WAV_FORMAT_PREF, Value=_WAV_FLOAT)
    try:
        yield
    finally:
        with contextlib.suppress(AudacityError):
            restore = old.text.strip() if old.ok and old.text.strip() else "0"
            pipe.do("SetPreference", Name=_WAV_FORMAT_PREF, Value=restore)


def _export_selection(
    pipe: AudacityPipe,
    selection: Selection,
    scratch: Path,
    on_progress: ProgressCallback | None,
) -> tuple[list[np.ndarray], int]:
    """Each selected track's part of the selection, alone, as float32 (channels, samples)."""
    import soundfile as sf

    audio: list[np.ndarray] = []
    rates: set[int] = set()
    count = len(selection.tracks)
    with _float_wav_exports(pipe):
        for n, track in enumerate(selection.tracks):
            if on_progress:
                on_progress(ApplyProgress("reading", track.name, n, count))
            path = scratch / f"in-{track.index}.wav"
            pipe.do(
                "Select",
                Start=selection.start_s,
                End=selection.end_s,
                Track=track.index,
                TrackCount=1,
                Mode="Set",
            )
            pipe.do("Export2", Filename=str(path), NumChannels=max(1, track.channels))
            if not path.is_file():
                raise AudacityCommandError(
                    f"Audacity reported exporting track {track.name!r} but wrote no file"
                )
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                raise SelectionError(
                    f"the selection holds no samples of track {track.name!r}: select a longer "
                    "range, then run again"
                )
            audio.append(np.ascontiguousarray(data.T))
            rates.add(int(rate))
    if len(rates) != 1:
        raise AudacityCommandError(f"Audacity exported at several rates ({sorted(rates)})")
    return audio, rates.pop()


# --- running the model -----------------------------------------------------------------


def _run_all(job: _Apply, inputs: list[np.ndarray]) -> list[Any]:
    """Run the model on every track before anything is imported (all or nothing)."""
    from deepfx.engine import process

    results = []
    for n, (audio, track) in enumerate(zip(inputs, job.selection.tracks, strict=True)):

        def relay(event: Any, _n: int = n, _name: str = track.name) -> None:
            if getattr(event, "stage", "") != "processing":
                return
            job.progress(
                "running",
                _name,
                _n,
                float(event.done or 0),
                float(event.total or 0),
                chunk=int(getattr(event, "chunk", 0) or 0),
                chunks=int(getattr(event, "chunks", 0) or 0),
                eta_s=event.eta_s,
            )

        job.check_cancel()
        job.progress("running", track.name, n)
        results.append(
            process(
                job.model,
                audio,
                job.rate,
                stems=list(job.stems) if job.stems is not None else None,
                per_channel=job.per_channel,
                device=job.device,
                threads=job.threads,
                on_progress=relay,
                cancel=job.cancel,
            )
        )
    return results


# --- adding the results ----------------------------------------------------------------


def _track_name(text: str) -> str:
    """Audacity commands cannot carry ``"``; newlines would end the command."""
    return " ".join(text.replace('"', "'").split())


def _short_model(name: str) -> str:
    """``builtin/hpss`` -> ``hpss``: what a track name adds when it must say the model."""
    return name.rsplit("/", 1)[-1] or name


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... the first not in ``taken`` (compared
    case-insensitively, like file names on macOS and Windows)."""
    folded = {t.casefold() for t in taken}
    n, candidate = 1, name
    while candidate.casefold() in folded:
        n += 1
        candidate = f"{name} ({n})"
    return candidate


def effect_track_names(
    model: str, wanted: Sequence[tuple[str, str]], existing: Sequence[str]
) -> list[str]:
    """The names of the tracks one apply adds, for (source track, output label) pairs.

    ``"<track> - <label>"``; when that is taken (a track of the project, or an earlier
    output of this apply) the model says what made it: ``"voice - vocals (demucs_extra)"``;
    when that is taken too (a repeated apply), a number: ``"voice - vocals (demucs_extra)
    (2)"``. Each name is also the name of the file Audacity imports (the clip is titled
    after it), so it is a safe file name (:func:`deepfx.outputs.names.plan_names`).
    """
    from deepfx.outputs.names import OutputNaming, output_name, plan_names

    taken = {f"{n}.wav".casefold() for n in existing}
    out: list[str] = []
    for stem, label in wanted:
        plain = output_name("{stem} - {label}.wav", stem=_track_name(stem), label=label, ext="wav")
        template = "{stem} - {label}.{ext}"
        if plain.casefold() in taken:
            template = "{stem} - {label} ({model}).{ext}"
        (names,) = plan_names(
            [OutputNaming(_track_name(stem), ((_track_name(label), 0, "wav"),))],
            template=template,
            model=_short_model(model),
            taken=sorted(taken),
        )
        chosen = names[_track_name(label)]
        taken.add(chosen.casefold())
        out.append(_track_name(chosen[: -len(".wav")]))
    return out


def _add_results(job: _Apply, results: list[Any]) -> None:
    """Import everything; on any failure remove what was added, then re-raise."""
    try:
        if job.model.card.is_effect:
            with _plain_imports(job.pipe):
                _add_effect_tracks(job, results)
        else:
            job.check_cancel()
            _add_label_track(job, results)
    except BaseException:
        _remove_added(job.pipe, job.base)
        raise


def _remove_added(pipe: AudacityPipe, base: int) -> None:
    with contextlib.suppress(DeepfxError):
        now = len(_tracks(pipe))
        if now > base:
            pipe.do("SelectTracks", Track=base, TrackCount=now - base, Mode="Set")
            pipe.do("RemoveTracks")


def _lof_line(path: Path, offset_s: float) -> str:
    return f'file "{path}" offset {offset_s!r}'


def _add_effect_tracks(job: _Apply, results: list[Any]) -> None:
    """Every output in one ``Import2`` of a list-of-files (``.lof``) file.

    Each output is written as ``<track name>.wav`` in the private scratch folder, and the
    ``.lof`` line gives its offset: Audacity then names the track and its clip after the
    file and places it at the selection start while importing, so each output is exactly
    one undo step ("Imported '<folder>/voice - harmonic.wav'") that holds its name and
    position (a scripted ``SetTrack:``/``SetClip:`` would record no step, and Ctrl+Z then
    Ctrl+Y would lose them). Audacity 3.2 answers ``Failed!`` to a ``.lof`` import that
    worked, so the result is checked in the track list instead.
    """
    import soundfile as sf

    pipe, rate, start_s, added, base = job.pipe, job.rate, job.start_s, job.added, job.base
    planned: list[tuple[TrackInfo, str, np.ndarray]] = []
    for track, result in zip(job.selection.tracks, results, strict=True):
        for label, audio in result.tracks.items():
            planned.append((track, str(label), np.asarray(audio, dtype=np.float32)))
    names = effect_track_names(
        job.model.name, [(t.name, label) for t, label, _ in planned], [t.name for t in job.tracks]
    )
    lines = []
    told: set[int] = set()
    for n, ((track, _label, audio), name) in enumerate(zip(planned, names, strict=True)):
        if track.index not in told:  # one "adding" event per source track
            told.add(track.index)
            job.progress("adding", track.name, job.selection.tracks.index(track))
            job.check_cancel()
        folder = job.scratch / f"out-{n}"  # one name per folder: names may differ by case only
        folder.mkdir()
        path = folder / f"{name}.wav"
        sf.write(str(path), audio.T, rate, subtype="FLOAT")
        lines.append(_lof_line(path, start_s))
    job.check_cancel()
    listing = job.scratch / "outputs.lof"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pipe.send(format_command("Import2", Filename=str(listing)))
    now = _tracks(pipe)
    new = now[base:]
    if len(new) != len(planned) or not all(t.is_wave for t in new):
        raise AudacityCommandError(
            f"importing {len(planned)} result(s) added {len(new)} track(s) to Audacity"
        )
    for t, name, (track, label, audio) in zip(new, names, planned, strict=True):
        if t.name != name:  # Audacity named it otherwise (should not happen): say it anyway
            pipe.do("SelectTracks", Track=t.index, TrackCount=1, Mode="Set")
            pipe.do("SetTrack", Name=name)
        added.append(
            AddedTrack(
                name=name,
                kind="wave",
                source=track.name,
                label=label,
                start_s=start_s,
                samples=int(audio.shape[1]),
                channels=int(audio.shape[0]),
            )
        )


def _has_nyquist_prompt(pipe: AudacityPipe) -> bool:
    """Whether this Audacity has the Nyquist Prompt effect (``GetInfo: Type=Commands``)."""
    cached = getattr(pipe, "_deepfx_nyquist", None)
    if isinstance(cached, bool):
        return cached
    found = False
    with contextlib.suppress(AudacityError):
        found = any(
            isinstance(c, dict) and c.get("id") == "NyquistPrompt"
            for c in pipe.get_info("Commands") or []
        )
    with contextlib.suppress(AttributeError):
        pipe._deepfx_nyquist = found  # type: ignore[attr-defined]
    return found


def _nyquist_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _nyquist_labels(labels: Sequence[Label]) -> str:
    """A Nyquist program whose result is the labels, times relative to the selection."""
    items = " ".join(
        f"(list {lab.start_s!r} {lab.end_s!r} {_nyquist_string(_track_name(lab.text) or '?')})"
        for lab in labels
    )
    return f"(list {items})"


def _label_track_name(model: str, existing: Sequence[str]) -> str:
    return _unique(_track_name(f"{model} - labels"), set(existing))


def _add_label_track(job: _Apply, results: list[Any]) -> None:
    """One label track for the model, labels from every selected track merged in time.

    Where Audacity has the Nyquist Prompt (3.x), every label goes in at once: a Nyquist
    program that returns the label list, applied to the processed range of one source
    track, creates a new label track holding them all. Effects run through the pipe
    record no undo step, so the track is then named and one label's text set again with
    ``SetLabel:``, which records the one step that holds it all. Without the Nyquist
    Prompt, each label is ``AddLabel:`` + ``SetLabel:`` (two steps per label). No labels:
    no track (the result says so).
    """
    pipe, model, start_s, added, base = job.pipe, job.model, job.start_s, job.added, job.base
    labels: list[Label] = sorted(
        {lab for result in results for lab in result.labels},
        key=lambda lab: (lab.start_s, lab.end_s, lab.text),
    )
    name = _label_track_name(model.name, [t.name for t in job.tracks])
    if not labels:
        return
    labels_before = sum(_label_multiset(pipe).values())
    end_s = start_s + max(lab.end_s for lab in labels)
    if _has_nyquist_prompt(pipe):
        first = job.selection.tracks[0]
        pipe.do("SelectTracks", Track=first.index, TrackCount=1, Mode="Set")
        pipe.do("SelectTime", Start=start_s, End=max(end_s, job.selection.end_s))
        # quoted by hand: Audacity's parser reads \" and \\ inside a quoted value
        # (measured on 3.2), which format_command refuses for every other command
        program = _nyquist_labels(labels).replace("\\", "\\\\").replace('"', '\\"')
        reply = pipe.send(f'NyquistPrompt: Command="{program}" Version=4')
        if not reply.ok:
            raise AudacityCommandError(f"the Nyquist Prompt failed: {reply.text.strip()[:200]}")
        now = _tracks(pipe)
        if len(now) != base + 1 or now[base].kind != "label":
            raise AudacityCommandError("the Nyquist Prompt did not add one label track")
        pipe.do("SelectTracks", Track=base, TrackCount=1, Mode="Set")
        pipe.do("SetTrack", Name=name)
        pipe.do("SetLabel", Label=labels_before, Text=_track_name(labels[0].text) or "?")
    else:
        pipe.do("NewLabelTrack")
        now = _tracks(pipe)
        if len(now) != base + 1 or now[base].kind != "label":
            raise AudacityCommandError("NewLabelTrack did not add one label track")
        pipe.do("SelectTracks", Track=base, TrackCount=1, Mode="Set")
        pipe.do("SetTrack", Name=name)
        for lab in reversed(labels):  # AddLabel inserts before later labels: latest first
            pipe.do("SelectTime", Start=start_s + lab.start_s, End=start_s + lab.end_s)
            pipe.do("AddLabel")
            pipe.do("SetLabel", Label=labels_before, Text=_track_name(lab.text) or "?")
    got = _label_multiset(pipe)
    ours = sum(c for (t, _, _, _), c in got.items() if t == base)
    if ours != len(labels):
        raise AudacityCommandError(f"the label track holds {ours} labels instead of {len(labels)}")
    added.append(
        AddedTrack(
            name=name,
            kind="label",
            source=model.name,
            label="labels",
            start_s=start_s,
            labels=len(labels),
        )
    )

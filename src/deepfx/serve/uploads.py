"""``POST .../gradio_api/upload``: stream multipart ``files`` parts into private storage.

The body is parsed as it arrives (python-multipart's streaming parser) and written straight
into :class:`~deepfx.serve.storage.Storage`, so an oversized upload is refused after at most
``max_upload_bytes`` were read (or at once, from ``Content-Length``), never spooled to the
system temp folder. Each file must then decode as audio: HARP labels every upload
``audio/midi`` whatever it holds, so the content type is ignored and the bytes decide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from deepfx.serve.storage import Storage

__all__ = ["UploadRejected", "receive_files"]

#: Multipart framing allowed on top of the file bytes before Content-Length is refused.
_FRAMING_SLACK = 64 * 1024


class UploadRejected(Exception):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def _limit_text(limit: int) -> str:
    return f"{limit / 2**20:.0f} MB"


class _Receiver:
    """Callbacks for the streaming parser: one file per ``files`` part."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.limit = storage.max_upload_bytes
        self.files: list[tuple[Path, str]] = []
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._out: BinaryIO | None = None
        self._path: Path | None = None
        self._name = ""
        self._total = 0

    # header callbacks
    def on_part_begin(self) -> None:
        self._headers = {}
        self._out = None
        self._path = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.strip().lower()] = self._header_value.strip()
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        if opts.get(b"name") != b"files" or b"filename" not in opts:
            return  # other form fields are ignored, like Gradio does
        self._name = opts[b"filename"].decode("utf-8", "replace")
        self._path = self.storage.new_upload_path(self._name)
        self._out = open(self._path, "wb")  # noqa: SIM115 - closed in on_part_end / abort

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is None:
            return
        self._total += end - start
        if self._total > self.limit:  # all files of one request together
            raise UploadRejected(
                413,
                f"upload is larger than this server's limit of {_limit_text(self.limit)} "
                f"(at {self._name!r}); start `deepfx serve` with a larger --max-upload-mb "
                "or send a shorter excerpt",
            )
        self._out.write(data[start:end])

    def on_part_end(self) -> None:
        if self._out is not None and self._path is not None:
            self._out.close()
            self.files.append((self._path, self._name))
        self._out = None

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
        paths = [p for p, _ in self.files] + ([self._path] if self._path else [])
        for p in paths:
            self.storage.drop_upload_file(p)
        self.files = []


async def receive_files(
    storage: Storage,
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
) -> list[tuple[Path, str]]:
    """Write the ``files`` parts of a multipart body into ``storage``.

    Returns ``(path, original file name)`` per file. Raises :class:`UploadRejected`
    (nothing is kept) for a body that is not multipart, has no ``files`` part, is
    malformed, or is larger than the limit.
    """
    ctype, opts = parse_options_header(content_type or "")
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise UploadRejected(
            400, "upload needs a multipart/form-data body with the file in a 'files' field"
        )
    limit = storage.max_upload_bytes
    if content_length and content_length.isdigit() and int(content_length) > limit + _FRAMING_SLACK:
        raise UploadRejected(
            413,
            f"upload of {int(content_length) / 2**20:.0f} MB is larger than this server's limit "
            f"of {_limit_text(limit)}; start `deepfx serve` with a larger --max-upload-mb or "
            "send a shorter excerpt",
        )
    rx = _Receiver(storage)
    callbacks = {
        "on_part_begin": rx.on_part_begin,
        "on_part_data": rx.on_part_data,
        "on_part_end": rx.on_part_end,
        "on_header_field": rx.on_header_field,
        "on_header_value": rx.on_header_value,
        "on_header_end": rx.on_header_end,
        "on_headers_finished": rx.on_headers_finished,
    }
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except UploadRejected:
        rx.abort()
        raise
    except (MultipartParseError, ValueError) as exc:
        rx.abort()
        raise UploadRejected(400, f"malformed multipart upload: {exc}") from None
    except BaseException:
        rx.abort()
        raise
    if rx._out is not None:  # the body ended inside a part
        rx.abort()
        raise UploadRejected(400, "malformed multipart upload: the body ended inside a file")
    if not rx.files:
        raise UploadRejected(400, "upload has no file in a 'files' field")
    return rx.files

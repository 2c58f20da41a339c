"""A small hub of the tests' own: the Hugging Face HTTP API over git repos the tests make.

Why not olah alone: olah 0.5.4 has no search by tag or uploads, and offline it serves
neither ``model_info`` without a revision nor a missing file (401). One server that
implements every endpoint deepfx uses, following the hub's documented API, is the
upstream; tests/test_hub_olah.py puts a real olah in front of it. The real
``huggingface_hub`` client talks to either through ``HF_ENDPOINT``.

Endpoints (as huggingface.co answers them):

* ``GET /api/models?filter=&search=``: models whose README front matter has the tag;
* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: info with ``sha``
  and ``siblings`` (``blobId``, ``size``, ``lfs.sha256`` for LFS files);
* ``HEAD|GET /{repo}/resolve/{rev}/{path}``: ``X-Repo-Commit``, ``ETag`` (git blob sha1),
  ``X-Linked-Etag``/``X-Linked-Size`` (sha256 for LFS files), ``Range`` requests;
* ``POST /api/models/{repo}/paths-info/{rev}`` (what olah asks before serving a file);
* ``POST /api/repos/create``, ``/api/validate-yaml``, ``/api/models/{repo}/preupload/{rev}``,
  ``/api/models/{repo}/commit/{rev}`` (ndjson; every file uploaded in "regular" mode);
* errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound).

Files with an LFS extension (``.pt``, ``.pt2``, ``.onnx``, ``.bin``, ``.zip``) are described
as LFS objects (sha256), like the hub's default ``.gitattributes``; the git repos hold the
real bytes. Fault injection: ``corrupt`` (serve flipped bytes of the same size) and
``drop`` (close the connection half-way through a file, N times).

Hostile behaviours (a broken or malicious hub, for the trust tests):

* ``fake_sha[repo_id]``: the commit id the info and resolve answers report (``../../x``);
* ``extra_files[repo_id]``: more file names listed in the info answer (``../evil``, ``a\\b``);
* ``fail[key]``: answer HTTP ``status`` for the info (key ``repo_id``) or a file
  (key ``repo_id/path``);
* ``drip[key]``: send the info (key ``repo_id``) or a file's body one byte every N seconds
  (each read in time, the whole never done);
* ``garbage[repo_id]``: answer the info request with these bytes (not the hub's JSON);
* ``endless``: send a file's body without a length and never end it (until the client
  hangs up, at most ``ENDLESS_CAP`` bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".pt", ".pt2", ".onnx", ".bin", ".zip")
ENDLESS_CAP = 512 * 1024 * 1024  # an endless body stops here at the latest (a test's safety)
DRIP_CAP_S = 60.0  # a dripping body gives up after this long
TOKEN = "hf_test_token_deepfx"

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    env = {**os.environ, **_GIT_ENV}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, input=input, env=env
    ).stdout


class GitHub:
    """Git repos under ``root/<org>/<name>``, each a model repo of the test hub."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, repo_id: str) -> Path:
        return self.root / repo_id

    def exists(self, repo_id: str) -> bool:
        return (self.path(repo_id) / ".git").is_dir()

    def create(self, repo_id: str) -> Path:
        p = self.path(repo_id)
        p.mkdir(parents=True, exist_ok=True)
        git(p, "init", "-q", "-b", "main")
        return p

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | str | Path],
        *,
        message: str = "update",
        delete: tuple[str, ...] = (),
    ) -> str:
        """Write ``files`` (path -> content or a file to copy) and commit; return the sha."""
        p = self.path(repo_id) if self.exists(repo_id) else self.create(repo_id)
        for rel, content in files.items():
            dest = p / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                content = content.read_bytes()
            if isinstance(content, str):
                content = content.encode()
            dest.write_bytes(content)
        for rel in delete:
            (p / rel).unlink(missing_ok=True)
        git(p, "add", "-A")
        git(p, "commit", "-q", "--allow-empty", "-m", message)
        return self.head(repo_id)

    def commit_folder(self, repo_id: str, folder: Path, *, message: str = "add model") -> str:
        files = {
            f.relative_to(folder).as_posix(): f for f in sorted(folder.rglob("*")) if f.is_file()
        }
        return self.commit(repo_id, files, message=message)

    def head(self, repo_id: str, rev: str = "HEAD") -> str:
        return (
            git(self.path(repo_id), "rev-parse", "--verify", "-q", rev + "^{commit}")
            .decode()
            .strip()
        )

    def resolve(self, repo_id: str, rev: str) -> str | None:
        try:
            return self.head(repo_id, rev)
        except subprocess.CalledProcessError:
            return None

    def tree(self, repo_id: str, sha: str) -> list[dict[str, Any]]:
        out = git(self.path(repo_id), "ls-tree", "-r", "-l", sha).decode()
        entries = []
        for line in out.splitlines():
            meta, path = line.split("\t", 1)
            _mode, kind, blob, size = meta.split()
            if kind == "blob":
                entries.append({"path": path, "blob": blob, "size": int(size)})
        return entries

    def read(self, repo_id: str, blob: str) -> bytes:
        return git(self.path(repo_id), "cat-file", "blob", blob)

    def repo_ids(self) -> list[str]:
        return sorted(
            f"{org.name}/{r.name}"
            for org in self.root.iterdir()
            if org.is_dir()
            for r in org.iterdir()
            if (r / ".git").is_dir()
        )


class HubServer:
    """The test hub on 127.0.0.1 (a free port), run in a thread. Use as a context manager."""

    def __init__(self, repos: GitHub):
        self.repos = repos
        self.corrupt: set[str] = set()  # "repo_id/path" served with flipped bytes
        self.drop: dict[str, int] = {}  # "repo_id/path" -> times to cut the body short
        self.delay: dict[str, float] = {}  # "repo_id/path" -> seconds to wait before a GET
        self.stall_s = 0.0  # seconds every request waits before an answer (timeouts)
        self.fake_sha: dict[str, str] = {}  # repo_id -> commit id to report instead
        self.extra_files: dict[str, list[str]] = {}  # repo_id -> more names in the file list
        self.fail: dict[str, int] = {}  # "repo_id" (info) or "repo_id/path" -> HTTP status
        self.drip: dict[str, float] = {}  # "repo_id[/path]" -> seconds between body bytes
        self.endless: set[str] = set()  # "repo_id/path" served without end
        self.garbage: dict[str, bytes] = {}  # repo_id -> the info answer's body, as is
        self.requests: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the request handler ----------------------------------------------------------------

_INFO = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?$")
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_PREUPLOAD = re.compile(r"^/api/models/([^/]+/[^/]+)/preupload/(.+)$")
_COMMIT = re.compile(r"^/api/models/([^/]+/[^/]+)/commit/(.+)$")
_PATHS_INFO = re.compile(r"^/api/models/([^/]+/[^/]+)/paths-info/(.+)$")
_FRONT = re.compile(r"\A---\r?\n(.*?)\r?\n---", re.S)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
        pass

    # --- plumbing ---
    def _send(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self._send(
            status,
            json.dumps(obj).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _error(self, status: int, code: str, message: str) -> None:
        self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message})

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {TOKEN}"

    # --- verbs ---
    def do_HEAD(self) -> None:  # noqa: N802
        self._route()

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def do_POST(self) -> None:  # noqa: N802
        self.hub.requests.append(f"POST {self.path}")
        path = unquote(urlsplit(self.path).path)
        if path == "/api/repos/create":
            return self._create()
        if path == "/api/validate-yaml":
            return self._validate_yaml()
        if m := _PREUPLOAD.match(path):
            return self._preupload(m.group(1))
        if m := _COMMIT.match(path):
            return self._commit(m.group(1), m.group(2))
        if m := _PATHS_INFO.match(path):
            return self._paths_info(m.group(1), m.group(2))
        self._error(404, "NotFound", f"no route {path}")

    def _paths_info(self, repo_id: str, rev: str) -> None:
        """``POST /api/models/{repo}/paths-info/{rev}`` (form ``paths=...``), as the hub
        answers it; mirrors such as olah ask it before serving a file."""
        sha = self._commit_of(repo_id, rev)
        if sha is None:
            return
        form = parse_qs(self._body().decode())
        wanted = set(form.get("paths", []))
        out = []
        for e in self.hub.repos.tree(repo_id, sha):
            if e["path"] not in wanted:
                continue
            item: dict[str, Any] = {
                "type": "file",
                "path": e["path"],
                "size": e["size"],
                "oid": e["blob"],
            }
            if e["path"].endswith(LFS_SUFFIXES):
                data = self.hub.repos.read(repo_id, e["blob"])
                item["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": e["size"],
                    "pointerSize": 134,
                }
            out.append(item)
        self._json(out)

    def _route(self) -> None:
        self.hub.requests.append(f"{self.command} {self.path}")
        if self.hub.stall_s:
            time.sleep(self.hub.stall_s)
        split = urlsplit(self.path)
        path = unquote(split.path)
        if path == "/api/models":
            return self._list(parse_qs(split.query))
        if m := _INFO.match(path):
            return self._info(m.group(1), m.group(2) or "main")
        if m := _RESOLVE.match(path):
            return self._resolve(m.group(1), m.group(2), m.group(3))
        self._error(404, "NotFound", f"no route {path}")

    # --- read endpoints ---
    def _commit_of(self, repo_id: str, rev: str) -> str | None:
        if not self.hub.repos.exists(repo_id):
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return None
        sha = self.hub.repos.resolve(repo_id, rev)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return sha

    def _model_json(self, repo_id: str, sha: str, *, files: bool) -> dict[str, Any]:
        tags = _readme_tags(self.hub.repos, repo_id, sha)
        siblings = []
        for e in self.hub.repos.tree(repo_id, sha):
            sib: dict[str, Any] = {"rfilename": e["path"]}
            if files:
                sib["size"] = e["size"]
                sib["blobId"] = e["blob"]
                if e["path"].endswith(LFS_SUFFIXES):
                    data = self.hub.repos.read(repo_id, e["blob"])
                    sib["lfs"] = {
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "size": e["size"],
                        "pointerSize": 134,
                    }
            siblings.append(sib)
        for name in self.hub.extra_files.get(repo_id, []):
            siblings.append({"rfilename": name, "size": 5, "blobId": "0" * 40})
        return {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": self.hub.fake_sha.get(repo_id, sha),
            "private": False,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
            "library_name": "deepfx" if "audacity" in tags else None,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": siblings,
        }

    def _info(self, repo_id: str, rev: str) -> None:
        if repo_id in self.hub.fail:
            status = self.hub.fail[repo_id]
            self._send(status, b"<html>server error</html>", {"Content-Type": "text/html"})
            return
        if repo_id in self.hub.garbage:
            self._send(200, self.hub.garbage[repo_id], {"Content-Type": "application/json"})
            return
        sha = self._commit_of(repo_id, rev)
        if sha is not None and repo_id in self.hub.drip:
            body = json.dumps(self._model_json(repo_id, sha, files=True)).encode()
            headers = {"Content-Type": "application/json"}
            self._send_drip(200, headers, body, self.hub.drip[repo_id])
        elif sha is not None:
            self._json(self._model_json(repo_id, sha, files=True))

    def _list(self, query: dict[str, list[str]]) -> None:
        wanted = set(query.get("filter", []))
        text = " ".join(query.get("search", [])).lower()
        out = []
        for repo_id in self.hub.repos.repo_ids():
            sha = self.hub.repos.resolve(repo_id, "main")
            if sha is None:
                continue
            info = self._model_json(repo_id, sha, files=False)
            if wanted and not wanted <= set(info["tags"]):
                continue
            if text and text not in repo_id.lower():
                continue
            out.append(info)
        self._json(out)

    def _resolve(self, repo_id: str, rev: str, file: str) -> None:
        sha = self._commit_of(repo_id, rev)
        if sha is None:
            return
        entry = next((e for e in self.hub.repos.tree(repo_id, sha) if e["path"] == file), None)
        if entry is None:
            self._error(404, "EntryNotFound", f"{file} does not exist on {rev}")
            return
        data = self.hub.repos.read(repo_id, entry["blob"])
        key = f"{repo_id}/{file}"
        if key in self.hub.fail:
            self._send(self.hub.fail[key], b"<html>server error</html>")
            return
        headers = {
            "X-Repo-Commit": self.hub.fake_sha.get(repo_id, sha),
            "ETag": f'"{entry["blob"]}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if file.endswith(LFS_SUFFIXES):
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        if key in self.hub.corrupt:
            data = bytes(b ^ 0xFF for b in data)
        if self.command == "HEAD":
            self._send(200, b"", {**headers, "Content-Length": str(len(data))})
            return
        if key in self.hub.delay:
            time.sleep(self.hub.delay[key])
        start = 0
        rng = self.headers.get("Range")
        if rng and (m := re.match(r"bytes=(\d+)-", rng)):
            start = int(m.group(1))
        body = data[start:]
        status = 206 if start else 200
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if key in self.hub.endless:
            return self._send_endless(status, headers)
        if key in self.hub.drip:
            return self._send_drip(status, headers, body, self.hub.drip[key])
        if self.hub.drop.get(key, 0) > 0 and len(body) > 1:
            self.hub.drop[key] -= 1
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, body, headers)

    def _send_endless(self, status: int, headers: Mapping[str, str]) -> None:
        """A body with no Content-Length (HTTP/1.0: it ends when the connection closes) that
        never ends: the file list announced a small size, the body goes on and on."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        block = b"A" * 65536
        sent = 0
        try:
            while sent < ENDLESS_CAP:
                self.wfile.write(block)
                sent += len(block)
        except OSError:  # the client hung up: what a client that bounds its reads does
            pass
        self.close_connection = True

    def _send_drip(
        self, status: int, headers: Mapping[str, str], body: bytes, every_s: float
    ) -> None:
        """The right headers and length, then one byte every ``every_s`` seconds: every
        read gets data in time, the whole body would take hours."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        start = time.monotonic()
        try:
            for i in range(len(body)):
                if time.monotonic() - start > DRIP_CAP_S:
                    break
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass
        self.close_connection = True

    # --- write endpoints ---
    def _create(self) -> None:
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        payload = json.loads(self._body() or b"{}")
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        if self.hub.repos.exists(repo_id):
            self._json(
                {
                    "error": "You already created this model repo",
                    "url": f"{self.hub.url}/{repo_id}",
                },
                409,
            )
            return
        self.hub.repos.create(repo_id)
        self._json({"url": f"{self.hub.url}/{repo_id}", "name": repo_id})

    def _validate_yaml(self) -> None:
        import yaml

        content = json.loads(self._body() or b"{}").get("content", "")
        m = _FRONT.match(content)
        try:
            meta = yaml.safe_load(m.group(1)) if m else {}
        except yaml.YAMLError as exc:
            self._json({"errors": [{"message": str(exc)}], "warnings": []}, 400)
            return
        if meta is not None and not isinstance(meta, dict):
            self._json({"errors": [{"message": "metadata must be a mapping"}], "warnings": []}, 400)
            return
        self._json({"errors": [], "warnings": []})

    def _preupload(self, repo_id: str) -> None:
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        payload = json.loads(self._body() or b"{}")
        files = [
            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
            for f in payload.get("files", [])
        ]
        self._json({"files": files, "commitOid": None})

    def _commit(self, repo_id: str, rev: str) -> None:
        if not self._authorized():
            self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            return
        if not self.hub.repos.exists(repo_id):
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return
        summary = "commit"
        files: dict[str, bytes | str | Path] = {}
        deleted: list[str] = []
        for line in self._body().decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            if item["key"] == "header":
                summary = item["value"].get("summary") or summary
            elif item["key"] == "file":
                files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] == "deletedFile":
                deleted.append(item["value"]["path"])
            else:
                self._error(400, "BadRequest", f"unsupported commit item {item['key']}")
                return
        sha = self.hub.repos.commit(repo_id, files, message=summary, delete=tuple(deleted))
        self._json(
            {
                "commitUrl": f"{self.hub.url}/{repo_id}/commit/{sha}",
                "commitOid": sha,
                "success": True,
            }
        )


def _readme_tags(repos: GitHub, repo_id: str, sha: str) -> list[str]:
    import yaml

    entry = next((e for e in repos.tree(repo_id, sha) if e["path"] == "README.md"), None)
    if entry is None:
        return []
    m = _FRONT.match(repos.read(repo_id, entry["blob"]).decode("utf-8", "replace"))
    if not m:
        return []
    meta = yaml.safe_load(m.group(1)) or {}
    tags = meta.get("tags") or []
    return [str(t) for t in ([tags] if isinstance(tags, str) else tags)]


@contextmanager
def hub_env(monkeypatch: Any, tmp_path: Path, server: HubServer) -> Iterator[None]:
    """Point deepfx and huggingface_hub at ``server`` with an isolated home and HF cache."""
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("DEEPFX_HOME", str(tmp_path / "deepfx-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield


# --- models made the original way (audacitorch) ------------------------------------------

EFFECT_CARD: dict[str, Any] = {
    "sample_rate": 16000,
    "domain_tags": ["music"],
    "short_description": "Splits audio into a half and an inverted copy.",
    "long_description": "A tiny test model made with audacitorch: two output tracks.",
    "tags": ["test"],
    "effect_type": "waveform-to-waveform",
    "multichannel": False,
    "labels": ["half", "inverted"],
}

#: As published in the wild: capitalised domain tag, no "tags" list (strict schema rejects it).
LEGACY_ANALYZER_CARD: dict[str, Any] = {
    "sample_rate": 16000,
    "domain_tags": ["Music"],
    "short_description": "Labels loud parts.",
    "long_description": "A tiny test analyzer made with audacitorch, with a legacy card.",
    "effect_type": "waveform-to-labels",
    "multichannel": False,
    "labels": ["quiet", "loud"],
}


def make_audacitorch_effect(
    dest: Path, *, gain: float = 0.5, card: dict[str, Any] | None = None
) -> Path:
    """A waveform-to-waveform model saved with audacitorch's ``save_model``."""
    import torch
    from audacitorch import WaveformToWaveformBase
    from audacitorch.utils import save_model

    class Split(torch.nn.Module):
        def __init__(self, g: float):
            super().__init__()
            self.g = g

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x * self.g, -x], dim=0)

    class Wrapped(WaveformToWaveformBase):
        def do_forward_pass(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

    scripted = torch.jit.script(Wrapped(Split(gain)))
    save_model(scripted, dict(card or EFFECT_CARD), Path(dest))
    return Path(dest)


def make_audacitorch_analyzer(dest: Path, *, card: dict[str, Any] | None = None) -> Path:
    """A waveform-to-labels model saved with audacitorch; one label over the whole input."""
    import torch
    from audacitorch import WaveformToLabelsBase
    from audacitorch.utils import save_model

    class Loud(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            dur = x.shape[-1] / 16000.0
            cls = (x.abs().mean() > 0.1).long().reshape(1)
            ts = torch.tensor([[0.0, dur]])
            return cls, ts

    class Wrapped(WaveformToLabelsBase):
        def do_forward_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.model(x)

    scripted = torch.jit.script(Wrapped(Loud()))
    save_model(scripted, dict(card or LEGACY_ANALYZER_CARD), Path(dest))
    return Path(dest)


def readme(tags: list[str] | None = None) -> str:
    tags = ["audacity"] if tags is None else tags
    return "---\ntags:\n" + "".join(f"- {t}\n" for t in tags) + "---\n\n# test model\n"

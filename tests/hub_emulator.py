"""A local stand-in for the far end of the Hugging Face Hub, for offline tests of Hub loading.

``HubEmulator`` is a threaded ``http.server`` on 127.0.0.1 that serves in-memory repositories on the routes
huggingface_hub 2.x uses for ``hf_hub_download`` / ``snapshot_download`` / ``model_info`` / ``list_repo_tree``:

* ``HEAD|GET /{repo_id}/resolve/{revision}/{filename}``: the file, with ``X-Repo-Commit`` (the commit the revision
  points to), ``ETag`` (sha256 of the content, quoted) and ``Content-Length``;
* ``GET /api/models/{repo_id}`` and ``/api/models/{repo_id}/revision/{revision}``: the model-info JSON (``id``, ``sha``,
  ``siblings``, ``private``, ...);
* ``GET /api/models/{repo_id}/tree/{revision}[/{path}]``: the file listing.

Errors are answered the way the Hub answers them (status + ``X-Error-Code``), so huggingface_hub raises its own
exceptions: an unknown or private repo without a valid ``Authorization: Bearer`` token -> 401 ``RepoNotFound``;
an unknown revision -> 404 ``RevisionNotFound``; an unknown file -> 404 ``EntryNotFound`` with ``X-Repo-Commit`` (so
that huggingface_hub records the absence in its cache and a later offline load does not look for the file). Nothing else is faked:
the client code (huggingface_hub, transformers, hf_audiogen) runs unchanged against it. No redirects, no LFS/Xet.

```python
with HubEmulator() as hub:
    hub.add_commit("org/name", {"config.json": b"{}"})
    hub.endpoint  # "http://127.0.0.1:<port>", for HF_ENDPOINT / huggingface_hub.constants.ENDPOINT
```
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class _Repo:
    def __init__(self, private: bool, token: str | None):
        self.private = private
        self.token = token
        self.commits: dict[str, dict[str, bytes]] = {}  # sha -> files
        self.refs: dict[str, str] = {}  # branch / tag -> sha


class HubEmulator:
    """Serve repositories added with :meth:`add_commit` until :meth:`stop` (or the end of a ``with`` block)."""

    def __init__(self):
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------------------- content
    def add_commit(
        self,
        repo_id: str,
        files: dict[str, bytes],
        branch: str = "main",
        private: bool = False,
        token: str | None = None,
        tags: tuple[str, ...] = (),
    ) -> str:
        """Commit ``files`` (the whole tree) on ``branch`` of ``repo_id``; returns the 40-hex commit sha."""
        repo = self.repos.setdefault(repo_id, _Repo(private, token))
        repo.private, repo.token = private or repo.private, token or repo.token
        digest = hashlib.sha1(repo_id.encode() + len(repo.commits).to_bytes(4, "big"))
        for name in sorted(files):
            digest.update(name.encode() + hashlib.sha256(files[name]).digest())
        sha = digest.hexdigest()
        repo.commits[sha] = dict(files)
        repo.refs[branch] = sha
        for tag in tags:
            repo.refs[tag] = sha
        return sha

    # ---------------------------------------------------------------------------------------------------- server
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the emulator first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HubEmulator:
        emulator = self

        class Handler(_Handler):
            hub = emulator

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> HubEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    hub: HubEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet
        pass

    # ---------------------------------------------------------------------------------------------------- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, head: bool = False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, head: bool, commit: str | None = None):
        body = json.dumps({"error": message}).encode()
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        if commit is not None:  # as the Hub: lets huggingface_hub remember the absence (.no_exist/) for offline use
            headers["X-Repo-Commit"] = commit
        self._send(status, body, headers, head)

    def _repo(self, repo_id: str, head: bool) -> _Repo | None:
        repo = self.hub.repos.get(repo_id)
        authorization = self.headers.get("Authorization", "")
        if repo is not None and repo.private and authorization != f"Bearer {repo.token}":
            repo = None
        if repo is None:  # the Hub answers 401 for both unknown and private repos without a valid token
            self._error(401, "RepoNotFound", "Repository not found", head)
        return repo

    def _commit(self, repo: _Repo, revision: str, head: bool) -> str | None:
        sha = repo.refs.get(revision) or (revision if revision in repo.commits else None)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        return sha

    # ---------------------------------------------------------------------------------------------------- routes
    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, head: bool):
        path = unquote(urlsplit(self.path).path)
        self.hub.requests.append((self.command, path))
        if path.startswith("/api/models/"):
            return self._api(path.removeprefix("/api/models/"), head)
        if "/resolve/" in path:
            repo_id, rest = path.lstrip("/").split("/resolve/", 1)
            revision, _, filename = rest.partition("/")
            return self._resolve(repo_id, revision, filename, head)
        self._error(404, "NotFound", f"no route for {path}", head)

    def _resolve(self, repo_id: str, revision: str, filename: str, head: bool):
        repo = self._repo(repo_id, head)
        if repo is None:
            return
        sha = self._commit(repo, revision, head)
        if sha is None:
            return
        content = repo.commits[sha].get(filename)
        if content is None:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}", head, sha)
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{hashlib.sha256(content).hexdigest()}"',
            "Content-Type": "application/octet-stream",
        }
        self._send(200, content, headers, head)

    def _api(self, rest: str, head: bool):
        parts = rest.split("/")
        repo_id = "/".join(parts[:2]) if len(parts) >= 2 and parts[1] not in ("revision", "tree") else parts[0]
        tail = parts[len(repo_id.split("/")) :]
        repo = self._repo(repo_id, head)
        if repo is None:
            return
        revision, action, path = "main", "info", ""
        if tail[:1] == ["revision"] and len(tail) >= 2:
            revision = "/".join(tail[1:])
        elif tail[:1] == ["tree"] and len(tail) >= 2:
            action, revision, path = "tree", tail[1], "/".join(tail[2:])
        elif tail:
            return self._error(404, "NotFound", f"no API route for {rest}", head)
        sha = self._commit(repo, revision, head)
        if sha is None:
            return
        files = repo.commits[sha]
        if action == "tree":
            prefix = f"{path}/" if path else ""
            entries = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in sorted(files.items())
                if name.startswith(prefix) and "/" not in name[len(prefix) :]
            ]
            if path and not entries:
                return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}", head)
            body = entries
        else:
            body = {
                "id": repo_id,
                "modelId": repo_id,
                "sha": sha,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "tags": [],
                "siblings": [{"rfilename": name} for name in sorted(files)],
            }
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)


# ---------------------------------------------------------------------------------------------------- test helpers
def isolate_hf_home(monkeypatch, path) -> None:
    """A fresh HF cache under ``path``, no token, online (pytest's ``monkeypatch`` undoes it)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HOME", str(path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(path / "hf" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(path / "hf" / "token"))


def point_hub_at(monkeypatch, endpoint: str) -> None:
    """huggingface_hub (and transformers) talk to ``endpoint`` instead of huggingface.co."""
    from huggingface_hub import constants
    from transformers.utils import hub as transformers_hub

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    # transformers keeps one HfApi, built with the endpoint of its first use (huggingface.co if an earlier test
    # touched it): drop it so that it is rebuilt against the emulator.
    monkeypatch.setattr(transformers_hub, "_hf_api", None)


def folder_files(path) -> dict:
    """Every file under ``path`` as ``{relative posix path: bytes}``, e.g. a ``save_pretrained`` folder to serve."""
    from pathlib import Path

    path = Path(path)
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def fetched(emulator: HubEmulator, repo_id: str) -> set[str]:
    """The files of ``repo_id`` downloaded so far (``GET /{repo_id}/resolve/{revision}/{filename}``)."""
    prefix = f"/{repo_id}/resolve/"
    return {
        path.removeprefix(prefix).split("/", 1)[1]
        for method, path in emulator.requests
        if method == "GET" and path.startswith(prefix)
    }

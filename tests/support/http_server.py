"""A local HTTP server on 127.0.0.1 that serves a folder the way file hosts do (Hugging Face, Zenodo, Seafile):
byte ranges (206 + Content-Range), Content-Length, and optional fault injection to test resumable downloads.
"""

import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote


@dataclass
class Faults:
    # Cut the body of the first N responses for a path after this many bytes (simulates a dropped connection).
    cut_after_bytes: int | None = None
    cut_times: int = 1
    # Paths (relative, with leading slash) answered with 404.
    missing: set[str] = field(default_factory=set)
    cuts_done: dict[str, int] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server_version = "cdp-test-http/1.0"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        srv: LocalHTTPServer = self.server.owner  # type: ignore[attr-defined]
        path = unquote(self.path.split("?", 1)[0])  # real hosts decode %20 etc. in file paths
        srv.requests.append((self.command, path, self.headers.get("Range")))
        file = (srv.root / path.lstrip("/")).resolve()
        if path in srv.faults.missing or not file.is_file() or srv.root not in file.parents:
            self.send_error(404)
            return
        data = file.read_bytes()
        start, end, status = 0, len(data) - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.match(r"bytes=(\d+)-(\d*)", rng)
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else len(data) - 1
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                status = 206
        body = data[start : end + 1]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if head:
            return
        cut = srv.faults.cut_after_bytes
        done = srv.faults.cuts_done.get(path, 0)
        if cut is not None and done < srv.faults.cut_times and len(body) > cut:
            srv.faults.cuts_done[path] = done + 1
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class LocalHTTPServer:
    """Serves `root` on http://127.0.0.1:<free port>/ in a background thread."""

    def __init__(self, root: str | os.PathLike, faults: Faults | None = None):
        self.root = Path(root).resolve()
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str, str | None]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "LocalHTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

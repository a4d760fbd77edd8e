"""``ra2 review --serve``: the review site from a local server that saves a reader's corrections.

Bound to 127.0.0.1 only.  Static files come from the site folder; ``GET api/corrections``
returns what was saved last, ``POST api/corrections`` (JSON ``{"site_id", "edits"}``) checks
and saves the edits (``review.corrections.save_corrections``: every file written to a
temporary sibling and renamed).  A POST must come from the page itself: its Host must be
this server and its Origin, when sent, too (another web site open in the same browser
cannot write here), its body JSON of at most ``MAX_BODY`` bytes.
"""
from __future__ import annotations

import json
import logging
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from challenge.errors import ParameterError, UsageError

from .corrections import CORRECTIONS, save_corrections, saved_edits, site_index

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: the largest corrections body accepted (300 patients x 86 edited cells is about 1 MB)
MAX_BODY = 16 * 1024 * 1024
API = "/api/corrections"


class _Handler(SimpleHTTPRequestHandler):
    server_version = "ra2-review"

    def log_message(self, fmt, *args):          # quiet: the terminal is the reader's, not a log
        log.debug("%s " + fmt, self.address_string(), *args)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _same_origin(self) -> bool:
        port = self.server.server_address[1]
        allowed = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if self.headers.get("Host", "") not in allowed:
            return False
        origin = self.headers.get("Origin")
        return origin is None or origin in {f"http://{h}" for h in allowed}

    def do_GET(self):
        if self.path.split("?")[0] == API:
            try:
                return self._json(200, saved_edits(self.server.site, self.server.corrections))
            except UsageError as exc:
                return self._json(500, {"error": str(exc)})
        return super().do_GET()

    def do_POST(self):
        if self.path.split("?")[0] != API:
            return self._json(404, {"error": f"no such endpoint {self.path}"})
        if not self._same_origin():
            return self._json(403, {"error": "corrections are accepted from this server's own page only"})
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._json(415, {"error": "send the corrections as application/json"})
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self._json(411, {"error": "Content-Length is required"})
        if not 0 < length <= MAX_BODY:
            return self._json(413, {"error": f"a corrections body of {length} bytes (at most {MAX_BODY})"})
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._json(400, {"error": f"not JSON ({exc})"})
        if not isinstance(body, dict) or body.get("site_id") != self.server.site_id:
            return self._json(409, {"error": "these corrections belong to another build of the site: reload the page"})
        try:
            with self.server.lock:
                info = save_corrections(self.server.site, body.get("edits"), self.server.corrections)
        except UsageError as exc:
            return self._json(400, {"error": str(exc)})
        try:
            info["folder"] = str(Path(info["folder"]).relative_to(self.server.site)) + "/"
        except ValueError:
            pass
        log.info("saved %d corrected score(s) and %d moved landmark(s) to %s", info["scores"], info["landmarks"],
                 info["folder"])
        return self._json(200, info)


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: Path, port: int, corrections: Path | None = None):
        self.site = Path(site).resolve()
        self.site_id = site_index(self.site)["site_id"]
        self.corrections = Path(corrections).resolve() if corrections is not None else self.site / CORRECTIONS
        self.lock = threading.Lock()
        try:
            super().__init__((HOST, port), partial(_Handler, directory=str(self.site)))
        except OSError as exc:
            raise UsageError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); choose another port") from exc

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(site, port: int = 8000, corrections=None) -> ReviewServer:
    """A server for ``site`` on 127.0.0.1:``port`` (0: any free port); call ``serve_forever()``."""
    if not 0 <= port <= 65535:
        raise ParameterError("port", port, "not a port number (0-65535)")
    return ReviewServer(Path(site), port, corrections)

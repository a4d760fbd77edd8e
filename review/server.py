"""``ra2 review --serve``: the review site from a local server that saves a reader's corrections.

Bound to 127.0.0.1 only.  Static files come from the site folder (files only: a folder without
an ``index.html`` is 404, never a listing; ``/favicon.ico`` is an empty 204); ``GET api/corrections``
returns what was saved last, ``POST api/corrections`` (JSON ``{"site_id", "edits"}``) checks
and saves the edits (``review.corrections.save_corrections``: every file written to a
temporary sibling and renamed).  Every request's Host must be this server (127.0.0.1 or
localhost at its port: a web page whose name was rebound to 127.0.0.1 can read nothing here);
a POST must come from the page itself: its Origin, when sent, this server too (another web
site open in the same browser cannot write here), its body JSON of at most ``MAX_BODY`` bytes
with one decimal Content-Length, nested at most ``MAX_DEPTH`` deep.  A refused request is an
error status with a short body; no request prints a traceback (a failed one is a log line).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from challenge.errors import ParameterError, UsageError

from .corrections import CORRECTIONS, save_corrections, saved_edits, site_index

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
#: the largest corrections body accepted (300 patients x 86 edited cells is about 1 MB)
MAX_BODY = 16 * 1024 * 1024
#: the deepest nesting of JSON objects and arrays accepted (a corrections body is 5 deep)
MAX_DEPTH = 16
API = "/api/corrections"
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep the JSON arrays and objects in ``text`` nest (brackets in strings skipped; counts
    stop past ``limit``), without the recursion of parsing it."""
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]", "", _STRING.sub("", text)):
        depth += 1 if ch in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                break
    return deepest


class _Handler(SimpleHTTPRequestHandler):
    server_version = "ra2-review"
    timeout = 60                                # a client that stops sending mid-request is dropped

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
        if self.command != "HEAD":
            self.wfile.write(data)

    def _refuse(self, code: int, error: str) -> None:
        """Answer a request refused before its body was read, then read (and drop) what the client
        sends of the body (a bounded amount, for a few seconds at most), so that closing the connection
        does not reset it before the client has read the answer."""
        self._json(code, {"error": error})
        self.close_connection = True
        if self.command in ("GET", "HEAD"):
            return
        self.connection.settimeout(1)
        left, end = 2 * MAX_BODY, time.monotonic() + 5
        try:
            while left > 0 and time.monotonic() < end:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _allowed(self) -> set[str]:
        port = self.server.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def parse_request(self) -> bool:
        """Every request (GET and HEAD too: DNS rebinding) must name this server as its Host."""
        if not super().parse_request():
            return False
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in self._allowed():
            self._refuse(403, "this server answers requests for 127.0.0.1 only")
            return False
        return True

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        return origin is None or origin in {f"http://{h}" for h in self._allowed()}

    def send_head(self):
        """The site's files only: no folder listing, nothing for a path that cannot be a file."""
        try:
            path = self.translate_path(self.path)
            if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "index.html")):
                self.send_error(404, "File not found")
                return None
            if self.path.split("?")[0] == "/favicon.ico" and not os.path.isfile(path):
                self.send_response(204)         # no icon, and no error in the browser's console
                self.end_headers()
                return None
            return super().send_head()
        except ValueError:                      # a NUL byte or an unpaired surrogate in the path
            self.send_error(404, "File not found")
            return None

    def list_directory(self, path):
        self.send_error(404, "File not found")
        return None

    def do_GET(self):
        if self.path.split("?")[0] == API:
            try:
                return self._json(200, saved_edits(self.server.site, self.server.corrections))
            except UsageError as exc:
                return self._json(500, {"error": str(exc)})
        return super().do_GET()

    def do_POST(self):
        if self.path.split("?")[0] != API:
            return self._refuse(404, f"no such endpoint {self.path}")
        if not self._same_origin():
            return self._refuse(403, "corrections are accepted from this server's own page only")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return self._refuse(415, "send the corrections as application/json")
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not (lengths[0].strip().isascii() and lengths[0].strip().isdigit()) \
                or "Transfer-Encoding" in self.headers:
            return self._refuse(400, "one Content-Length in decimal digits is required")
        length = int(lengths[0])
        if not 0 < length <= MAX_BODY:
            return self._refuse(413, f"a corrections body of {length} bytes (at most {MAX_BODY})")
        try:
            data = self.rfile.read(length)
        except OSError as exc:
            return self._refuse(400, f"the body did not arrive ({exc})")
        if len(data) < length:
            return self._json(400, {"error": f"the body ended after {len(data)} of {length} bytes"})
        try:
            text = data.decode("utf-8")
            if json_depth(text) > MAX_DEPTH:
                return self._json(400, {"error": f"JSON nested deeper than {MAX_DEPTH} levels"})
            body = json.loads(text)
        except ValueError as exc:               # UnicodeDecodeError too
            return self._json(400, {"error": f"not JSON ({exc})"})
        if not isinstance(body, dict) or body.get("site_id") != self.server.site_id:
            return self._json(409, {"error": "these corrections belong to another build of the site: reload the page"})
        try:
            with self.server.lock:
                info = save_corrections(self.server.site, body.get("edits"), self.server.corrections)
        except UsageError as exc:
            return self._json(400, {"error": str(exc)})
        except OSError as exc:
            log.warning("corrections not saved: %s", exc)
            return self._json(500, {"error": f"the corrections could not be saved ({exc.strerror or exc})"})
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

    def handle_error(self, request, client_address):
        """A request that failed (mostly a browser that went away mid-answer): a log line, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("%s went away (%s)", client_address[0], exc)
        else:
            log.warning("a request from %s failed: %s: %s", client_address[0], type(exc).__name__, exc)
            log.debug("where it failed", exc_info=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def make_server(site, port: int = 8000, corrections=None) -> ReviewServer:
    """A server for ``site`` on 127.0.0.1:``port`` (0: any free port); call ``serve_forever()``."""
    if not 0 <= port <= 65535:
        raise ParameterError("port", port, "not a port number (0-65535)")
    return ReviewServer(Path(site), port, corrections)

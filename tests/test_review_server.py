"""``ra2 review --serve`` against requests a page never sends: a foreign Host (DNS rebinding), folder
paths, oversized, badly framed or deeply nested bodies, landmarks off their image, the favicon.
Every refusal is a status and a short body, never a file in corrections/ nor a traceback."""
from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from ra2.cli import main
from review.corrections import _patient_page, site_index
from review.server import MAX_BODY, MAX_DEPTH, make_server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    assert main(["synth", "--out", str(root / "c"), "--train", "3", "--test", "2", "--size-scale", "0.3",
                 "--seed", "1", "-q"]) == 0
    pred = root / "pred.csv"
    assert main(["baseline", "train-mean", "--train", str(root / "c" / "train"), "--test", str(root / "c" / "test"),
                 "--out", str(pred)]) == 0
    assert main(["review", "--images", str(root / "c" / "test"), "--predictions", str(pred), "--landmarks",
                 str(root / "c" / "gold" / "landmarks.csv"), "--out", str(root / "site"), "-q"]) == 0
    return root / "site"


@pytest.fixture
def served(site, tmp_path):
    """The server on 127.0.0.1, any free port, saving into a fresh folder; its request threads
    are finished (bounded wait) before the test's checks of stderr."""
    before = threading.active_count()
    server = make_server(site, 0, corrections=tmp_path / "corrections")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def settle():
        for _ in range(100):
            if threading.active_count() <= before + 1:
                return
            time.sleep(0.05)

    server.settle = settle
    yield server
    server.shutdown()
    server.server_close()


def _send(server, method, path, headers=(), body=b"", host=True):
    """One request with exactly ``headers`` (pairs) and Host: this server's (``True``), the given
    one, or none (``None``); returns (status, headers, body)."""
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", f"127.0.0.1:{port}" if host is True else host)
        for key, value in headers:
            conn.putheader(key, value)
        conn.endheaders(body or None)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def _post(server, body: bytes, headers=None, length=True, host=True):
    """POST api/corrections as JSON; ``length``: True (the body's), a string, or None (no header)."""
    heads = [("Content-Type", "application/json")]
    if length is not None:
        heads.append(("Content-Length", str(len(body)) if length is True else length))
    code, _, data = _send(server, "POST", "/api/corrections", heads + list(headers or []), body, host)
    return code, json.loads(data)


def _quiet(server, capfd):
    server.settle()
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, err
    return err


def _nothing_saved(server):
    assert not server.corrections.exists() or not list(server.corrections.iterdir())


def _edits(site, **edits) -> bytes:
    return json.dumps({"site_id": site_index(site)["site_id"],
                       "edits": {"scores": {}, "landmarks": {}, **edits}}).encode()


def test_a_foreign_host_is_refused_on_every_method(served, site, capfd):
    port = served.server_address[1]
    for host in (True, f"localhost:{port}", f"LOCALHOST:{port}"):
        code, _, body = _send(served, "GET", "/", host=host)
        assert code == 200 and b"RA2 review" in body
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", "", None):
        for path in ("/", "/index.html", "/api/corrections", "/data/index.js"):
            code, _, body = _send(served, "GET", path, host=host)
            assert code == 403 and len(body) < 200 and b"site_id" not in body, (host, path)
        code, _, body = _send(served, "HEAD", "/index.html", host=host)
        assert code == 403 and body == b""
        assert _post(served, _edits(site), host=host)[0] == 403
    code, _, _ = _send(served, "GET", "/", [("Host", "evil.example")])       # two Host headers
    assert code == 403
    _nothing_saved(served)
    _quiet(served, capfd)


def test_folders_are_never_listed(served, capfd):
    for path in ("/images/", "/images", "/data/", "/data/patients/", "/assets/", "/data/patients/../"):
        code, _, body = _send(served, "GET", path)
        assert code == 404 and b"Directory listing" not in body and b".jpg" not in body and b".js" not in body, path
    code, _, body = _send(served, "GET", "/")                               # a folder with index.html: the page
    assert code == 200 and b"RA2 review" in body
    for path in ("/index.html%00", "/%ED%A0%80.js", "/images/%00/"):         # no file can have this name
        assert _send(served, "GET", path)[0] == 404, path
    _quiet(served, capfd)


def test_the_favicon_is_an_empty_answer(served, capfd):
    for method in ("GET", "HEAD"):
        code, _, body = _send(served, method, "/favicon.ico")
        assert code == 204 and body == b""
    _quiet(served, capfd)


def test_bodies_too_large_badly_framed_or_too_deep_are_400(served, site, capfd):
    good = _edits(site)
    code, body = _post(served, b" " * (MAX_BODY + 1))                       # really sent
    assert code == 413 and "at most" in body["error"]
    code, body = _post(served, good, length=str(10 ** 12))                  # only claimed
    assert code == 413 and "at most" in body["error"]
    for length in (None, "", "abc", "-5", "1_0", "0x10", " 1e3", "\u00b2"):
        code, body = _post(served, good, length=length)
        assert code == 400 and "Content-Length" in body["error"], length
    code, body = _post(served, good, [("Content-Length", str(len(good)))])  # two of them
    assert code == 400 and "Content-Length" in body["error"]
    code, body = _post(served, good, [("Transfer-Encoding", "chunked")])
    assert code == 400
    deep = good.replace(b'"scores": {}', b'"scores": ' + b"[" * 10_000 + b"]" * 10_000)
    code, body = _post(served, deep)
    assert code == 400 and f"deeper than {MAX_DEPTH}" in body["error"]
    code, body = _post(served, good.replace(b'"scores": {}', b'"scores": {"x": "[[[[[[[[[[[[[[[[[[[[["}'))
    assert code == 400 and "deeper" not in body["error"]                    # brackets in a string are text
    for junk in (b"{", b"\xff\xfe", b"[" * 20 + b"]" * 19, b'{"a": 1' + b"1" * 5000 + b"}"):
        code, body = _post(served, junk)
        assert code == 400 and len(body["error"]) < 300, junk[:20]
    _nothing_saved(served)
    _quiet(served, capfd)


def test_landmarks_must_lie_inside_their_image(served, site, capfd):
    index = site_index(site)
    page = _patient_page(site, index["patients"][0]["key"])
    limb = next(limb for limb, image in page["images"].items() if image["file"] and page["landmarks"].get(limb))
    image, name = page["images"][limb], sorted(page["landmarks"][limb])[0]
    stem, w, h = image["stem"], image["width"], image["height"]
    for xy in ([w, 1], [1, h], [-0.5, 1], [1, -1e-9], [w + 1e6, h + 1e6], [float("nan"), 1], [1, float("inf")]):
        code, body = _post(served, _edits(site, landmarks={stem: {name: xy}}))
        assert code == 400 and f"landmark {name}" in body["error"] and stem in body["error"], (xy, body)
    _nothing_saved(served)
    code, body = _post(served, _edits(site, landmarks={stem: {name: [w - 0.5, h - 0.5]}}))
    assert code == 200 and body["landmarks"] == 1
    assert (served.corrections / "landmarks.csv").is_file()
    _quiet(served, capfd)

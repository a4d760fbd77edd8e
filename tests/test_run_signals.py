"""run.sh passes SIGTERM (the challenge scheduler's end of an over-time job) and SIGINT on to the step
it is running and leaves no partial /output file.  The step is a stand-in ``ra2`` on PATH that starts
writing a temporary sibling of predictions.csv, as the atomic writer does, and records the signal."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from challenge.tables import template_frame, write_atomic

REPO = Path(__file__).resolve().parents[1]

FAKE_RA2 = """#!/usr/bin/env bash
# a stand-in for `ra2 predict` that never finishes on its own
if [ "$1" = predict ]; then
    out=""
    while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done
    trap 'echo TERM > "$MARKS/child-got-term"; kill $nap; exit 143' TERM
    trap 'echo INT > "$MARKS/child-got-int"; kill $nap; exit 130' INT
    printf 'Patient_ID\\nP1' > "$(dirname "$out")/.predictions.csv.abc123.tmp"
    sleep 60 & nap=$!
    touch "$MARKS/started"
    wait
    exit 0
fi
exit 0
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_run_sh_passes_a_signal_on_and_leaves_no_partial_output(tmp_path, sig, code):
    if signal.getsignal(sig) == signal.SIG_IGN:     # e.g. pytest started in the background by a script
        pytest.skip(f"{sig.name} is ignored by whatever started the tests: bash cannot trap it then")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ra2").write_text(FAKE_RA2)
    (fake / "ra2").chmod(0o755)
    marks, out, bundle = tmp_path / "marks", tmp_path / "out", tmp_path / "bundle"
    for d in (marks, out, bundle, tmp_path / "scratch"):
        d.mkdir()
    (bundle / "bundle.json").write_text("{}")
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    write_atomic(template_frame(["P1"]), test_dir / "template.csv")
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(REPO), MARKS=str(marks), RA2_TEST_DIR=str(test_dir), RA2_OUTPUT_DIR=str(out),
               RA2_SCRATCH=str(tmp_path / "scratch"), RA2_BUNDLE=str(bundle), RA2_TRAIN_DIR=str(tmp_path / "none"))
    proc = subprocess.Popen(["bash", str(REPO / "run.sh")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not (marks / "started").exists():
            assert proc.poll() is None and time.time() < deadline, "the stand-in step never started"
            time.sleep(0.05)
        proc.send_signal(sig)
        log, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, log
    assert (marks / "child-got-term").exists(), log          # passed on (as SIGTERM) to the running step
    assert sorted(p.name for p in out.iterdir()) == [], log   # no partial file left in the output folder
    assert f"stopped by SIG{sig.name[3:]}" in log and "was not written" in log
    assert not any((tmp_path / "scratch").iterdir())          # the scratch folder is cleaned up too

"""The first PDF of a process imports WeasyPrint without looking its C libraries up through
`ctypes.util.find_library`, which on Linux runs `ldconfig -p`, gcc and ld for each name that
WeasyPrint tries (issue 17: 0.15-0.4 s of the outcomes PDF). Checked in a fresh interpreter,
because this test process may have imported WeasyPrint already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

# Every child process started is recorded; then the app's PDF module is imported.
RECORDING = """
import ctypes.util, json, subprocess, sys, tempfile, threading
from pathlib import Path
launched = []
real_popen_init = subprocess.Popen.__init__
def recording_init(self, args, *rest, **options):
    launched.append(str(args))
    real_popen_init(self, args, *rest, **options)
subprocess.Popen.__init__ = recording_init
real_find_library = ctypes.util.find_library
from diversion.core import pdf
before = "weasyprint" in sys.modules
"""

PROBE = RECORDING + """
with tempfile.TemporaryDirectory() as folder:
    made = pdf.html_to_pdf('<html lang="en-GB"><title>T</title><p>Hello</p></html>',
                           root=Path(folder))
launched_by_pdf = list(launched)
print(json.dumps({"before": before, "after": "weasyprint" in sys.modules,
                  "launched": launched_by_pdf, "pdf": made[:5].decode("ascii"),
                  "restored": ctypes.util.find_library is real_find_library,
                  "libc": ctypes.util.find_library("c")}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the shortcut is Linux's")
def test_the_first_pdf_starts_no_library_lookup_process() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] is False
    assert report["after"] is True
    assert report["pdf"] == "%PDF-"
    assert report["launched"] == []
    # The lookup is WeasyPrint's alone to skip: everyone else's works as before.
    assert report["restored"] is True
    assert report["libc"]


STARTED = RECORDING + """
pdf.start_import()
importing = [thread for thread in threading.enumerate() if thread.name == "import-weasyprint"]
for thread in importing:
    thread.join(120)
print(json.dumps({"before": before, "threads": len(importing),
                  "after": "weasyprint" in sys.modules, "launched": launched,
                  "restored": ctypes.util.find_library is real_find_library}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the shortcut is Linux's")
def test_weasyprint_can_be_imported_ahead_on_a_thread_of_its_own() -> None:
    result = subprocess.run([sys.executable, "-c", STARTED], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] is False
    assert report["threads"] == 1
    assert report["after"] is True
    assert report["launched"] == []
    assert report["restored"] is True

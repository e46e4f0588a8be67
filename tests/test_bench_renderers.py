"""The renderer benchmark's Python driver says truthfully what drew the pages (bench/renderers/drive_cdp.py).

Its rows become the README's hardware-WebGL table, so a software renderer must never pass for a GPU: the
probe runs Debian's Chromium here (no GPU, SwiftShader) and must report the software renderer as such.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from labserver import find_chromium  # noqa: E402


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


drive_cdp = _load("drive_cdp", ROOT / "bench" / "renderers" / "drive_cdp.py")


@pytest.mark.skipif(find_chromium() is None, reason="needs Debian's chromium")
def test_probe_reports_swiftshader_as_software():
    server, base = drive_cdp.serve(ROOT / "bench" / "renderers")
    try:
        found = drive_cdp.probe(
            find_chromium(), ["--use-angle=swiftshader", "--enable-unsafe-swiftshader"], base, None
        )
    finally:
        server.shutdown()
    assert "error" not in found, found
    assert found["webgl"]["webgl"] in (1, 2)
    assert "SwiftShader" in found["webgl"]["renderer"]
    assert found["hardware"] is False
    assert found["gpu"]["aux"]["glImplementationParts"] == "(gl=egl-angle,angle=swiftshader)"


@pytest.mark.skipif(find_chromium() is None, reason="needs Debian's chromium")
def test_probe_without_webgl_is_not_hardware():
    # --enable-gpu on a machine without a GPU: no WebGL at all (SwiftShader is no longer a silent fallback).
    server, base = drive_cdp.serve(ROOT / "bench" / "renderers")
    try:
        found = drive_cdp.probe(find_chromium(), ["--enable-gpu", "--use-angle=vulkan"], base, None)
    finally:
        server.shutdown()
    assert found["hardware"] is False
    assert found["webgl"] == {"webgl": None}


def test_mouse_moves_interpolate_like_playwright():
    sent = []

    class Recorder(drive_cdp.Browser):
        def __init__(self):  # no Chromium: only the mouse bookkeeping is under test
            self.mouse = (0.0, 0.0)
            self.buttons = 0

        def send(self, method, params=None, timeout=60, browser=False):
            sent.append((method, params))
            return {}

    mouse = Recorder()
    mouse.move(10, 20)
    mouse.down()
    mouse.move(30, 40, steps=2)
    mouse.up()
    assert [(p["type"], p["x"], p["y"], p["buttons"]) for _, p in sent] == [
        ("mouseMoved", 10, 20, 0),
        ("mousePressed", 10, 20, 1),
        ("mouseMoved", 20, 30, 1),
        ("mouseMoved", 30, 40, 1),
        ("mouseReleased", 30, 40, 0),
    ]
    assert {m for m, _ in sent} == {"Input.dispatchMouseEvent"}

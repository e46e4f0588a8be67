"""End to end in a real browser: JupyterLab + headless Debian Chromium driven by playwright-core.

The module starts one private JupyterLab on a free localhost port (``tests/browser/labserver.py``), writes
notebooks into its temporary root and runs ``tests/browser/driver.mjs`` against them. The widget test clicks
a tile and presses a number key, then checks both sides: the page (the tile's verified label, the saved
indicator) and the kernel's journal on disk (read here with :class:`nblabel.store.LabelStore`). The same
scenario also runs in Notebook 7 (``notebook`` >= 7, skipped when it is not installed), a second front end
built from JupyterLab's components with its own page and URL scheme.

Needs ``chromium`` (Debian package), ``node`` >= 20 and ``npm ci`` in ``tests/browser``; skipped with the
missing piece named when one is absent. Screenshots (light and dark theme) are left in the server's temporary
root; ``tests/browser/screenshot.py`` makes the README's ``docs/screenshot.png``.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from labserver import LabServer, missing_prerequisites, start_lab  # noqa: E402

from nblabel.store import LabelStore  # noqa: E402

MISSING = missing_prerequisites()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(MISSING), reason=f"browser end-to-end test needs: {', '.join(MISSING)}"),
]

XSS_CLASS = "<img src=x onerror=alert(1)>"
CLASSES = ["zero", "one", XSS_CLASS]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabServer:
    server = start_lab(tmp_path_factory.mktemp("lab"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> LabServer:
    pytest.importorskip("notebook", minversion="7", reason="needs notebook >= 7 (pip install 'notebook>=7')")
    server = start_lab(tmp_path_factory.mktemp("notebook7"), kind="notebook")
    yield server
    server.stop()


def test_harness_drives_a_plain_anywidget(lab: LabServer) -> None:
    # Isolates harness failures (server, browser, widget manager) from nblabel's own front end.
    lab.write_notebook(
        "smoke.ipynb",
        [
            textwrap.dedent(
                '''\
                import anywidget, traitlets

                class Counter(anywidget.AnyWidget):
                    _esm = """
                    export default { render({ model, el }) {
                      const b = document.createElement('button');
                      b.dataset.testid = 'smoke-button';
                      const show = () => { b.textContent = `count ${model.get('count')}`; };
                      b.addEventListener('click', () => {
                        model.set('count', model.get('count') + 1);
                        model.save_changes();
                      });
                      model.on('change:count', show);
                      show();
                      el.appendChild(b);
                    } };
                    """
                    count = traitlets.Int(0).tag(sync=True)

                w = Counter()
                w.observe(lambda change: open('smoke.txt', 'w').write(str(change['new'])), 'count')
                w
                '''
            )
        ],
    )
    result = lab.run_driver(
        ["--url", lab.notebook_url("smoke.ipynb"), "--scenario", "smoke", "--out", str(lab.root)]
    )
    assert result["buttonText"] == "count 1"
    assert (lab.root / "smoke.txt").read_text() == "1"
    assert result["events"]["pageErrors"] == []


def run_label_scenario(server: LabServer, *, xss: bool, dark: bool) -> dict:
    """Open a Labeler notebook in ``server``'s front end, label tiles by key, return what the driver saw.

    Items are scikit-learn's bundled 8x8 digits 0, 1, 2 (given labels = the classes above, item 0 has none);
    their pixels serve as embeddings, which separate these three digits well. The first tile on the page is
    labeled 'one' by key 2; with ``xss`` the second is labeled with the markup class name by key 3; with
    ``dark`` the theme is switched to JupyterLab Dark at the end. The result also carries ``journal`` (the
    journal path) and ``out`` (the server root, where screenshots are left).
    """
    journal = server.root / "labels.nblabel.db"
    server.write_notebook(
        "labeler.ipynb",
        [
            textwrap.dedent(
                f"""\
                import numpy as np
                from sklearn.datasets import load_digits
                from nblabel.data import from_array
                from nblabel.session import Session
                from nblabel.widget import Labeler

                digits = load_digits()
                keep = np.flatnonzero(digits.target < 3)[:150]
                given = digits.target[keep].copy()
                given[0] = -1
                source = from_array(digits.images[keep] / 16.0, given, {CLASSES!r})
                session = Session(
                    digits.data[keep].astype(np.float32),
                    ids=source.ids,
                    given=given,
                    classes=source.classes,
                    journal={str(journal)!r},
                    source=source,
                )
                """
            ),
            "Labeler(session, page_size=24)",
        ],
    )
    args = [
        "--url", server.notebook_url("labeler.ipynb"),
        "--scenario", "label",
        "--out", str(server.root),
        "--key", "2", "--class-index", "1",
    ]  # fmt: skip
    if xss:
        args += ["--xss-name", XSS_CLASS, "--xss-key", "3", "--xss-class-index", "2"]
    if dark:
        args.append("--dark")
    result = server.run_driver(args, timeout=300)
    result["journal"] = journal
    result["out"] = server.root
    return result


@pytest.fixture(scope="module")
def labeled(lab: LabServer) -> dict:
    """The label scenario in JupyterLab: key 2 on the first tile, key 3 (markup class) on the second, dark."""
    return run_label_scenario(lab, xss=True, dark=True)


def journal_events(path: Path) -> list[tuple[str, str | None, str | None]]:
    """(kind, item id, class name) of every event in the journal, oldest first."""
    with LabelStore(path) as store:
        return [(e.kind, e.item, e.cls) for e in store.read()]


def test_click_and_key_label_reaches_page_and_journal(labeled: dict) -> None:
    first = labeled["first"]
    # The page: the clicked tile now carries the verified class and shows its name; the saved indicator is on.
    assert first["verified"] == 1
    # A verified label is clamped in propagation, so the redrawn prediction of that tile must agree with it.
    assert first["predicted"] == 1
    assert "one" in first["verifiedText"]
    assert first["after"]["acked"] == first["after"]["sent"] >= 1
    assert first["after"]["version"] > first["before"]["version"]
    assert labeled["saved"]["state"] == "true"
    # The kernel's journal on disk holds one label event per key press, for exactly the selected items.
    assert journal_events(labeled["journal"]) == [
        ("label", first["id"], "one"),
        ("label", labeled["second"]["id"], XSS_CLASS),
    ]
    assert (labeled["out"] / "label-light.png").stat().st_size > 10_000
    assert labeled["events"]["pageErrors"] == []


def test_class_name_markup_is_shown_as_text(labeled: dict) -> None:
    report = labeled["injection"]
    assert any(XSS_CLASS in text for text in report["classButtonTexts"])
    assert XSS_CLASS in labeled["second"]["verifiedText"]
    assert report["rootTextHasName"]
    assert report["imgWithSrcX"] == 0
    assert report["elementsWithOnerror"] == 0
    assert not report["alertFired"]
    assert labeled["events"]["dialogs"] == []
    assert ("label", labeled["second"]["id"], XSS_CLASS) in journal_events(labeled["journal"])


def test_widget_follows_the_dark_theme(labeled: dict) -> None:
    light, dark = labeled["light"], labeled["dark"]
    assert light["bodyIsLight"] == "true" and dark["bodyIsLight"] == "false"
    # The widget's own surfaces (not just inherited text colour) must switch with JupyterLab's theme.
    assert dark["tileBackground"] != light["tileBackground"]
    assert (labeled["out"] / "widget-dark.png").stat().st_size > 10_000


def thrown_outside(stacks: list[str], url_part: str) -> list[str]:
    """The page-error stacks whose innermost frame is not in a script whose URL contains ``url_part``."""

    def innermost(stack: str) -> str:
        frames = [line.strip() for line in stack.splitlines() if line.strip().startswith("at ")]
        return frames[0] if frames else ""

    return [stack for stack in stacks if url_part not in innermost(stack)]


def test_key_label_reaches_journal_in_notebook7(notebook7: LabServer) -> None:
    # Same notebook and key press as in JupyterLab, served by Notebook 7 at /notebooks/<name>.ipynb.
    result = run_label_scenario(notebook7, xss=False, dark=False)
    first = result["first"]
    assert result["app"] == "Jupyter Notebook"  # not JupyterLab under another URL
    assert result["initial"]["ready"]
    assert first["verified"] == 1 and first["predicted"] == 1
    assert "one" in first["verifiedText"]
    assert first["after"]["acked"] == first["after"]["sent"] >= 1
    assert result["saved"]["state"] == "true"
    assert journal_events(result["journal"]) == [("label", first["id"], "one")]
    assert (result["out"] / "label-light.png").stat().st_size > 10_000
    # Notebook 7.6's own shortcut-settings handler throws once while the page loads (it does so for a plain
    # `1+1` notebook too); an error thrown anywhere else, the widget's code included, fails the test.
    assert thrown_outside(result["events"]["pageErrorStacks"], "/static/notebook/") == []

"""The ``nblabel`` command line: ``--version``, ``demo`` (JupyterLab launch mocked) and ``embed``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nblabel import cli


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], Path]]:
    """Record JupyterLab launches instead of starting a server and a browser."""
    calls: list[tuple[list[str], Path]] = []

    def fake_launch(command: list[str], cwd: Path) -> int:
        calls.append((command, cwd))
        return 0

    monkeypatch.setattr(cli, "_launch", fake_launch)
    return calls


def test_version_names_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nblabel {cli._version()}"


def test_console_entry_point_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nblabel.cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("nblabel ")


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "demo" in capsys.readouterr().err


def test_bundled_notebooks_include_all_four() -> None:
    names = {path.name for path in cli.bundled_notebooks_dir().glob("*.ipynb")}
    assert {"quickstart.ipynb", "label-errors.ipynb", "explore-clusters.ipynb", "your-images.ipynb"} <= names


def test_demo_copies_notebooks_and_opens_the_quickstart(tmp_path: Path, launched: list) -> None:
    workdir = tmp_path / "demo"
    status = cli.main(["demo", "--dir", str(workdir), "--port", "8899", "--no-browser"])

    assert status == 0
    bundled = {path.name for path in cli.bundled_notebooks_dir().glob("*.ipynb")}
    assert {path.name for path in workdir.glob("*.ipynb")} == bundled
    [(command, cwd)] = launched
    assert cwd == workdir.resolve()
    assert command[:4] == [sys.executable, "-m", "jupyterlab", "quickstart.ipynb"]
    assert "--port=8899" in command and "--no-browser" in command


def test_demo_passes_options_after_double_dash_to_jupyterlab(tmp_path: Path, launched: list) -> None:
    cli.main(["demo", "--dir", str(tmp_path), "--no-browser", "--", "--allow-root", "--ServerApp.ip=0.0.0.0"])
    [(command, _)] = launched
    assert command[-2:] == ["--allow-root", "--ServerApp.ip=0.0.0.0"]
    assert "--" not in command


def test_demo_never_overwrites_the_users_notebooks(tmp_path: Path, launched: list) -> None:
    workdir = tmp_path / "demo"
    cli.main(["demo", "--dir", str(workdir), "--no-browser"])
    edited = workdir / "quickstart.ipynb"
    edited.write_text('{"my": "edits"}')
    (workdir / "label-errors.ipynb").unlink()

    cli.main(["demo", "--dir", str(workdir), "--no-browser"])

    assert edited.read_text() == '{"my": "edits"}'
    restored = workdir / "label-errors.ipynb"
    assert restored.read_bytes() == (cli.bundled_notebooks_dir() / "label-errors.ipynb").read_bytes()


def test_demo_without_jupyterlab_says_how_to_install_it(
    tmp_path: Path, launched: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jupyterlab" else real_find_spec(name, *a),
    )

    status = cli.main(["demo", "--dir", str(tmp_path / "demo")])

    assert status == 1
    assert 'pip install "nblabel[demo]"' in capsys.readouterr().err
    assert launched == []
    assert not (tmp_path / "demo").exists()


def test_demo_rejects_a_file_as_working_dir(
    tmp_path: Path, launched: list, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--dir", str(not_a_dir)])
    assert exit_info.value.code == 2
    assert "expected --dir to be a folder" in capsys.readouterr().err
    assert launched == []


def test_lab_command_defaults_let_jupyterlab_choose() -> None:
    assert cli.lab_command("quickstart.ipynb", port=None, open_browser=True) == [
        sys.executable,
        "-m",
        "jupyterlab",
        "quickstart.ipynb",
    ]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Two classes of three 32x32 images and one unlabeled image; ``cat/b.png`` is a copy of ``cat/a.png``."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for name in ("a", "c"):
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{name}.png")
    (root / "cat" / "b.png").write_bytes((root / "cat" / "a.png").read_bytes())
    (root / "dog" / "b.png").write_bytes((root / "dog" / "c.png").read_bytes())
    Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)).save(root / "loose.png")
    return root


def test_embed_writes_embeddings_and_ids(image_folder: Path, tmp_path: Path) -> None:
    from nblabel.data import from_folder

    out = tmp_path / "out" / "emb.npy"
    status = cli.main(
        [
            "embed",
            str(image_folder),
            "--model",
            "test_resnet",
            "--random-init",
            "--device",
            "cpu",
            "--batch-size",
            "4",
            "--no-cache",
            "--out",
            str(out),
        ]
    )

    assert status == 0
    embeddings = np.load(out)
    table = pd.read_csv(cli.ids_path_for(out), keep_default_na=False)
    source = from_folder(image_folder)
    assert embeddings.dtype == np.float32 and embeddings.shape[0] == 7 and np.isfinite(embeddings).all()
    assert table["id"].tolist() == list(source.ids)
    assert sorted(table["label"]) == [""] + ["cat"] * 3 + ["dog"] * 3  # "" = no given label
    row = {item_id: i for i, item_id in enumerate(table["id"])}
    cat_a, cat_b, cat_c = row["cat/a.png"], row["cat/b.png"], row["cat/c.png"]
    # Known answer: identical pixels give identical rows (eval mode, no augmentation); others do not.
    np.testing.assert_allclose(embeddings[cat_a], embeddings[cat_b], rtol=1e-5, atol=1e-6)
    assert not np.allclose(embeddings[cat_a], embeddings[cat_c])


def test_embed_rejects_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["embed", str(tmp_path / "nope"), "--random-init"])
    assert exit_info.value.code == 2
    assert "expected an existing folder" in capsys.readouterr().err


def test_embed_with_a_local_checkpoint_matches_the_encoder(image_folder: Path, tmp_path: Path) -> None:
    import torch

    from nblabel.data import from_folder
    from nblabel.embed import Encoder, create_backbone

    model, _ = create_backbone("test_resnet", seed=7)
    checkpoint = tmp_path / "weights.pth"
    torch.save(model.state_dict(), checkpoint)
    out = tmp_path / "emb.npy"

    cli.main(
        [
            "embed",
            str(image_folder),
            "--model",
            "test_resnet",
            "--checkpoint",
            str(checkpoint),
            "--device",
            "cpu",
            "--no-cache",
            "--out",
            str(out),
        ]
    )

    reference = Encoder("test_resnet", checkpoint=checkpoint, device="cpu", cache_dir=False, progress=False)
    np.testing.assert_allclose(np.load(out), reference.embed(from_folder(image_folder)), rtol=1e-5, atol=1e-6)


def test_embed_without_weights_says_how_to_supply_them(
    image_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import nblabel.embed

    def no_weights(*args: object, **kwargs: object) -> None:
        raise nblabel.embed.WeightsUnavailableError("Pretrained weights for 'resnet18' are not available")

    monkeypatch.setattr(nblabel.embed, "Encoder", no_weights)
    status = cli.main(["embed", str(image_folder), "--model", "resnet18"])
    assert status == 1
    assert "--checkpoint FILE, or --random-init" in capsys.readouterr().err


def test_embed_rejects_an_output_that_is_not_npy(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["embed", str(image_folder), "--random-init", "--out", str(tmp_path / "emb.txt")])
    assert exit_info.value.code == 2
    assert "--out emb.npy" in capsys.readouterr().err


def test_embed_leaves_out_an_image_that_fails_to_decode(
    image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(buf, "JPEG")
    (image_folder / "dog" / "cut.jpg").write_bytes(buf.getvalue()[:300])  # a header, then nothing
    out = tmp_path / "emb.npy"
    args = ["embed", str(image_folder), "--model", "test_resnet", "--random-init", "--device", "cpu"]
    with pytest.warns(UserWarning, match="cut.jpg"):
        assert cli.main([*args, "--no-cache", "--out", str(out)]) == 0
    embeddings = np.load(out)
    table = pd.read_csv(cli.ids_path_for(out), keep_default_na=False)
    assert embeddings.shape[0] == len(table) == 7 and np.isfinite(embeddings).all()
    assert "dog/cut.jpg" not in set(table["id"])
    assert "skipped dog/cut.jpg" in capsys.readouterr().err

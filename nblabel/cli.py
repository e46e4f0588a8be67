"""The ``nblabel`` command line: open the demo notebooks, or batch-embed an image folder.

``nblabel demo`` copies the bundled notebooks into a working folder and starts JupyterLab on the quickstart.
``nblabel embed DIR`` turns an ImageFolder tree into an ``(n, d)`` embedding file plus its ids, so the heavy
part can run on a GPU machine and the labeling on a laptop.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEMO_NOTEBOOK = "quickstart.ipynb"
DEFAULT_DEMO_DIR = "nblabel-demo"
_JUPYTERLAB_MISSING = (
    "nblabel demo needs JupyterLab, which is not installed in this environment.\n"
    'Install it with:  pip install "nblabel[demo]"'
)


def _version() -> str:
    try:
        return importlib.metadata.version("nblabel")
    except importlib.metadata.PackageNotFoundError:
        # A source checkout that was never pip-installed; the package's own constant costs a heavier import.
        import nblabel

        return f"{nblabel.__version__} (not installed)"


def bundled_notebooks_dir() -> Path:
    """Return the folder holding the demo notebooks that ship with nblabel.

    Returns
    -------
    Path
        ``nblabel/notebooks`` inside an installed wheel, or ``notebooks/`` at the root of a source checkout
        (an editable install maps the package, not the repository, so the wheel's copy does not exist there).

    Raises
    ------
    FileNotFoundError
        If neither location holds a notebook (a broken install).

    """
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "notebooks", package_dir.parent / "notebooks"):
        if any(candidate.glob("*.ipynb")):
            return candidate
    raise FileNotFoundError(
        f"expected the demo notebooks in {package_dir / 'notebooks'} (wheel) or "
        f"{package_dir.parent / 'notebooks'} (source checkout), found none there; "
        "fix: reinstall nblabel (pip install --force-reinstall nblabel)"
    )


def copy_notebooks(source: Path, target: Path) -> tuple[list[Path], list[Path]]:
    """Copy every ``*.ipynb`` from ``source`` into ``target``, never overwriting an existing file.

    A notebook already in ``target`` may hold the user's own edits and outputs, so it is kept as it is.

    Parameters
    ----------
    source : Path
        Folder with the bundled notebooks.
    target : Path
        Working folder; created if missing.

    Returns
    -------
    copied, kept : tuple of list of Path
        Files written now, and files left alone because they already existed.

    """
    if target.exists() and not target.is_dir():
        raise ValueError(
            f"expected --dir to be a folder, got the file {target}; "
            "fix: pass a folder path (it is created if missing)"
        )
    target.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    kept: list[Path] = []
    for notebook in sorted(source.glob("*.ipynb")):
        destination = target / notebook.name
        if destination.exists():
            kept.append(destination)
        else:
            shutil.copyfile(notebook, destination)
            copied.append(destination)
    return copied, kept


def lab_command(notebook: str, port: int | None, open_browser: bool, extra: Sequence[str] = ()) -> list[str]:
    """Build the command that starts JupyterLab on ``notebook`` (relative to the working folder).

    Parameters
    ----------
    notebook : str
        File name to open, relative to the folder JupyterLab is started in.
    port : int or None
        Port for the server; None lets JupyterLab pick a free one.
    open_browser : bool
        Whether JupyterLab should open a browser tab.
    extra : sequence of str
        More JupyterLab options, passed through as given (e.g. ``--allow-root`` in a container).

    Returns
    -------
    list of str
        Arguments for :func:`subprocess.call`, run with the working folder as ``cwd``. The interpreter is
        this one, so the notebooks run with the same environment nblabel is installed in.

    """
    command = [sys.executable, "-m", "jupyterlab", notebook]
    if port is not None:
        command.append(f"--port={port}")
    if not open_browser:
        command.append("--no-browser")
    command.extend(extra)
    return command


def _launch(command: list[str], cwd: Path) -> int:
    """Run JupyterLab in the foreground until the user stops it (Ctrl-C)."""
    try:
        return subprocess.call(command, cwd=cwd)
    except KeyboardInterrupt:
        # JupyterLab shuts itself down on the same SIGINT; a traceback here would only be noise.
        return 0


def run_demo(args: argparse.Namespace) -> int:
    """``nblabel demo``: copy the notebooks into ``args.dir`` and open the quickstart in JupyterLab."""
    if importlib.util.find_spec("jupyterlab") is None:
        print(_JUPYTERLAB_MISSING, file=sys.stderr)
        return 1
    target = Path(args.dir).expanduser().resolve()
    copied, kept = copy_notebooks(bundled_notebooks_dir(), target)
    print(f"Demo notebooks in {target}: {len(copied)} copied, {len(kept)} kept as you left them.")
    # argparse keeps the "--" that separates JupyterLab's own options from ours.
    extra = args.lab_args[1:] if args.lab_args[:1] == ["--"] else args.lab_args
    return _launch(lab_command(DEMO_NOTEBOOK, args.port, not args.no_browser, extra), cwd=target)


def ids_path_for(out: Path) -> Path:
    """Return where ``nblabel embed`` writes the ids that go with the embedding file ``out``.

    ``embeddings.npy`` -> ``embeddings.ids.csv``: next to it, so the pair travels together.
    """
    return out.with_suffix(".ids.csv")


def run_embed(args: argparse.Namespace) -> int:
    """``nblabel embed``: embed every image under ``args.folder`` and write ``.npy`` + ``.ids.csv``."""
    # Imported here so `nblabel --version` and `nblabel demo` start without loading torch.
    import pandas as pd

    from nblabel.data import from_folder
    from nblabel.embed import Encoder, WeightsUnavailableError

    if args.ray:
        return _run_embed_ray(args)
    out = Path(args.out or "embeddings.npy").expanduser()
    if out.suffix != ".npy":
        raise ValueError(
            f"expected --out to end in .npy, got {out.name!r}; fix: e.g. --out {out.with_suffix('.npy').name}"
        )
    source = from_folder(args.folder)
    try:
        encoder = Encoder(
            model_name=args.model,
            pretrained=not args.random_init,
            checkpoint=args.checkpoint,
            device=args.device,
            batch_size=args.batch_size,
            image_size=args.image_size,
            cache_dir=False if args.no_cache else args.cache_dir,
        )
    except WeightsUnavailableError as error:
        return _no_weights(error)
    print(encoder, file=sys.stderr)
    embeddings = np.asarray(encoder.embed(source), dtype=np.float32)
    # Images that failed to decode have no embedding (NaN rows): they are left out of both files, as
    # Session.from_source leaves them out, and listed below with their reasons.
    decoded = np.isfinite(embeddings).all(axis=1)
    if not decoded.all():
        source, embeddings = source.subset(np.flatnonzero(decoded)), embeddings[decoded]
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, embeddings)
    given = np.asarray(source.given)
    labels = [source.classes[g] if g >= 0 else "" for g in given]
    ids_file = ids_path_for(out)
    pd.DataFrame({"id": list(source.ids), "label": labels}).to_csv(ids_file, index=False)
    print(f"Wrote {embeddings.shape[0]} x {embeddings.shape[1]} embeddings to {out} and ids to {ids_file}.")
    for image_id, reason in source.errors:
        print(f"skipped {image_id}: {reason}", file=sys.stderr)
    return 0


def _no_weights(error: Exception) -> int:
    """Report missing pretrained weights; the message lists the ways in Python, this adds the flags."""
    print(f"{error}\nOn the command line: --checkpoint FILE, or --random-init.", file=sys.stderr)
    return 1


def _run_embed_ray(args: argparse.Namespace) -> int:
    """``nblabel embed --ray``: the same encoder in Ray Data actors; shards go to the ``--out`` folder."""
    from nblabel.data import from_folder
    from nblabel.distributed import embed_with_ray
    from nblabel.embed import WeightsUnavailableError

    out = Path(args.out or "embeddings-shards").expanduser()
    if out.suffix == ".npy":
        raise ValueError(
            f"expected --out to be a folder with --ray (the shards and their manifest go there), got "
            f"{out.name!r}; fix: e.g. --out {out.with_suffix('').name}-shards"
        )
    source = from_folder(args.folder)
    try:
        manifest = embed_with_ray(
            source,
            out,
            model=args.model,
            pretrained=not args.random_init,
            checkpoint=args.checkpoint,
            image_size=args.image_size,
            batch_size=args.batch_size,
            num_gpus_per_worker=args.gpus_per_worker,
            overwrite=args.overwrite,
        )
    except ImportError as error:
        print(error, file=sys.stderr)
        return 1
    except WeightsUnavailableError as error:
        return _no_weights(error)
    except FileExistsError as error:
        raise ValueError(f"{error} (on the command line: --overwrite)") from None
    print(
        f"Wrote {manifest['count']} x {manifest['dim']} embeddings in {len(manifest['shards'])} shard(s) to "
        f"{out}; open them with nblabel.open_embeddings({str(out)!r})."
    )
    for image_id, reason in manifest["errors"]:
        print(f"skipped {image_id}: {reason}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the ``nblabel`` argument parser (sub-commands ``demo`` and ``embed``)."""
    parser = argparse.ArgumentParser(
        prog="nblabel", description="Label image datasets and find wrong labels in Jupyter."
    )
    parser.add_argument("--version", action="version", version=f"nblabel {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{demo,embed}")

    demo = commands.add_parser("demo", help="open the demo notebooks in JupyterLab")
    demo.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: first free one)")
    demo.add_argument("--no-browser", action="store_true", help="start the server without opening a browser")
    demo.add_argument(
        "--dir",
        default=DEFAULT_DEMO_DIR,
        help=f"working folder for the notebooks (default: ./{DEFAULT_DEMO_DIR}); existing files are kept",
    )
    demo.add_argument(
        "lab_args",
        nargs=argparse.REMAINDER,
        metavar="-- LAB_OPTIONS",
        help="options passed on to JupyterLab, after --, e.g. -- --allow-root",
    )
    demo.set_defaults(handler=run_demo)

    embed = commands.add_parser(
        "embed", help="embed an image folder to a .npy file (run it where the GPU is)"
    )
    embed.add_argument(
        "folder", metavar="DIR", help="image folder; class sub-folders become the given labels"
    )
    embed.add_argument("--model", default="resnet18", help="timm model name (default: resnet18)")
    embed.add_argument("--checkpoint", default=None, help="local weights file for the model (no download)")
    embed.add_argument(
        "--out",
        default=None,
        help="output .npy file, ids next to it as .ids.csv (default: embeddings.npy); "
        "with --ray a folder of shards (default: embeddings-shards)",
    )
    embed.add_argument("--device", default=None, help="cuda, cuda:1, mps or cpu (default: best available)")
    embed.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default: 64)")
    embed.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="resize images to this square size (default: the model's)",
    )
    embed.add_argument(
        "--cache-dir",
        default=None,
        help="embedding cache folder (default: $NBLABEL_CACHE or ~/.cache/nblabel)",
    )
    embed.add_argument("--no-cache", action="store_true", help="neither read nor write the embedding cache")
    embed.add_argument(
        "--random-init",
        action="store_true",
        help="do not load pretrained weights (for smoke tests; the embeddings are not useful for labeling)",
    )
    embed.add_argument(
        "--ray",
        action="store_true",
        help="embed with Ray Data actors on the cluster ray.init finds (RAY_ADDRESS, else a local one) and "
        'write shards; needs pip install "nblabel[ray]"',
    )
    embed.add_argument(
        "--gpus-per-worker", type=float, default=0, help="with --ray: GPUs per actor (default: 0, CPU actors)"
    )
    embed.add_argument("--overwrite", action="store_true", help="with --ray: replace a finished --out folder")
    embed.set_defaults(handler=run_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nblabel`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns
    -------
    int
        Process exit status: 0 on success, 1 when a requirement is missing, 2 on bad arguments.

    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        # A one-line message beats a traceback for a mistyped path; `parser.error` exits with status 2.
        parser.error(str(error))


if __name__ == "__main__":
    sys.exit(main())

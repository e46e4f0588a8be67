"""Where images come from: folders, path lists, data frames and arrays, behind one ``ImageSource``.

An :class:`ImageSource` gives every image a stable string id (its path relative to a root, or its row index
for arrays), an optional *given* label (untrusted, e.g. the name of the folder it sits in), a Pillow loader
that always returns RGB, and small cached thumbnails for the widget.

Files that cannot be read are found at construction by a cheap check (the file opens as an image and Pillow's
``verify`` passes), reported once in a single warning and in ``ImageSource.errors``, and left out of ``ids``.
A file that passes the check but fails to decode later (e.g. a truncated JPEG) is reported the same way on its
first load and replaced by a grey placeholder: by then its index may already be used by a graph or a label
journal, so it cannot be removed without shifting every later index.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, features

from nblabel._validation import check_ids, encode_labels

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageReadWarning",
    "ImageSource",
    "SkippedPathWarning",
    "as_source",
    "from_array",
    "from_dataframe",
    "from_folder",
    "from_paths",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# Checking a file costs one open and a header/CRC pass; below this many files a pool costs more than it saves.
_PARALLEL_CHECK_MIN = 64
_PLACEHOLDER_GREY = (128, 128, 128)
_THUMB_FORMAT = "WEBP" if features.check("webp") else "PNG"
# Pixel modes that Pillow resizes directly; others (16-bit, palette, ...) are converted at full size first.
_REDUCIBLE_MODES = ("RGB", "RGBA", "L", "LA", "CMYK", "YCbCr")
_ORIENTATION = 0x0112  # the EXIF tag; values 2-8 as ImageOps.exif_transpose maps them
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageReadWarning(UserWarning):
    """Some images could not be read; they are listed in the message and in ``ImageSource.errors``."""


class SkippedPathWarning(UserWarning):
    """:func:`from_folder` skipped links to folders or files already listed; see ``ImageSource.skipped``."""


class ImageSource:
    """A list of images with stable ids, optional given labels, an RGB loader and cached thumbnails.

    Build one with :func:`from_folder`, :func:`from_paths`, :func:`from_dataframe` or :func:`from_array`;
    the constructor itself takes already-validated parts.

    Parameters
    ----------
    ids : list of str, length n
        Unique, stable item ids.
    given : numpy.ndarray, shape (n,), int32
        Given class index per item, -1 where there is none.
    classes : list of str
        Class names; ``given`` indexes into it.
    paths : list of pathlib.Path, optional
        One file per item (file-backed source).
    array : numpy.ndarray, shape (n, H, W) or (n, H, W, C), optional
        Pixel rows (array-backed source), uint8 or float in [0, 1].
    errors : list of (str, str), optional
        Files already left out at construction, as ``(id, reason)``.
    thumb_cache_size : int
        Most thumbnails kept in memory (least recently used are dropped first).

    Attributes
    ----------
    ids : list of str
    given : numpy.ndarray, shape (n,), int32
    classes : list of str
    errors : list of (str, str)
        Every unreadable file seen so far with the reason, in the order found.
    skipped : list of (str, str)
        Paths :func:`from_folder` did not list, with the reason: links to a folder or file already listed
        (symlink loops included).  Empty for other sources.

    """

    def __init__(
        self,
        ids: list[str],
        given: np.ndarray,
        classes: list[str],
        *,
        paths: list[Path] | None = None,
        array: np.ndarray | None = None,
        errors: list[tuple[str, str]] | None = None,
        thumb_cache_size: int = 4096,
    ) -> None:
        if (paths is None) == (array is None):
            raise ValueError(
                "ImageSource: expected exactly one of paths= or array=; got "
                f"{'both' if paths is not None else 'neither'}. Fix: build sources with from_folder, "
                "from_paths, from_dataframe or from_array."
            )
        self.ids = list(ids)
        self.given = np.asarray(given, dtype=np.int32)
        self.classes = list(classes)
        self.errors: list[tuple[str, str]] = list(errors or [])
        self.skipped: list[tuple[str, str]] = []
        self._paths = paths
        self._array = array
        self._thumb_cache_size = int(thumb_cache_size)
        self._thumbs: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._hashes: dict[int, tuple[tuple[int, int], str]] = {}  # index -> ((size, mtime), hash)
        self._lock = threading.Lock()

    def subset(self, keep: Sequence[int] | np.ndarray) -> ImageSource:
        """Return a source of the items ``keep`` (indices, in that order), sharing files or array rows.

        ``errors`` and ``skipped`` carry over, so what was left out stays reported.
        """
        idx = [self._check_index(int(i)) for i in keep]
        out = ImageSource(
            [self.ids[i] for i in idx],
            self.given[idx],
            self.classes,
            paths=None if self._paths is None else [self._paths[i] for i in idx],
            array=None if self._array is None else self._array[idx],
            errors=self.errors,
            thumb_cache_size=self._thumb_cache_size,
        )
        out.skipped = list(self.skipped)
        return out

    # DataLoader workers receive a pickled copy; locks cannot be pickled and caches need not travel.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_lock=None, _thumbs=OrderedDict())
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        kind = "files" if self._paths is not None else f"array {self._array.shape}"  # type: ignore[union-attr]
        labeled = int((self.given >= 0).sum())
        return (
            f"ImageSource(n={len(self)}, {kind}, classes={len(self.classes)}, given={labeled}, "
            f"errors={len(self.errors)})"
        )

    @property
    def paths(self) -> list[Path] | None:
        """Absolute file path per item, or None for an array source."""
        return None if self._paths is None else list(self._paths)

    def _check_index(self, i: int) -> int:
        n = len(self)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise ValueError(
                f"index: expected an integer in [0, {n}); got {i!r}. "
                "Fix: use ids.index(id) to map an id to an index."
            )
        return int(i) % n

    def load(self, i: int) -> Image.Image:
        """Load image ``i`` as an RGB Pillow image.

        Grayscale, palette, 16-bit and alpha images are converted (alpha is composited on white, 16-bit is
        scaled to 8-bit). A file that fails to decode is reported once and replaced by a grey placeholder.

        Parameters
        ----------
        i : int
            Item index in ``[0, len(self))``.

        Returns
        -------
        PIL.Image.Image, mode ``"RGB"``

        """
        i = self._check_index(i)
        image, reason = self.try_load(i)
        if reason is not None:
            self.record_errors([(self.ids[i], reason)])
        return image

    def try_load(self, i: int) -> tuple[Image.Image, str | None]:
        """Load image ``i`` without reporting a failure (for worker processes, which report to the parent).

        Parameters
        ----------
        i : int
            Item index.

        Returns
        -------
        image : PIL.Image.Image, mode ``"RGB"``
            The image, or a grey placeholder when it cannot be decoded.
        reason : str or None
            Why decoding failed, None on success.

        """
        i = self._check_index(i)
        if self._array is not None:
            return _array_row_to_rgb(self._array[i]), None
        try:
            with Image.open(self._paths[i]) as im:  # type: ignore[index]
                return to_rgb(ImageOps.exif_transpose(im)), None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            return Image.new("RGB", (32, 32), _PLACEHOLDER_GREY), _reason(exc)

    def thumbnail(self, i: int, size: int = 96) -> bytes:
        """Encode a thumbnail of image ``i`` whose longer side is at most ``size`` pixels.

        Parameters
        ----------
        i : int
            Item index.
        size : int
            Bound on the longer side, in pixels; the aspect ratio is kept.

        Returns
        -------
        bytes
            A WebP file (PNG when Pillow lacks WebP support); see :attr:`thumbnail_format`.

        """
        i = self._check_index(i)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(
                f"size: expected a positive integer number of pixels; got {size!r}. Fix: pass e.g. 96."
            )
        key = (i, int(size))
        with self._lock:
            hit = self._thumbs.get(key)
            if hit is not None:
                self._thumbs.move_to_end(key)
                return hit
        im = self._load_reduced(i, size)
        im.thumbnail(
            (size, size), Image.Resampling.LANCZOS if max(im.size) > size else Image.Resampling.NEAREST
        )
        upscaled = max(im.size) < size
        if upscaled:
            # Tiny images (8x8 digits) would show as specks; scale them up with hard pixel edges instead.
            scale = size / max(im.size)
            im = im.resize(
                (max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.NEAREST
            )
        buf = io.BytesIO()
        if _THUMB_FORMAT == "WEBP":
            # Lossy WebP smears the hard edges of an upscaled image; its flat blocks compress well losslessly.
            im.save(buf, format="WEBP", **({"lossless": True} if upscaled else {"quality": 80, "method": 4}))
        else:
            im.save(buf, format="PNG")
        data = buf.getvalue()
        with self._lock:
            self._thumbs[key] = data
            while len(self._thumbs) > self._thumb_cache_size:
                self._thumbs.popitem(last=False)
        return data

    def _load_reduced(self, i: int, size: int) -> Image.Image:
        """Load image ``i`` as RGB already reduced towards ``size`` pixels, without a full-size copy.

        ``Image.thumbnail`` on the still-unloaded file lets JPEG decode at 1/2..1/8 scale (``draft``) and
        shrinks other formats by an integer ``reduce`` first; orientation and RGB conversion then act on the
        small image.  A 10000 x 10000 JPEG costs ~0.2 s and ~7 MB this way instead of ~2 s and ~760 MB for
        :meth:`load` + resize (a PNG still decodes in full: ~1.5 s, half the memory).  Array rows and unusual
        pixel modes take the :meth:`load` path.
        """
        if self._array is not None:
            return self.load(i)
        try:
            with Image.open(self._paths[i]) as im:  # type: ignore[index]
                if im.mode not in _REDUCIBLE_MODES:
                    return self.load(i)
                transpose = _EXIF_TRANSPOSE.get(im.getexif().get(_ORIENTATION, 1))
                im.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
                small = im.transpose(transpose) if transpose is not None else im
                return to_rgb(small.copy() if small is im else small)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            self.record_errors([(self.ids[i], _reason(exc))])
            return Image.new("RGB", (32, 32), _PLACEHOLDER_GREY)

    @property
    def thumbnail_format(self) -> str:
        """MIME type of :meth:`thumbnail` output (``"image/webp"`` or ``"image/png"``)."""
        return f"image/{_THUMB_FORMAT.lower()}"

    def content_hash(self, i: int) -> str:
        """Hash of image ``i``'s content: the file's bytes, or the array row's bytes, dtype and shape.

        Two items with equal hashes have the same pixels, so an embedding cache can key on it.

        Parameters
        ----------
        i : int
            Item index.

        Returns
        -------
        str
            32 hex digits (BLAKE2b-128).

        """
        i = self._check_index(i)
        if self._array is not None:
            row = np.ascontiguousarray(self._array[i])
            h = hashlib.blake2b(f"{row.dtype.str}{row.shape}".encode(), digest_size=16)
            h.update(row.data)
            return h.hexdigest()
        path = self._paths[i]  # type: ignore[index]
        stat = path.stat()
        memo_key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            memo = self._hashes.get(i)
        if memo is not None and memo[0] == memo_key:
            return memo[1]
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        with self._lock:
            self._hashes[i] = (memo_key, digest)
        return digest

    def record_errors(self, new: list[tuple[str, str]]) -> None:
        """Add unreadable items to :attr:`errors`, warning once about those not reported before.

        Parameters
        ----------
        new : list of (str, str)
            ``(id, reason)`` pairs.

        """
        with self._lock:
            seen = {item_id for item_id, _ in self.errors}
            fresh = [(item_id, why) for item_id, why in new if item_id not in seen]
            self.errors.extend(fresh)
        if fresh:
            warnings.warn(_error_message(fresh), ImageReadWarning, stacklevel=3)


# ----------------------------------------------------------------------------------------------------
# Constructors


def from_folder(
    path: str | os.PathLike,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    *,
    check: Literal["header", "full", "none"] = "header",
    thumb_cache_size: int = 4096,
) -> ImageSource:
    """Images under a folder; the first level of sub-folders gives the labels (the ImageFolder layout).

    ``root/cat/a.png`` gets the given label ``"cat"``; images directly in ``root`` have no label. Deeper
    folders belong to their top-level sub-folder.
    Hidden files and folders (names starting with ``.``) are skipped.  Symlinks are followed, but every real
    folder and file is listed once: a link back up the tree (a loop) or to something already listed is
    skipped, reported in a :class:`SkippedPathWarning` and kept in ``ImageSource.skipped``.

    Parameters
    ----------
    path : str or path-like
        The root folder.
    extensions : iterable of str
        File name endings to include, case-insensitive.
    check : {"header", "full", "none"}
        How unreadable files are found at construction: ``"header"`` opens each file and runs Pillow's cheap
        ``verify``; ``"full"`` decodes every image (slow, catches truncated JPEGs); ``"none"`` defers to
        load time.
    thumb_cache_size : int
        Most thumbnails kept in memory.

    Returns
    -------
    ImageSource
        Items sorted by id (the path relative to ``path``, with ``/`` separators).

    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(
            f"path: expected an existing folder; got {str(path)!r}, which "
            f"{'is a file' if root.exists() else 'does not exist'}. Fix: pass the folder that holds the "
            "images (or use from_paths for a list of files)."
        )
    exts = _normalise_extensions(extensions)
    found, skipped = _walk_images(root, exts)
    if not found:
        raise ValueError(
            f"path: expected image files ({', '.join(exts)}) in {str(root)!r} or its sub-folders; "
            "found none. "
            "Fix: check the path, or pass extensions=(...) for other file types."
        )
    found.sort()
    ids = [item_id for item_id, _ in found]
    labels = [item_id.split("/", 1)[0] if "/" in item_id else None for item_id in ids]
    if skipped:
        warnings.warn(_skipped_message(skipped), SkippedPathWarning, stacklevel=2)
    source = _file_source(ids, [p for _, p in found], labels, None, check, thumb_cache_size, where=str(root))
    source.skipped = skipped
    return source


def _walk_images(root: Path, exts: tuple[str, ...]) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """List image files under ``root`` following symlinks, each real folder and file once.

    A folder is identified by its device and inode (its real path), so a link back up the tree (``cat/up ->
    ..``) is seen as a folder already listed and not entered again: without this the walk never ends, or
    lists every image once per way of reaching it.  A file reached twice (a link, or a hard link) is listed
    under the first path in sorted walk order.

    Returns
    -------
    found : list of (id, path)
    skipped : list of (relative path, reason)

    """
    found: list[tuple[str, Path]] = []
    skipped: list[tuple[str, str]] = []
    root_stat = root.stat()
    seen_dirs: dict[tuple[int, int], str] = {(root_stat.st_dev, root_stat.st_ino): "."}
    seen_files: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        keep = []
        for d in sorted(d for d in dirnames if not d.startswith(".")):
            rel = (here / d).relative_to(root).as_posix()
            try:
                st = (here / d).stat()
            except OSError as exc:
                skipped.append((rel, f"cannot be read: {_reason(exc)}"))
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                skipped.append(
                    (rel, f"the same folder as {seen_dirs[key]!r} (a link; a loop if it points up)")
                )
                continue
            seen_dirs[key] = rel
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(exts):
                continue
            full = here / name
            rel = full.relative_to(root).as_posix()
            try:
                st = full.stat()
            except OSError:
                found.append((rel, full))  # a broken link: reported as unreadable by the file check
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen_files:
                skipped.append((rel, f"the same file as {seen_files[key]!r}"))
                continue
            seen_files[key] = rel
            found.append((rel, full))
    return found, skipped


def _skipped_message(skipped: list[tuple[str, str]], shown: int = 10) -> str:
    lines = [f"  {rel}: {why}" for rel, why in skipped[:shown]]
    if len(skipped) > shown:
        lines.append(f"  ... and {len(skipped) - shown} more (see ImageSource.skipped)")
    return f"from_folder: {len(skipped)} path(s) skipped so that no image is listed twice:\n" + "\n".join(
        lines
    )


def from_paths(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[object] | None = None,
    root: str | os.PathLike | None = None,
    *,
    classes: Sequence[str] | None = None,
    check: Literal["header", "full", "none"] = "header",
    thumb_cache_size: int = 4096,
) -> ImageSource:
    """Images from a list of file paths, with optional given labels.

    Parameters
    ----------
    paths : sequence of str or path-like, length n
        Image files. Relative paths are resolved against ``root`` (or the working directory).
    labels : sequence, length n, optional
        Class names (str) or class indices (int); ``None``, NaN, ``""`` or -1 mean no label.
    root : str or path-like, optional
        Folder the ids are relative to; defaults to the deepest folder containing all files.
    classes : sequence of str, optional
        Class names; required order when ``labels`` are indices, checked when they are names.
    check : {"header", "full", "none"}
        See :func:`from_folder`.
    thumb_cache_size : int
        Most thumbnails kept in memory.

    Returns
    -------
    ImageSource
        Items in the order given (unreadable files left out).

    """
    if isinstance(paths, (str, os.PathLike)):
        raise ValueError(
            f"paths: expected a list of image files; got a single path {str(paths)!r}. "
            "Fix: pass [path], or use from_folder for a folder."
        )
    base = Path(root).expanduser() if root is not None else Path.cwd()
    files = [Path(os.path.abspath(base / Path(p).expanduser())) for p in paths]
    if not files:
        raise ValueError(
            "paths: expected at least one image file; got an empty list. Fix: pass the image paths."
        )
    if labels is not None and len(labels) != len(files):
        raise ValueError(
            f"labels: expected one label per path ({len(files)}); got {len(labels)}. "
            "Fix: pass labels of the same length, None where an image has no label."
        )
    missing = [str(p) for p in files if not p.is_file()]
    if len(missing) == len(files):
        raise ValueError(
            f"paths: expected existing image files; none of the {len(files)} exist (e.g. {missing[0]!r}). "
            "Fix: check the paths or pass root= for relative ones."
        )
    if root is None:
        root_dir = Path(os.path.commonpath([str(p.parent) for p in files]))
    else:
        root_dir = Path(os.path.abspath(base))
    ids = [_relative_id(p, root_dir) for p in files]
    check_ids(ids, name="paths")
    label_list = list(labels) if labels is not None else [None] * len(files)
    return _file_source(ids, files, label_list, classes, check, thumb_cache_size, where=str(root_dir))


def from_dataframe(
    df: object,
    path_col: str = "path",
    label_col: str | None = None,
    *,
    root: str | os.PathLike | None = None,
    classes: Sequence[str] | None = None,
    check: Literal["header", "full", "none"] = "header",
    thumb_cache_size: int = 4096,
) -> ImageSource:
    """Images listed in a pandas DataFrame: a column of file paths and an optional label column.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per image.
    path_col : str
        Column holding the file paths.
    label_col : str, optional
        Column holding class names or indices (missing values mean no label).
    root, classes, check, thumb_cache_size
        As in :func:`from_paths`.

    Returns
    -------
    ImageSource

    """
    columns = list(getattr(df, "columns", []))
    for name, col in (("path_col", path_col), ("label_col", label_col)):
        if col is not None and col not in columns:
            raise ValueError(
                f"{name}: expected a column of the DataFrame; got {col!r}, columns are {columns[:10]}. "
                f"Fix: pass {name}= one of those names."
            )
    paths = [str(p) for p in df[path_col]]  # type: ignore[index]
    labels = list(df[label_col]) if label_col is not None else None  # type: ignore[index]
    return from_paths(paths, labels, root, classes=classes, check=check, thumb_cache_size=thumb_cache_size)


def from_array(
    arr: object,
    labels: Sequence[object] | np.ndarray | None = None,
    classes: Sequence[str] | None = None,
    *,
    thumb_cache_size: int = 4096,
) -> ImageSource:
    """Images held in one array; ids are the row indices as strings (``"0"``, ``"1"``, ...).

    Parameters
    ----------
    arr : numpy.ndarray, shape (n, H, W) or (n, H, W, C) with C in {1, 3, 4}
        uint8 pixels, or floats in [0, 1]. The array is referenced, not copied.
    labels : array-like, shape (n,), optional
        Class indices (-1 = none) or class names.
    classes : sequence of str, optional
        Class names for integer labels; defaults to ``"0"``, ``"1"``, ... up to the largest label.
    thumb_cache_size : int
        Most thumbnails kept in memory.

    Returns
    -------
    ImageSource

    """
    a = np.asarray(arr)
    if a.ndim not in (3, 4) or (a.ndim == 4 and a.shape[-1] not in (1, 3, 4)):
        raise ValueError(
            f"arr: expected shape (n, H, W) or (n, H, W, C) with C in (1, 3, 4); got shape {a.shape}. "
            "Fix: for channels-first data use arr.transpose(0, 2, 3, 1)."
        )
    if a.shape[0] == 0:
        raise ValueError(
            "arr: expected at least one image; got an array with 0 rows. Fix: pass a non-empty array."
        )
    if np.issubdtype(a.dtype, np.floating):
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if np.isnan(a).any() or lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"arr: expected float pixels in [0, 1]; got values in [{lo:g}, {hi:g}]"
                f"{' with NaN' if np.isnan(a).any() else ''}. Fix: rescale, e.g. arr / 255 for 0..255 data, "
                "or pass uint8."
            )
    elif a.dtype != np.uint8:
        raise ValueError(
            f"arr: expected uint8 pixels or floats in [0, 1]; got dtype {a.dtype}. Fix: convert, e.g. "
            "(arr / arr.max()).astype(np.float32) or arr.astype(np.uint8) if values are 0..255."
        )
    n = a.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"labels: expected one label per image ({n}); got {len(labels)}. "
            "Fix: pass labels of the same length."
        )
    given, class_list = encode_labels(labels, classes, n=n)
    return ImageSource(
        [str(i) for i in range(n)], given, class_list, array=a, thumb_cache_size=thumb_cache_size
    )


def as_source(source: object, name: str = "source") -> ImageSource:
    """Return ``source`` as an :class:`ImageSource`, wrapping an image array with :func:`from_array`.

    Parameters
    ----------
    source : ImageSource or numpy.ndarray, shape (n, H, W) or (n, H, W, C)
        Images, as the embedding and training entry points accept them.
    name : str
        Argument name used in the error message.

    Returns
    -------
    ImageSource
        ``source`` itself when it already is one.

    """
    if isinstance(source, np.ndarray):
        return from_array(source)
    if not isinstance(source, ImageSource):
        raise ValueError(
            f"{name}: expected an ImageSource or an image array; got {type(source).__name__}. "
            "Fix: build one with nblabel.data.from_folder / from_paths / from_array."
        )
    return source


# ----------------------------------------------------------------------------------------------------
# Helpers


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB.

    16-bit and 32-bit grayscale are scaled (not clipped) to 0..255; transparency is composited on white so
    transparent regions do not turn black.

    Parameters
    ----------
    im : PIL.Image.Image
        Any mode Pillow can open.

    Returns
    -------
    PIL.Image.Image, mode ``"RGB"``

    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        # 16-bit containers hold 0..65535; a 32-bit "I"/"F" image with only small values is already 0..255.
        top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a).convert("RGB")
    if im.mode == "RGB":
        return im.copy() if im.readonly else im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _array_row_to_rgb(row: np.ndarray) -> Image.Image:
    if row.dtype != np.uint8:
        row = np.clip(row * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if row.ndim == 3 and row.shape[-1] == 1:
        row = row[..., 0]
    if row.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(row), mode="L").convert("RGB")
    return to_rgb(Image.fromarray(np.ascontiguousarray(row), mode="RGBA" if row.shape[-1] == 4 else "RGB"))


def _normalise_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    exts = tuple(sorted({("." + e.lower().lstrip(".")) for e in extensions}))
    if not exts:
        raise ValueError(
            "extensions: expected at least one file ending; got none. Fix: e.g. extensions=('.png',)."
        )
    return exts


def _relative_id(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()  # outside root: the absolute path is still a stable, unique id


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _check_file(path: Path, how: str) -> str | None:
    """Return why ``path`` is unreadable, or None when it passes the check."""
    try:
        with Image.open(path) as im:
            if how == "full":
                im.load()
            else:
                im.verify()  # reads the header (and checks PNG chunk CRCs) without decoding pixels
        return None
    except Exception as exc:  # Pillow raises many types (SyntaxError for bad headers, struct.error, ...)
        return _reason(exc)


def _check_files(paths: list[Path], how: str) -> list[str | None]:
    if how == "none":
        return [None] * len(paths)
    if how not in ("header", "full"):
        raise ValueError(
            f"check: expected 'header', 'full' or 'none'; got {how!r}. Fix: pass check='header'."
        )
    if len(paths) < _PARALLEL_CHECK_MIN:
        return [_check_file(p, how) for p in paths]
    # File reads and Pillow's decoders release the GIL, so threads overlap I/O and decoding.
    with ThreadPoolExecutor(max_workers=min(16, 2 * (os.cpu_count() or 1))) as pool:
        return list(pool.map(lambda p: _check_file(p, how), paths, chunksize=32))


def _error_message(errors: list[tuple[str, str]], shown: int = 10) -> str:
    lines = [f"  {item_id}: {why}" for item_id, why in errors[:shown]]
    if len(errors) > shown:
        lines.append(f"  ... and {len(errors) - shown} more (see ImageSource.errors)")
    return f"{len(errors)} image(s) could not be read and are skipped:\n" + "\n".join(lines)


def _file_source(
    ids: list[str],
    paths: list[Path],
    labels: Sequence[object],
    classes: Sequence[str] | None,
    check: str,
    thumb_cache_size: int,
    *,
    where: str,
) -> ImageSource:
    given_all, class_list = encode_labels(labels, classes, n=len(ids))
    reasons = [None if p.is_file() else "FileNotFoundError: no such file" for p in paths]
    to_check = [k for k, r in enumerate(reasons) if r is None]
    for k, why in zip(to_check, _check_files([paths[k] for k in to_check], check), strict=True):
        reasons[k] = why
    errors = [(ids[k], why) for k, why in enumerate(reasons) if why is not None]
    keep = [k for k, why in enumerate(reasons) if why is None]
    if not keep:
        raise ValueError(
            f"images: expected at least one readable image in {where!r}; all {len(ids)} failed, e.g. "
            f"{errors[0][0]}: {errors[0][1]}. Fix: check the files are images Pillow can open."
        )
    if errors:
        warnings.warn(_error_message(errors), ImageReadWarning, stacklevel=3)
    return ImageSource(
        [ids[k] for k in keep],
        given_all[keep],
        class_list,
        paths=[paths[k] for k in keep],
        errors=errors,
        thumb_cache_size=thumb_cache_size,
    )

"""Detector frames as a UED beamtime writes them: where they are, which delay and scan each belongs to.

Two layouts:
- a folder of TIFF frames, searched recursively (one sub-folder per scan is usual): the delay of
  each file comes from its name through a pattern with a ``{delay}`` placeholder in ps (``*``
  matches anything; a pattern containing ``/`` is matched against the path below the folder), or
  from an index CSV ``file,delay_ps[,scan][,monitor]`` with files relative to the CSV's folder;
  without an index the scan is the first folder below SOURCE (or ``0``);
- one HDF5 file with an image stack (frames, y, x) and a dataset of delays in ps beside it
  (optional scans and monitor datasets).

Everything is checked from the headers before any pixel is read: shapes, names, delays. Frames
are then read one at a time (:meth:`FrameSource.frames`), never all at once.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NclatticeError

TIFF_SUFFIXES = (".tif", ".tiff")
HDF5_SUFFIXES = (".h5", ".hdf5", ".nxs")
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"


@dataclass(frozen=True)
class FrameInfo:
    """One frame: a label (file path or 'file:index'), its delay, scan and monitor value (or None)."""

    label: str
    delay_ps: float
    scan: str
    monitor: float | None = None


@dataclass(frozen=True)
class FrameSource:
    """Frames of one series; ``files`` (TIFF) or ``h5`` + ``dataset`` (stack) say where the pixels are."""

    infos: tuple[FrameInfo, ...]
    shape: tuple[int, int]
    files: tuple[Path, ...] = ()
    h5: Path | None = None
    dataset: str | None = None

    def __len__(self) -> int:
        return len(self.infos)

    def frames(self, indices: list[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame in the detector's own number type) one at a time, in file order (or only ``indices``)."""
        order = range(len(self.infos)) if indices is None else indices
        if self.h5 is None:
            for i in order:
                yield i, self._check(i, read_image(self.files[i], native=True))
            return
        import h5py

        with h5py.File(self.h5, "r") as h:
            stack = h[self.dataset]
            for i in order:
                yield i, self._check(i, np.asarray(stack[i]))

    def _check(self, i: int, frame: np.ndarray) -> np.ndarray:
        if frame.shape != self.shape:
            raise NclatticeError(f"frame {self.infos[i].label} has shape {frame.shape}, the others "
                                 f"{self.shape}; remove it or crop it to the detector size.")
        return frame

    @property
    def monitors(self) -> np.ndarray | None:
        vals = [f.monitor for f in self.infos]
        return None if any(v is None for v in vals) else np.array(vals, float)


# ---------------------------------------------------------------- single images (frames, masks, darks)
def read_image(path: Path, native: bool = False) -> np.ndarray:
    """One 2D image from TIFF, NPY or EDF (any other format fabio reads), as float64 (or as stored)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in TIFF_SUFFIXES:
            import tifffile

            arr = tifffile.imread(path)
        elif suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            import fabio

            arr = fabio.open(str(path)).data
    except Exception as exc:  # every reader's failure becomes one sentence
        raise NclatticeError(f"cannot read image '{path}' ({type(exc).__name__}); give a TIFF, NPY or EDF "
                             "file.") from None
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise NclatticeError(f"'{path}' holds an array of shape {arr.shape}; one 2D image is needed.")
    return arr if native else arr.astype(float)


def image_shape(path: Path) -> tuple[int, ...]:
    """The shape of an image from its header (TIFF) or by reading it (others)."""
    if Path(path).suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as t:
                return tuple(t.series[0].shape)
        except Exception as exc:
            raise NclatticeError(f"'{path}' is not a readable TIFF file ({type(exc).__name__}).") from None
    return read_image(path).shape


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A mask image (non-zero = masked) of the detector's shape, as bool."""
    mask = read_image(path)
    if mask.shape != shape:
        raise NclatticeError(f"--mask '{path}' has shape {mask.shape} but the frames are {shape}; give the "
                             "mask of this detector (rows, columns).")
    return mask != 0


def read_dark(path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, int]:
    """A dark frame, or the mean of every TIFF under a folder (streamed); returns (dark, n frames)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() in TIFF_SUFFIXES)
    if not files:
        raise NclatticeError(f"--dark '{path}' holds no TIFF frames; give a dark frame or a folder of them.")
    total = np.zeros(shape)
    for f in files:
        img = read_image(f)
        if img.shape != shape:
            raise NclatticeError(f"dark frame '{f}' has shape {img.shape} but the frames are {shape}.")
        if not np.all(np.isfinite(img)):
            raise NclatticeError(f"dark frame '{f}' has {int((~np.isfinite(img)).sum())} NaN or infinite pixels.")
        total += img
    return total / len(files), len(files)


# ---------------------------------------------------------------- TIFF folders
def pattern_regex(pattern: str) -> re.Pattern:
    """'delay_{delay}ps.tif' → a regex with one group for the delay; '*' matches anything."""
    if pattern.count("{delay}") != 1:
        raise NclatticeError(f"--delay-pattern '{pattern}' needs exactly one {{delay}} placeholder, e.g. "
                             "'*_{delay}ps.tif'.")
    head, tail = pattern.split("{delay}")
    glob = lambda s: ".*".join(re.escape(p) for p in s.split("*"))  # noqa: E731
    return re.compile(f"^{glob(head)}{_NUMBER}{glob(tail)}$")


def _tiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in TIFF_SUFFIXES and p.is_file())


def folder_source(folder: Path, delay_pattern: str | None = None, index: Path | None = None,
                  monitor_column: str = "monitor") -> FrameSource:
    """Frames of a TIFF folder; delays from the pattern or the index CSV (see the module docstring)."""
    folder = Path(folder)
    if index is not None:
        infos, files = _from_index(Path(index), monitor_column)
    else:
        if delay_pattern is None:
            raise NclatticeError(f"'{folder}' is a folder: give --delay-pattern (e.g. '*_{{delay}}ps.tif') or "
                                 "--index FILE.csv to say which delay each frame belongs to.")
        rx = pattern_regex(delay_pattern)
        infos, files = [], []
        for p in _tiffs(folder):
            rel = p.relative_to(folder)
            m = rx.match(rel.as_posix() if "/" in delay_pattern else p.name)
            if m:
                scan = rel.parts[0] if len(rel.parts) > 1 else "0"
                infos.append(FrameInfo(rel.as_posix(), float(m.group(1)), scan))
                files.append(p)
        if not files:
            some = ", ".join(p.name for p in _tiffs(folder)[:3]) or "no TIFF files at all"
            raise NclatticeError(f"--delay-pattern '{delay_pattern}' matches no TIFF file under '{folder}' "
                                 f"(found: {some}); write the pattern like the names, with {{delay}} where the "
                                 "delay in ps stands.")
    shape = image_shape(files[0])
    for f in files:
        s = image_shape(f)
        if s != shape:
            raise NclatticeError(f"frame '{f}' has shape {s} but '{files[0]}' has {shape}; all frames must come "
                                 "from one detector and region of interest.")
    if len(shape) != 2:
        raise NclatticeError(f"'{files[0]}' holds an array of shape {shape}; one 2D frame per file is needed.")
    return FrameSource(tuple(infos), shape, tuple(files))


def _from_index(path: Path, monitor_column: str) -> tuple[list[FrameInfo], list[Path]]:
    rows = list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
    if not rows or not {"file", "delay_ps"} <= set(rows[0]):
        raise NclatticeError(f"--index '{path}' needs a header with columns file,delay_ps[,scan][,{monitor_column}].")
    infos, files = [], []
    for n, row in enumerate(rows, start=2):
        f = path.parent / row["file"].strip()
        if not f.is_file():
            raise NclatticeError(f"--index '{path}' line {n}: frame '{row['file']}' does not exist.")
        try:
            delay = float(row["delay_ps"])
            mon = float(row[monitor_column]) if row.get(monitor_column) not in (None, "") else None
        except ValueError:
            raise NclatticeError(f"--index '{path}' line {n}: delay_ps and {monitor_column} must be numbers.") from None
        if not np.isfinite(delay) or (mon is not None and not (np.isfinite(mon) and mon > 0)):
            raise NclatticeError(f"--index '{path}' line {n}: the delay must be finite and the monitor positive.")
        infos.append(FrameInfo(row["file"].strip(), delay, (row.get("scan") or "0").strip(), mon))
        files.append(f)
    return infos, files


# ---------------------------------------------------------------- HDF5 stacks
def hdf5_source(path: Path, images: str = "images", delays: str = "delays_ps", scans: str | None = None,
                monitor: str | None = None) -> FrameSource:
    """An image stack (frames, y, x) with its delays (ps) and optional scans and monitor datasets."""
    import h5py

    try:
        h = h5py.File(path, "r")
    except OSError as exc:
        raise NclatticeError(f"'{path}' is not a readable HDF5 file ({exc}).") from None
    with h:
        names: list[str] = []
        h.visit(lambda n: names.append(n) if isinstance(h[n], h5py.Dataset) else None)
        for option, name in (("--images", images), ("--delays", delays), ("--scans", scans), ("--monitor", monitor)):
            if name is not None and name not in names:
                raise NclatticeError(f"{option} '{name}' is not a dataset of '{path}'; it holds "
                                     f"{', '.join(names[:8]) or 'no datasets'}.")
        stack = h[images]
        if stack.ndim != 3:
            raise NclatticeError(f"--images '{images}' has shape {stack.shape}; an image stack (frames, y, x) is "
                                 "needed.")
        n = stack.shape[0]
        delay = np.asarray(h[delays][()], float).ravel()
        scan = None if scans is None else np.asarray(h[scans][()]).ravel()
        mon = None if monitor is None else np.asarray(h[monitor][()], float).ravel()
        for option, arr in (("--delays", delay), ("--scans", scan), ("--monitor", mon)):
            if arr is not None and arr.size != n:
                raise NclatticeError(f"{option} has {arr.size} values but --images '{images}' has {n} frames.")
        if not np.all(np.isfinite(delay)):
            raise NclatticeError(f"--delays '{delays}' holds values that are not finite numbers.")
        if mon is not None and not np.all(np.isfinite(mon) & (mon > 0)):
            raise NclatticeError(f"--monitor '{monitor}' must hold positive finite numbers.")
        shape = tuple(int(s) for s in stack.shape[1:])
    if scan is None:  # the k-th frame of a delay belongs to scan k
        seen: dict[float, int] = {}
        scan = np.array([seen.__setitem__(d, seen.get(d, -1) + 1) or seen[d] for d in delay])
    infos = tuple(FrameInfo(f"{Path(path).name}:{i}", float(delay[i]), str(_text(scan[i])),
                            None if mon is None else float(mon[i])) for i in range(n))
    return FrameSource(infos, shape, h5=Path(path), dataset=images)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

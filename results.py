"""Writing results: JSON, arrays and figures, each atomically, so a killed run never leaves a
half-written file. Cached key folders (``<results>/<flow>/<key>/``, complete when their checksummed
``result.json`` is there) are :mod:`nclattice.cache`'s business.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .atomicio import atomic_path, write_text_atomic
from .provenance import to_jsonable


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def save_arrays(path: str | Path, **arrays: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return Path(path)


# matplotlib's text layout (mathtext, pyparsing) is not thread-safe, and campaign items and
# ensemble flows plot from threads: rendering is serialised here. Plotting functions defer
# layout to this point with fig.set_layout_engine("tight") instead of calling tight_layout().
FIGURE_LOCK = threading.RLock()


class _Figures:
    """The one piece of the pyplot interface the project uses, on matplotlib's Figure API.

    Figures are built as ``matplotlib.figure.Figure`` with an Agg canvas: no pyplot state, no
    ``matplotlib.use``, so a notebook user's backend and open figures are left alone.
    """

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, dpi=None, layout=None, **kwargs):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, dpi=dpi, layout=layout)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(nrows, ncols, **kwargs)


def pyplot() -> _Figures:
    """Figure factory with ``subplots(...)`` like pyplot's, without any global backend switch."""
    return _Figures()


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Render and save a matplotlib figure atomically (one figure at a time)."""
    with FIGURE_LOCK, atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)

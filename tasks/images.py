"""Azimuthal integration of detector frames into radial profiles I(Q), through pyFAI.

Geometry: the beam centre in pixels (column X, row Y; pixel centres at integer + 0.5 from the
detector corner, pyFAI's convention), the sample–detector distance, the pixel size and the
wavelength (relativistic for electrons), optionally a tilt — pyFAI's "Fit2D" parameters — or a
PONI file from pyFAI-calib2. Q = 4π sin θ / λ (Å⁻¹), 2θ the scattering angle.

Integration: pyFAI (J. Kieffer et al., J. Appl. Cryst. 53, 949 (2020)) builds the sparse CSR
matrix of the geometry (pixel splitting, bins, the mask) and the per-bin normalisation (solid
angle of the unmasked pixels). Both are the same for every frame of a series, so each frame then
costs one sparse matrix–vector product: I(Q_k) = Σ_p w_kp (F_p − D_p) / Σ_p w_kp Ω_p, which is
pyFAI's own CSR result (tests compare with ``integrate1d``); a dark frame enters as one constant
vector.

Per delay: frames are compared with their delay's median profile, a frame further away than a
robust threshold is rejected, the rest are averaged; the standard error comes from the scatter
of the frames about their delay's mean, pooled over delays (a pump changes the patterns by a few
per cent, not their noise), so three scans give a usable error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import NclatticeError
from .scattering import ELECTRON_REST_KEV, HC_KEV_ANGSTROM, electron_wavelength_angstrom, xray_wavelength_angstrom

SPLITTING = ("bbox", "no", "full")


# ---------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Geometry:
    """pyFAI's Fit2D description of a flat detector: centre (px), distance (mm), pixel (µm), λ (Å)."""

    center_x_px: float
    center_y_px: float
    distance_mm: float
    pixel_x_um: float
    pixel_y_um: float
    wavelength_angstrom: float
    tilt_deg: float = 0.0
    tilt_plane_deg: float = 0.0

    def integrator(self, shape: tuple[int, int]):
        """A pyFAI AzimuthalIntegrator of this geometry for frames of ``shape``."""
        from pyFAI.detectors import Detector
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator

        ai = AzimuthalIntegrator(detector=Detector(pixel1=self.pixel_y_um * 1e-6, pixel2=self.pixel_x_um * 1e-6,
                                                   max_shape=shape))
        ai.setFit2D(self.distance_mm, self.center_x_px, self.center_y_px, self.tilt_deg, self.tilt_plane_deg,
                    pixelX=self.pixel_x_um, pixelY=self.pixel_y_um)
        ai.wavelength = self.wavelength_angstrom * 1e-10
        return ai

    def moved(self, center_x_px: float, center_y_px: float, distance_mm: float) -> Geometry:
        return replace(self, center_x_px=float(center_x_px), center_y_px=float(center_y_px),
                       distance_mm=float(distance_mm))

    def ring_radius_px(self, q_inv_angstrom: np.ndarray) -> np.ndarray:
        """Radius of the ring of Q on an untilted detector, in (x) pixels: D tan 2θ."""
        two_theta = 2 * np.arcsin(np.asarray(q_inv_angstrom) * self.wavelength_angstrom / (4 * np.pi))
        return self.distance_mm * 1e3 * np.tan(two_theta) / self.pixel_x_um

    def describe(self) -> dict:
        return {"center_px": [self.center_x_px, self.center_y_px], "distance_mm": self.distance_mm,
                "pixel_um": [self.pixel_x_um, self.pixel_y_um], "wavelength_angstrom": self.wavelength_angstrom,
                "tilt_deg": self.tilt_deg, "tilt_plane_deg": self.tilt_plane_deg,
                "convention": "pyFAI Fit2D: centre X = column, Y = row, pixel centres at integer + 0.5"}

    def write_poni(self, path: Path, shape: tuple[int, int]) -> None:
        """This geometry as a PONI file (written by pyFAI, without its time stamp: same geometry, same bytes)."""
        Path(path).unlink(missing_ok=True)  # pyFAI appends to an existing file
        self.integrator(shape).write(str(path))
        text = Path(path).read_text().splitlines(keepends=True)
        Path(path).write_text("".join(ln for ln in text if not ln.startswith("# Calibration done")))


def wavelength_angstrom(probe: str, energy_kev: float) -> float:
    return electron_wavelength_angstrom(energy_kev) if probe == "electron" else xray_wavelength_angstrom(energy_kev)


def energy_kev(probe: str, wavelength: float) -> float:
    """The inverse of :func:`wavelength_angstrom`: kinetic energy (electrons, relativistic) or photon energy."""
    pc = HC_KEV_ANGSTROM / wavelength
    return float(np.sqrt(pc**2 + ELECTRON_REST_KEV**2) - ELECTRON_REST_KEV) if probe == "electron" else float(pc)


def read_poni(path: Path, shape: tuple[int, int]) -> Geometry:
    """A PONI file (pyFAI-calib2) as a Geometry; a file that is not one is refused in one sentence."""
    text = Path(path).read_text(errors="replace")
    keys = {ln.split(":", 1)[0].strip().lower() for ln in text.splitlines() if ":" in ln and not ln.startswith("#")}
    missing = [k for k in ("distance", "poni1", "poni2") if k not in keys]
    if missing or not keys & {"detector", "pixelsize1", "detector_config"}:
        raise NclatticeError(f"--poni '{path}' is not a PONI file (no {', '.join(missing) or 'detector'} entry); "
                             "give the file pyFAI-calib2 writes, or the geometry as --center, --distance-mm, "
                             "--pixel-um and --energy-kev.")
    import pyFAI

    try:
        ai = pyFAI.load(str(path))
    except Exception as exc:
        raise NclatticeError(f"--poni '{path}' cannot be read by pyFAI ({type(exc).__name__}: {exc}).") from None
    if not ai.detector.pixel1 or not ai.detector.pixel2:
        raise NclatticeError(f"--poni '{path}' gives no pixel size; add the detector to the PONI file.")
    max_shape = ai.detector.max_shape
    if max_shape is not None and tuple(max_shape) != tuple(shape):
        raise NclatticeError(f"--poni '{path}' describes a detector of {tuple(max_shape)} pixels but the frames are "
                             f"{tuple(shape)}.")
    f = ai.getFit2D()
    wl = ai.wavelength
    return Geometry(float(f["centerX"]), float(f["centerY"]), float(f["directDist"]), float(f["pixelX"]),
                    float(f["pixelY"]), float(wl * 1e10) if wl else float("nan"), float(f["tilt"]),
                    float(f["tiltPlanRotation"]))


# ---------------------------------------------------------------- the integrator
@dataclass(frozen=True)
class RadialIntegrator:
    """pyFAI's CSR matrix (bins × pixels, kept as CSC) and the per-bin normalisation; empty bins are dropped."""

    q_inv_angstrom: np.ndarray
    matrix: object              # scipy.sparse.csc_matrix (pixel-major: one pass over the frame)
    norm: np.ndarray            # Σ_p w_kp Ω_p over unmasked pixels
    used: np.ndarray            # bool image: pixels that enter some bin
    shape: tuple[int, int]
    split: str

    def profile(self, frame: np.ndarray, dark_sum: np.ndarray | float = 0.0) -> np.ndarray:
        """I(Q) of one frame (dark already projected: ``dark_sum`` = matrix @ dark)."""
        return (np.asarray(self.matrix @ frame.ravel(), float) - dark_sum) / self.norm

    def adjacent_bin_correlation(self) -> float:
        """Median correlation of the noise of neighbouring bins for independent pixels of equal variance:
        0 without pixel splitting; about 0.35 with bounding-box splitting into one-pixel-wide bins, when the
        variance of a sum over a ring is ~1.6× what the per-bin errors imply."""
        m = self.matrix.astype(float)
        c = (m @ m.T).tocsr()
        d = np.sqrt(c.diagonal())
        k = np.arange(d.size - 1)
        return float(np.median(np.asarray(c[k, k + 1]).ravel() / (d[k] * d[k + 1])))

    def project(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix.astype(float) @ np.asarray(image, float).ravel(), float)


def default_q_range(geometry: Geometry, shape: tuple[int, int], mask: np.ndarray | None) -> tuple[float, float]:
    """Q of the unmasked pixels, from the edge of the beam stop to the farthest corner."""
    q = geometry.integrator(shape).qArray(shape) / 10.0  # pyFAI works in nm⁻¹
    valid = q if mask is None else q[~mask]
    return float(valid.min()), float(valid.max())


def default_bins(geometry: Geometry, q_range: tuple[float, float]) -> int:
    """One bin per pixel of radius across the Q range."""
    r = geometry.ring_radius_px(np.array(q_range))
    return max(int(np.ceil(r[1] - r[0])), 10)


def build_integrator(geometry: Geometry, shape: tuple[int, int], mask: np.ndarray | None,
                     q_range: tuple[float, float], bins: int, split: str = "no") -> RadialIntegrator:
    """Let pyFAI build the CSR integrator of this geometry, mask and binning, and keep its matrix."""
    import scipy.sparse as sp

    if split not in SPLITTING:
        raise NclatticeError(f"pixel splitting must be one of {', '.join(SPLITTING)}, not '{split}'.")
    ai = geometry.integrator(shape)
    method = (split, "csr", "cython")
    ones = np.ones(shape, np.float32)
    res = ai.integrate1d(ones, bins, unit="q_A^-1", radial_range=tuple(q_range), method=method,
                         mask=None if mask is None else mask.astype(np.int8), correctSolidAngle=True)
    engine = next(iter(ai.engines.values())).engine
    data, indices, indptr = engine.lut
    # float32 weights: half the memory traffic of the per-frame product (sums stay exact to ~1e-6 relative)
    matrix = sp.csr_matrix((np.asarray(data, np.float32), indices, indptr), shape=(len(indptr) - 1, ones.size))
    norm = np.asarray(res.sum_normalization, float)
    keep = norm > 0
    if keep.sum() < 10:
        raise NclatticeError(f"only {int(keep.sum())} Q bins of {q_range[0]:g}..{q_range[1]:g} Å⁻¹ hold unmasked "
                             "pixels; check --q-range, the mask and the geometry.")
    matrix = matrix[np.flatnonzero(keep)]
    used = np.asarray(abs(matrix).sum(0)).ravel().reshape(shape) > 0
    # stored pixel-major (CSC): the product then reads the frame once in memory order and adds into the few
    # hundred bins, which stay in cache; bin-major (CSR) gathers each ring's pixels from across the frame
    # and is about 2× slower (benchmarks/bench_images.py)
    matrix = matrix.tocsc()
    matrix.sort_indices()
    return RadialIntegrator(np.asarray(res.radial, float)[keep], matrix, norm[keep], used, shape, split)


# ---------------------------------------------------------------- streaming a series
@dataclass(frozen=True)
class FrameProfiles:
    """Profiles of every frame (frames × Q) and the sum of the dark-subtracted frames."""

    profiles: np.ndarray
    image_sum: np.ndarray
    n_frames: int


def integrate_frames(frames, n_frames: int, integrator: RadialIntegrator, labels: list[str],
                     dark: np.ndarray | None = None, progress=None) -> FrameProfiles:
    """Integrate frames one at a time; a NaN or infinite pixel that enters a bin is refused."""
    dark_sum = 0.0 if dark is None else integrator.project(dark)
    profiles = np.empty((n_frames, integrator.q_inv_angstrom.size))
    image_sum = np.zeros(integrator.shape)
    for done, (i, frame) in enumerate(frames, start=1):
        prof = integrator.profile(frame, dark_sum)
        if not np.all(np.isfinite(prof)):
            bad = ~np.isfinite(frame) & integrator.used
            r, c = np.argwhere(bad)[0] if bad.any() else (-1, -1)
            raise NclatticeError(f"frame {labels[i]} has {int(bad.sum())} NaN or infinite pixels inside the "
                                 f"integrated region (first at row {r}, column {c}); mask them with --mask.")
        profiles[i] = prof
        np.add(image_sum, frame, out=image_sum)  # in place, no per-frame temporary; the dark once at the end
        if progress is not None:
            progress(done, n_frames)
    if dark is not None:
        image_sum -= n_frames * dark
    return FrameProfiles(profiles, image_sum, n_frames)


# ---------------------------------------------------------------- normalisation, rejection, averaging
def normalization_factors(profiles: np.ndarray, integrator: RadialIntegrator, mode: str,
                          q_window: tuple[float, float] | None = None, monitor: np.ndarray | None = None
                          ) -> np.ndarray:
    """Per-frame factors: 1 ('none'), mean/own total counts in a Q window, or mean/own monitor."""
    n = profiles.shape[0]
    if mode == "none":
        return np.ones(n)
    if mode == "monitor":
        if monitor is None:
            raise NclatticeError("--normalize monitor needs a monitor value per frame: a 'monitor' column in "
                                 "--index or an HDF5 dataset named by --monitor.")
        return monitor.mean() / monitor
    q = integrator.q_inv_angstrom
    lo, hi = q_window if q_window is not None else (q[0], q[-1])
    sel = (q >= lo) & (q <= hi)
    if sel.sum() < 2:
        raise NclatticeError(f"--norm-q-range {lo:g},{hi:g} holds fewer than two Q bins of {q[0]:.3g}.."
                             f"{q[-1]:.3g} Å⁻¹.")
    counts = profiles[:, sel] @ integrator.norm[sel]
    if np.any(counts <= 0):
        raise NclatticeError(f"a frame has no positive counts in the normalisation window {lo:g}..{hi:g} Å⁻¹.")
    return counts.mean() / counts


def _groups(delays: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    unique = np.unique(delays)
    return unique, [np.flatnonzero(delays == d) for d in unique]


def outlier_scores(profiles: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Per frame: rms over Q of (frame − its delay's median) / the robust per-Q scatter.

    Only delays with at least three frames can say which frame is the odd one (NaN otherwise).
    """
    _, groups = _groups(delays)
    residual = np.full(profiles.shape, np.nan)
    for idx in groups:
        if idx.size >= 3:
            residual[idx] = profiles[idx] - np.median(profiles[idx], axis=0)
    scores = np.full(profiles.shape[0], np.nan)
    rows = np.flatnonzero(np.isfinite(residual[:, 0]))
    if rows.size == 0:
        return scores
    absres = np.abs(residual[rows])
    scale = 1.4826 * np.array([np.median(c[c > 0]) if np.any(c > 0) else 1.0 for c in absres.T])
    scores[rows] = np.sqrt(np.mean((residual[rows] / scale) ** 2, axis=1))
    return scores


def reject(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, float]:
    """Frames whose score exceeds median + threshold × (robust spread) of all scores; threshold 0 keeps all."""
    ok = np.isfinite(scores)
    if threshold <= 0 or ok.sum() < 3:
        return np.zeros(scores.size, bool), float("inf")
    med = float(np.median(scores[ok]))
    spread = max(1.4826 * float(np.median(np.abs(scores[ok] - med))), 0.05 * med)
    limit = med + threshold * spread
    return ok & (scores > limit), limit


@dataclass(frozen=True)
class DelayAverage:
    delays_ps: np.ndarray
    intensity: np.ndarray       # (delays, Q)
    error: np.ndarray           # standard error of the mean, from the pooled scatter
    n_frames: np.ndarray
    dof: int                    # degrees of freedom of the pooled variance


def average_by_delay(profiles: np.ndarray, delays: np.ndarray) -> DelayAverage:
    """Mean profile per delay; error = sqrt(pooled variance / n) with the scatter pooled over delays."""
    unique, groups = _groups(delays)
    mean = np.array([profiles[idx].mean(0) for idx in groups])
    n = np.array([idx.size for idx in groups])
    dof = int((n - 1).sum())
    if dof < 2:
        raise NclatticeError("the errors come from the scatter of repeated frames, but no delay has more than one "
                             "frame (after rejection); record at least two scans.")
    ss = sum(((profiles[idx] - m) ** 2).sum(0) for idx, m in zip(groups, mean, strict=True))
    var = ss / dof
    if np.any(var <= 0):
        raise NclatticeError("repeated frames are identical in some Q bin (zero scatter); are the scans copies?")
    return DelayAverage(unique, mean, np.sqrt(var[None, :] / n[:, None]), n, dof)

"""Does the detector geometry agree with the rings of the crystal? Beam centre and distance from ring positions.

The mean detector image is cut into azimuthal sectors around the assumed beam centre. In each
sector the radius of every isolated ring of the structure is fitted (Gaussian on a linear
background). A centre that is off by (dx, dy) pixels makes a ring's radius vary around the circle
as r_j(φ) = R_j + dx cos φ + dy sin φ (to first order in the offset; φ measured from +x = columns
towards +y = rows); a joint weighted fit over rings and sectors gives (dx, dy) and the true radii
R_j. On a flat untilted detector R_j = D tan 2θ_j / pixel with 2θ_j from the structure's Q_j and
the wavelength, which gives the distance D. A distance error and a uniform lattice strain move the
rings alike: the distance is the one that puts the rings where the structure's lattice puts them.
The fit is repeated from the corrected centre until it moves by less than 0.01 pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NclatticeError
from .images import Geometry

SECTORS = 24
BIN_PX = 0.5


@dataclass(frozen=True)
class GeometryCheck:
    given: Geometry
    refined: Geometry
    offset_px: tuple[float, float]          # refined centre − given centre
    offset_stderr_px: tuple[float, float]
    distance_change: float                  # refined / given − 1
    fwhm_px: float                          # median ring FWHM in the azimuthal average
    rings: tuple[str, ...]                  # labels of the rings used
    ring_shift_px: float                    # largest ring displacement the given geometry causes
    residual_px: float                      # rms of the sector radii about the refined model
    tolerance: float

    @property
    def needs_correction(self) -> bool:
        return self.ring_shift_px > self.tolerance * self.fwhm_px

    def line(self) -> str:
        g, r = self.given, self.refined
        where = (f"beam centre ({r.center_x_px:.2f}, {r.center_y_px:.2f}) px instead of ({g.center_x_px:.2f}, "
                 f"{g.center_y_px:.2f}), distance {r.distance_mm:.5g} mm instead of {g.distance_mm:.5g} "
                 f"({100 * self.distance_change:+.2f} %)")
        if not self.needs_correction:
            return (f"geometry check: the rings agree with the geometry (largest ring shift {self.ring_shift_px:.2f} "
                    f"px, {self.tolerance:g} × FWHM = {self.tolerance * self.fwhm_px:.2f} px allowed); refined: "
                    f"{where}.")
        return (f"geometry check: the rings are displaced by up to {self.ring_shift_px:.2f} px "
                f"({self.ring_shift_px / self.fwhm_px:.2f} × their FWHM of {self.fwhm_px:.2f} px); the rings say "
                f"{where}: add --refine-geometry, or give --center {r.center_x_px:.2f} {r.center_y_px:.2f} "
                f"--distance-mm {r.distance_mm:.5g}.")

    def to_dict(self) -> dict:
        return {"given": self.given.describe(), "refined": self.refined.describe(),
                "offset_px": list(self.offset_px), "offset_stderr_px": list(self.offset_stderr_px),
                "distance_change": self.distance_change, "ring_fwhm_px": self.fwhm_px, "rings": list(self.rings),
                "largest_ring_shift_px": self.ring_shift_px, "residual_px": self.residual_px,
                "tolerance_fraction_of_fwhm": self.tolerance, "needs_correction": self.needs_correction,
                "message": self.line(),
                "method": "ring radii fitted in 24 azimuthal sectors of the mean image; r_j(φ) = R_j + dx cos φ + "
                          "dy sin φ; D from R_j = D tan 2θ_j (structure's Q_j, tilt kept as given)"}


def _gauss_fit(r: np.ndarray, y: np.ndarray, centre: float, width: float) -> tuple[float, float, float, float]:
    """Gaussian on a linear background; returns (centre, stderr, sigma, amplitude/stderr) or NaNs."""
    from scipy.optimize import curve_fit

    def model(x, a, c, s, b0, b1):
        return a * np.exp(-0.5 * ((x - c) / s) ** 2) + b0 + b1 * (x - centre)

    a0 = max(float(y.max() - np.median(y)), 1e-12)
    try:
        p, cov = curve_fit(model, r, y, p0=[a0, centre, width, float(np.median(y)), 0.0], maxfev=4000)
    except (RuntimeError, ValueError):
        return (np.nan,) * 4
    err = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(5, np.nan)
    if not (abs(p[1] - centre) < 3 * width and 0.2 < abs(p[2]) < 4 * width and p[0] > 0 and err[1] > 0):
        return (np.nan,) * 4
    return float(p[1]), float(err[1]), float(abs(p[2])), float(p[0] / max(err[0], 1e-300))


def _profiles(image: np.ndarray, valid: np.ndarray, cx: float, cy: float, r_max: float):
    """Mean intensity in (sector, radius bin) around (cx, cy); NaN where no pixel falls."""
    y, x = np.nonzero(valid)
    dx, dy = x + 0.5 - cx, y + 0.5 - cy
    r = np.hypot(dx, dy)
    sector = ((np.arctan2(dy, dx) % (2 * np.pi)) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    nbin = int(r_max / BIN_PX) + 1
    b = np.minimum((r / BIN_PX).astype(int), nbin - 1)
    flat = sector * nbin + b
    sums = np.bincount(flat, image[y, x], SECTORS * nbin).reshape(SECTORS, nbin)
    counts = np.bincount(flat, None, SECTORS * nbin).reshape(SECTORS, nbin)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.arange(nbin) + 0.5) * BIN_PX, sums / counts, counts, sums.sum(0) / counts.sum(0)


def _highpass(y: np.ndarray, width_bins: int = 20) -> np.ndarray:
    """y minus its running mean (NaN-aware): the rings without the smooth background."""
    ok = np.isfinite(y)
    kernel = np.ones(width_bins)
    num = np.convolve(np.where(ok, y, 0.0), kernel, "same")
    den = np.convolve(ok.astype(float), kernel, "same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, y - num / den, np.nan)


def _coarse_centre(image, valid, geometry: Geometry, r_max: float, iterations: int = 4) -> Geometry:
    """Centre from the radial shift of each sector's profile against the azimuthal average (no ring model):
    robust when the given centre is off by more than a ring width."""
    g = geometry
    max_shift = int(10 / BIN_PX)
    for _ in range(iterations):
        _radius, sector_prof, _counts, mean_prof = _profiles(image, valid, g.center_x_px, g.center_y_px, r_max)
        ref = _highpass(mean_prof)
        phis, shifts = [], []
        for k in range(SECTORS):
            y = _highpass(sector_prof[k])
            best, score = 0, []
            for m in range(-max_shift, max_shift + 1):
                a, b = (y[m:], ref[:ref.size - m]) if m >= 0 else (y[:m], ref[-m:])
                ok = np.isfinite(a) & np.isfinite(b)
                score.append(np.sum(a[ok] * b[ok]) / max(ok.sum(), 1) if ok.sum() > 20 else -np.inf)
            score = np.array(score)
            best = int(np.argmax(score))
            if not np.isfinite(score[best]) or best in (0, score.size - 1):
                continue
            c0, c1, c2 = score[best - 1:best + 2]
            frac = 0.5 * (c0 - c2) / (c0 - 2 * c1 + c2) if (c0 - 2 * c1 + c2) != 0 else 0.0
            shifts.append((best - max_shift + frac) * BIN_PX)
            phis.append((k + 0.5) * 2 * np.pi / SECTORS)
        if len(shifts) < 6:
            return g
        a = np.column_stack([np.cos(phis), np.sin(phis)])
        (dx, dy), *_ = np.linalg.lstsq(a, np.array(shifts), rcond=None)
        g = g.moved(g.center_x_px + dx, g.center_y_px + dy, g.distance_mm)
        if np.hypot(dx, dy) < 0.25:
            break
    return g


def _windows(radii: np.ndarray, half_max: float) -> np.ndarray:
    """Half-width of the search window of each ring: half the gap to its neighbours, at most ``half_max``."""
    gaps = np.diff(radii)
    left = np.concatenate([[half_max * 2], gaps])
    right = np.concatenate([gaps, [half_max * 2]])
    return np.minimum(np.minimum(left, right) / 2, half_max)


def _one_pass(image, valid, geometry: Geometry, q_rings, labels):
    r_pred = geometry.ring_radius_px(q_rings)
    ys, xs = np.nonzero(valid)
    r_max = float(np.hypot(xs + 0.5 - geometry.center_x_px, ys + 0.5 - geometry.center_y_px).max())
    radius, sector_prof, counts, mean_prof = _profiles(image, valid, geometry.center_x_px, geometry.center_y_px,
                                                       r_max)
    half = _windows(r_pred, 12.0)
    # the rings in the azimuthal average: which are isolated and strong enough, and how wide
    found = []
    for j, (rp, h) in enumerate(zip(r_pred, half, strict=True)):
        sel = (radius > rp - h) & (radius < rp + h) & np.isfinite(mean_prof)
        if sel.sum() < 8 or h < 3:
            continue
        c, _e, s, snr = _gauss_fit(radius[sel], mean_prof[sel], rp, max(h / 4, 1.0))
        if np.isfinite(c) and snr > 10:
            found.append((j, c, s))
    if len(found) < 2:
        raise NclatticeError("fewer than two rings of the structure were found where the geometry puts them; check "
                             "--center, --distance-mm, --energy-kev (or the PONI file) and the structure.")
    fwhm = 2.3548 * float(np.median([s for _, _, s in found]))
    rows, rhs, wts, ring_of, phis = [], [], [], [], []
    half_sector = np.pi / SECTORS
    for jj, (j, c, s) in enumerate(found):
        w = min(half[j], max(4 * s, 3.0))
        for k in range(SECTORS):
            sel = (radius > c - w) & (radius < c + w) & (counts[k] > 0)
            if sel.sum() < 6 or sel.sum() < 0.8 * ((radius > c - w) & (radius < c + w)).sum():
                continue  # sector cut by the beam-stop rod or the detector edge
            rk, ek, _, snr = _gauss_fit(radius[sel], sector_prof[k][sel], c, s)
            if np.isfinite(rk) and snr > 5:
                phi = (k + 0.5) * 2 * half_sector
                rows.append(jj), rhs.append(rk), wts.append(1 / ek**2), phis.append(phi), ring_of.append(j)
    n_rings = len(found)
    if len(rhs) < n_rings + 3:
        raise NclatticeError("too few ring segments could be fitted to check the beam centre; check the mask and "
                             "the geometry.")
    rows, rhs, wts, phis = np.array(rows), np.array(rhs), np.array(wts), np.array(phis)
    damp = np.sin(half_sector) / half_sector  # a sector averages cos φ over its width
    design = np.zeros((rhs.size, n_rings + 2))
    design[np.arange(rhs.size), rows] = 1.0
    design[:, n_rings] = damp * np.cos(phis)
    design[:, n_rings + 1] = damp * np.sin(phis)
    sw = np.sqrt(wts)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], rhs * sw, rcond=None)
    resid = rhs - design @ coef
    dof = max(rhs.size - coef.size, 1)
    chi2 = float((resid**2 * wts).sum() / dof)
    cov = np.linalg.pinv((design * wts[:, None]).T @ design) * max(chi2, 1.0)
    radii = coef[:n_rings]
    pred = r_pred[[j for j, _, _ in found]]
    w_ring = 1 / np.diag(cov)[:n_rings]
    scale = float((w_ring * radii * pred).sum() / (w_ring * pred**2).sum())
    return {"dx": float(coef[n_rings]), "dy": float(coef[n_rings + 1]),
            "dx_err": float(np.sqrt(cov[n_rings, n_rings])), "dy_err": float(np.sqrt(cov[n_rings + 1, n_rings + 1])),
            "scale": scale, "fwhm": fwhm, "labels": tuple(labels[j] for j, _, _ in found),
            "residual": float(np.sqrt(np.mean(resid**2))), "pred": pred, "radii": radii}


def check_geometry(image: np.ndarray, mask: np.ndarray | None, geometry: Geometry, q_rings: np.ndarray,
                   labels: list[str], tolerance: float = 0.2, max_iter: int = 6) -> GeometryCheck:
    """Fit the beam centre and distance to the structure's rings in the mean image (see the module docstring)."""
    valid = np.isfinite(image) if mask is None else np.isfinite(image) & ~mask
    q_rings = np.asarray(q_rings, float)
    ys, xs = np.nonzero(valid)
    r_max = float(np.hypot(xs + 0.5 - geometry.center_x_px, ys + 0.5 - geometry.center_y_px).max()) + 20
    g = _coarse_centre(image, valid, geometry, r_max)
    first = None
    for _ in range(max_iter):
        fit = _one_pass(image, valid, g, q_rings, labels)
        first = first or fit
        g = g.moved(g.center_x_px + fit["dx"], g.center_y_px + fit["dy"], g.distance_mm * fit["scale"])
        if np.hypot(fit["dx"], fit["dy"]) < 0.01 and abs(fit["scale"] - 1) < 1e-5:
            break
    # how far the given geometry puts the rings from where they are: the centre offset moves a ring by
    # up to |d| on one side, the distance by R_j·(D/D' − 1)
    offset = np.array([g.center_x_px - geometry.center_x_px, g.center_y_px - geometry.center_y_px])
    rel = g.distance_mm / geometry.distance_mm - 1
    shift = float(np.hypot(*offset) + np.max(np.abs(first["pred"])) * abs(rel) / (1 + rel))
    return GeometryCheck(geometry, g, (float(offset[0]), float(offset[1])), (fit["dx_err"], fit["dy_err"]),
                         float(rel), fit["fwhm"], fit["labels"], shift, fit["residual"], float(tolerance))

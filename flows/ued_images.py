"""`nclattice ued images`: detector frames → radial profiles I(Q, t) → (with --structure) the `ued profiles` analysis.

Composition only: frames (tasks/frames.py), integration, rejection and averaging
(tasks/images.py), the geometry check (tasks/ring_geometry.py), rings (tasks/profiles.py) and the
profile analysis (flows/ued_profiles.py). Every input is checked before the first frame is read;
nothing is written before every frame has been integrated, and a failure of the analysis removes
what this run wrote, so bad input leaves --out as it was.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..atomicio import atomic_path, write_text_atomic
from ..errors import NclatticeError
from ..provenance import file_sha256, provenance
from ..results import pyplot, save_figure
from ..tasks import frames as fr
from ..tasks import images as im
from ..tasks import profiles as prof
from ..tasks.ring_geometry import GeometryCheck, check_geometry
from ..tasks.scattering import Probe
from .outcomes import UedImagesOutcome
from .registry import Inputs, prepared
from .settings import UedImagesSettings

OUTPUTS = ("profiles.h5", "frames.csv", "geometry.poni", "images_qa.png")


# ---------------------------------------------------------------- inputs
def open_source(source: Path, s: UedImagesSettings) -> fr.FrameSource:
    source = Path(source)
    if source.is_dir():
        return fr.folder_source(source, s.delay_pattern, None if s.index is None else Path(s.index),
                                s.monitor or "monitor")
    if source.suffix.lower() in fr.HDF5_SUFFIXES:
        return fr.hdf5_source(source, s.images, s.delays, s.scans, s.monitor)
    raise NclatticeError(f"'{source}' is neither a folder of TIFF frames nor an HDF5 file (.h5, .hdf5, .nxs).")


def geometry_of(s: UedImagesSettings, shape: tuple[int, int]) -> tuple[im.Geometry, Probe]:
    """The geometry (PONI or explicit values) and the probe whose energy matches its wavelength."""
    if s.poni is None:
        geometry = im.Geometry(s.center_px[0], s.center_px[1], s.distance_mm, s.pixel_um, s.pixel_um,
                               im.wavelength_angstrom(s.probe, s.energy_kev))
        return geometry, Probe(s.probe, float(s.energy_kev))
    geometry = im.read_poni(Path(s.poni), shape)
    if not np.isfinite(geometry.wavelength_angstrom):
        if s.energy_kev is None:
            raise NclatticeError(f"--poni '{s.poni}' has no wavelength; give --energy-kev.")
        geometry = im.Geometry(*[getattr(geometry, k) for k in ("center_x_px", "center_y_px", "distance_mm",
                                                                "pixel_x_um", "pixel_y_um")],
                               im.wavelength_angstrom(s.probe, s.energy_kev), geometry.tilt_deg,
                               geometry.tilt_plane_deg)
    energy = im.energy_kev(s.probe, geometry.wavelength_angstrom)
    if s.energy_kev is not None and abs(energy / s.energy_kev - 1) > 1e-3:
        raise NclatticeError(f"--poni '{s.poni}' gives λ = {geometry.wavelength_angstrom:.5g} Å, i.e. {energy:.5g} "
                             f"keV for {s.probe}s, but --energy-kev is {s.energy_kev:g}; drop one of them.")
    return geometry, Probe(s.probe, energy)


def _rings(s: UedImagesSettings, probe: Probe, q_range: tuple[float, float]) -> list[prof.Ring]:
    from ..structio import read_structure

    margin = 2 * s.fwhm_guess_inv_angstrom
    cell = prof.cell_from_atoms(read_structure(s.structure))
    return prof.rings_from_cell(cell, probe, q_range[0] + margin, q_range[1] - margin, s.resolution_inv_angstrom,
                                s.min_ring_intensity)


def _progress(label: str):
    t0 = time.perf_counter()

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r  {label}: frame {done}/{total}, {time.perf_counter() - t0:.0f} s", end=end, file=sys.stderr,
              flush=True)
    return show


# ---------------------------------------------------------------- one pass over the frames
def _pass(src: fr.FrameSource, s: UedImagesSettings, geometry: im.Geometry, mask, dark, q_range, bins,
          label: str, show_progress: bool) -> dict[str, Any]:
    integ = im.build_integrator(geometry, src.shape, mask, q_range, bins, s.pixel_splitting)
    labels = [f.label for f in src.infos]
    t0 = time.perf_counter()
    fp = im.integrate_frames(src.frames(), len(src), integ, labels, dark,
                             _progress(label) if show_progress else None)
    seconds = time.perf_counter() - t0
    window = None if s.norm_q_range_inv_angstrom is None else tuple(s.norm_q_range_inv_angstrom)
    factors = im.normalization_factors(fp.profiles, integ, s.normalize, window, src.monitors)
    profiles = fp.profiles * factors[:, None]
    delays = np.array([f.delay_ps for f in src.infos])
    scores = im.outlier_scores(profiles, delays)
    rejected, limit = im.reject(scores, s.reject_threshold)
    image_sum = fp.image_sum
    bad = list(np.flatnonzero(rejected))
    for _, frame in src.frames(bad):  # the mean image leaves the rejected frames out: read them again
        image_sum = image_sum - (frame if dark is None else frame - dark)
    kept = ~rejected
    avg = im.average_by_delay(profiles[kept], delays[kept])
    return {"integrator": integ, "profiles": profiles, "factors": factors, "scores": scores, "rejected": rejected,
            "limit": limit, "mean_image": image_sum / max(int(kept.sum()), 1), "average": avg,
            "seconds": seconds}


# ---------------------------------------------------------------- the capability
def images(source: Path, out: Path, s: UedImagesSettings, show_progress: bool = True) -> UedImagesOutcome:
    """Frames → profiles.h5 (+ frames.csv, geometry.poni, images_qa.png, images.json); with --structure the
    `ued profiles` analysis (ued.json, peaks.csv and its figures) in the same folder."""
    src = open_source(Path(source), s)
    geometry, probe = geometry_of(s, src.shape)
    mask = None if s.mask is None else fr.read_mask(Path(s.mask), src.shape)
    dark, n_dark = (None, 0) if s.dark is None else fr.read_dark(Path(s.dark), src.shape)
    q_range = tuple(s.q_range_inv_angstrom) if s.q_range_inv_angstrom else im.default_q_range(geometry, src.shape,
                                                                                              mask)
    bins = s.bins or im.default_bins(geometry, q_range)
    delays = np.array([f.delay_ps for f in src.infos])
    rings = None
    if s.structure is not None:
        if not np.any(delays < 0):
            raise NclatticeError("the ring analysis compares every delay with the unpumped pattern, but no frame has "
                                 "a negative delay; record frames before time zero.")
        rings = _rings(s, probe, q_range)
        if len(rings) < 2:
            raise NclatticeError(f"fewer than two rings of '{s.structure}' fall inside Q = {q_range[0]:.3g}.."
                                 f"{q_range[1]:.3g} Å⁻¹; widen --q-range or check the geometry.")
    run = _pass(src, s, geometry, mask, dark, q_range, bins, "integrating", show_progress)
    check = after = check_failed = None
    if rings is not None:
        q_rings = np.array([r.q_inv_angstrom for r in rings])
        labels = [r.label for r in rings]
        try:
            check = check_geometry(run["mean_image"], mask, geometry, q_rings, labels, s.geometry_tolerance)
        except NclatticeError as exc:
            if s.refine_geometry:
                raise
            check_failed = str(exc)
        if s.refine_geometry:
            geometry = check.refined
            run = _pass(src, s, geometry, mask, dark, q_range, bins, "integrating (refined geometry)", show_progress)
            after = check_geometry(run["mean_image"], mask, geometry, q_rings, labels, s.geometry_tolerance)
    payload = _write(Path(source), Path(out), s, src, geometry, probe, mask, dark is not None, n_dark, q_range, run,
                     check, after, check_failed)
    return payload


def _write(source: Path, out: Path, s: UedImagesSettings, src: fr.FrameSource, geometry: im.Geometry, probe: Probe,
           mask, has_dark: bool, n_dark: int, q_range, run: dict, check: GeometryCheck | None,
           after: GeometryCheck | None, check_failed: str | None = None) -> dict[str, Any]:
    avg: im.DelayAverage = run["average"]
    integ: im.RadialIntegrator = run["integrator"]
    existed = {name: (out / name).exists() for name in (*OUTPUTS, "images.json")}
    written = []
    try:
        written.append(_write_h5(out / "profiles.h5", integ.q_inv_angstrom, avg))
        written.append(write_text_atomic(out / "frames.csv", _frames_csv(src, run)))
        with atomic_path(out / "geometry.poni") as tmp:
            geometry.write_poni(tmp, src.shape)
        written.append(out / "geometry.poni")
        analysis = None
        if s.structure is not None:
            from .ued_profiles import profiles as analyze_profiles

            analysis = analyze_profiles(out / "profiles.h5", Path(s.structure), out,
                                        None if s.calibration is None else Path(s.calibration), s.calibration_key,
                                        s.probe, probe.energy_kev, None, None, s.resolution_inv_angstrom,
                                        s.min_ring_intensity, s.fwhm_guess_inv_angstrom, s.knot_spacing_fwhm,
                                        s.q2_max_fit, s.z_threshold, s.plot_delays)
        written.append(save_figure(_plot_qa(src, geometry, mask, run, analysis), out / "images_qa.png"))
    except Exception:
        for path in written:
            if not existed.get(Path(path).name, True):
                Path(path).unlink(missing_ok=True)
        raise
    rejected = [{"frame": src.infos[i].label, "delay_ps": src.infos[i].delay_ps, "scan": src.infos[i].scan,
                 "score": float(run["scores"][i])} for i in np.flatnonzero(run["rejected"])]
    payload = {
        "delays_ps": avg.delays_ps, "frames_per_delay": avg.n_frames, "n_frames": len(src),
        "n_rejected": len(rejected), "rejected": rejected,
        "q_range_inv_angstrom": list(q_range), "bins": int(integ.q_inv_angstrom.size),
        "geometry": geometry.describe(), "probe": probe.describe(),
        "geometry_check": None if check is None else check.to_dict(),
        "geometry_check_skipped": check_failed,
        "geometry_check_after_refinement": None if after is None else after.to_dict(),
        "integration": {"engine": "pyFAI CSR matrix (pixel splitting '" + s.pixel_splitting + "'), one sparse "
                                  "matrix-vector product per frame; solid angle corrected; no polarisation "
                                  "correction", "seconds": run["seconds"],
                        "frames_per_second": len(src) / max(run["seconds"], 1e-9),
                        "pixel_splitting": s.pixel_splitting,
                        "adjacent_bin_correlation": integ.adjacent_bin_correlation()},
        "normalization": {"mode": s.normalize, "q_window_inv_angstrom": s.norm_q_range_inv_angstrom,
                          "factor_range": [float(run["factors"].min()), float(run["factors"].max())]},
        "rejection": {"threshold": s.reject_threshold, "score_limit": run["limit"],
                      "score": "rms over Q of (frame − median of its delay) / robust per-Q scatter; only delays "
                               "with at least 3 frames"},
        "errors": f"standard error of the mean per delay from the scatter of its frames, pooled over delays "
                  f"({avg.dof} degrees of freedom)",
        "dark": {"frames": n_dark} if has_dark else None,
        "inputs": {"source": str(source), "frames": len(src), "shape": list(src.shape),
                   "poni": s.poni, "mask": s.mask, "mask_sha256": None if s.mask is None else file_sha256(s.mask),
                   "dark": s.dark, "structure": s.structure},
        "outputs": [p.name for p in map(Path, written)] + (["ued.json", "peaks.csv"] if analysis else []),
        "provenance": provenance(analysis="detector frames → pyFAI azimuthal integration → radial profiles"),
    }
    if analysis is not None:
        payload["analysis"] = {k: analysis[k] for k in ("delta_msd_angstrom2", "delta_msd_stderr") if k in analysis}
    outcome = UedImagesOutcome.of(payload)
    outcome.to_json(out)
    return outcome


def _write_h5(path: Path, q: np.ndarray, avg: im.DelayAverage) -> Path:
    """The layout `ued profiles` reads: q_inv_angstrom, delays_ps, intensity, error (+ frames per delay)."""
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            h["q_inv_angstrom"] = q
            h["delays_ps"] = avg.delays_ps
            h["intensity"] = avg.intensity
            h["error"] = avg.error
            h["frames_per_delay"] = avg.n_frames
            h.attrs["note"] = "azimuthally integrated by nclattice ued images (pyFAI); error = standard error of " \
                              "the mean from the scatter of repeated frames"
    return path


def _frames_csv(src: fr.FrameSource, run: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["frame", "delay_ps", "scan", "normalization", "outlier_score", "rejected"])
    for i, f in enumerate(src.infos):
        score = run["scores"][i]
        w.writerow([f.label, f"{f.delay_ps:g}", f.scan, f"{run['factors'][i]:.6g}",
                    "" if not np.isfinite(score) else f"{score:.4g}", int(run["rejected"][i])])
    return buf.getvalue()


# ---------------------------------------------------------------- QA figure
def _plot_qa(src, geometry: im.Geometry, mask, run: dict, analysis: dict | None):
    fig, (ax, bx, cx) = pyplot().subplots(1, 3, figsize=(16, 5))
    img = run["mean_image"]
    pos = img[np.isfinite(img) & (img > 0)]
    lo, hi = (np.percentile(pos, [1, 99.8]) if pos.size else (1, 10))
    ax.imshow(np.log10(np.clip(img, max(lo, 1e-3), None)), cmap="gray", vmin=np.log10(max(lo, 1e-3)),
              vmax=np.log10(max(hi, lo * 10)), origin="upper", extent=(0, img.shape[1], img.shape[0], 0))
    if mask is not None:
        overlay = np.zeros((*mask.shape, 4))
        overlay[mask] = (1.0, 0.1, 0.1, 0.45)
        ax.imshow(overlay, origin="upper", extent=(0, img.shape[1], img.shape[0], 0))
    phi = np.linspace(0, 2 * np.pi, 361)
    if analysis is not None:
        for ring in analysis["rings"]:
            r = geometry.ring_radius_px(np.array([ring["q_reference_inv_angstrom"]]))[0]
            ax.plot(geometry.center_x_px + r * np.cos(phi), geometry.center_y_px + r * np.sin(phi), lw=0.6,
                    color="tab:cyan")
    ax.plot([geometry.center_x_px], [geometry.center_y_px], "+", color="tab:orange", ms=10)
    ax.set_xlim(0, img.shape[1]), ax.set_ylim(img.shape[0], 0)
    ax.set_title("mean frame (log), mask red" + (", fitted rings cyan" if analysis else ""), fontsize=9)
    avg: im.DelayAverage = run["average"]
    q = run["integrator"].q_inv_angstrom
    neg = avg.delays_ps < 0
    ref = avg.intensity[neg].mean(0) if neg.any() else avg.intensity[0]
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for k, d in enumerate(avg.delays_ps):
        bx.plot(q, avg.intensity[k] - ref, lw=0.7, color=cmap(k / max(len(avg.delays_ps) - 1, 1)),
                label=f"{d:g} ps" if k in (0, len(avg.delays_ps) - 1) else None)
    bx.set_xlabel("Q (1/Å)"), bx.set_ylabel("I(Q, t) − I(Q, t<0)"), bx.legend(fontsize=8)
    bx.set_title(f"{len(avg.delays_ps)} delays, {int(avg.n_frames.sum())} frames averaged", fontsize=9)
    scores = run["scores"]
    idx = np.arange(scores.size)
    cx.plot(idx, scores, ".", color="tab:blue", label="kept")
    rej = run["rejected"]
    cx.plot(idx[rej], scores[rej], "x", color="tab:red", ms=9, label="rejected")
    if np.isfinite(run["limit"]):
        cx.axhline(run["limit"], color="tab:red", lw=0.8, ls="--")
    for i in idx[rej]:
        cx.annotate(src.infos[i].label, (i, scores[i]), fontsize=7, rotation=20)
    cx.set_xlabel("frame"), cx.set_ylabel("outlier score"), cx.legend(fontsize=8)
    cx.set_title(f"{int(rej.sum())} frame(s) rejected", fontsize=9)
    fig.set_layout_engine("tight")
    return fig


# ---------------------------------------------------------------- entry (settings in, result out)
def run_ued_images(data: Sequence[str | Path] | Inputs, settings: UedImagesSettings, out: str | Path
                   ) -> UedImagesOutcome:
    data = prepared("ued-images", settings, data).data
    return images(Path(data[0]), Path(out), settings)


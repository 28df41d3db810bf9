"""Synthetic UED detector frames from known radial profiles and a known geometry (seeded).

The forward model, independent of pyFAI:
- I(Q, t) = Σ_j A_j pV(Q − Q_j; w, η) exp(−Q_j² (u0 + Δ⟨u²⟩(t))/3) + B(Q): the powder rings of the
  crystal (positions, multiplicities and structure factors at the probe from
  ``tasks.profiles.rings_from_cell``), a static Debye–Waller factor u0, the pump-induced
  Δ⟨u²⟩_3D(t) = plateau·(1 − e^(−t/τ)) for t > 0 (the isotropic law of tasks/ued.py) and a smooth
  background B(Q) = b·exp(−Q/3 Å⁻¹) standing in for inelastic and substrate scattering, constant
  in time (no thermal-diffuse gain);
- each pixel sees I(Q) at its scattering angle 2θ = atan(r/D) (r from the beam centre, pixel
  centres at integer + 0.5, 2×2 sub-pixels averaged), times the solid-angle factor cos³2θ of a
  flat detector at normal incidence, Q = 4π sin θ/λ;
- a beam stop (disk and the rod that holds it) blocks its pixels; counting noise (Poisson) on top
  of a dark frame (pedestal, fixed pattern, Gaussian read noise); integers as a detector writes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .images import Geometry
from .profiles import Ring, pseudo_voigt


@dataclass(frozen=True)
class Scene:
    """Everything a series of frames is rendered from; the defaults are stated illustrative choices."""

    geometry: Geometry
    shape: tuple[int, int]
    rings: tuple[Ring, ...]
    delays_ps: np.ndarray
    plateau_msd_angstrom2: float = 0.006        # 3D Δ⟨u²⟩ at long delays
    rise_ps: float = 5.0
    fwhm_inv_angstrom: float = 0.06
    eta: float = 0.3
    static_msd_angstrom2: float = 0.05          # u0, 3D
    background_fraction: float = 0.3            # B(Q→0) relative to the highest ring peak
    peak_counts: float = 2000.0                 # counts per pixel at the highest ring peak (t < 0)
    beam_stop_radius_px: float = 12.0
    rod_width_px: float = 6.0
    rod_angle_deg: float = 60.0                 # direction of the rod from the centre (0 = +x, 90 = +y)
    dark_pedestal: float = 100.0
    fixed_pattern: float = 5.0                  # rms of the dark's pixel-to-pixel pattern
    read_noise: float = 3.0
    seed: int = 0
    bad_frames: dict = field(default_factory=dict)  # frame index -> "dropout" | "streak"

    def delta_msd(self) -> np.ndarray:
        t = np.clip(np.asarray(self.delays_ps, float), 0.0, None)
        return self.plateau_msd_angstrom2 * -np.expm1(-t / self.rise_ps)


def radial_intensity(scene: Scene, q: np.ndarray, delta_msd_angstrom2: float) -> np.ndarray:
    """I(Q) of one delay in units where the highest unpumped ring peak is 1 (before the count scale)."""
    qj = np.array([r.q_inv_angstrom for r in scene.rings])
    aj = np.array([r.intensity for r in scene.rings]) * np.exp(-qj**2 * scene.static_msd_angstrom2 / 3)
    shape = pseudo_voigt(q, qj, scene.fwhm_inv_angstrom, scene.eta)
    peak = (aj[:, None] * pseudo_voigt(qj, qj, scene.fwhm_inv_angstrom, scene.eta)).max()
    rings = (aj * np.exp(-qj**2 * delta_msd_angstrom2 / 3)) @ shape / peak
    return rings + scene.background_fraction * np.exp(-q / 3.0)


def pixel_map(geometry: Geometry, shape: tuple[int, int], oversample: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Q (Å⁻¹) and cos³2θ at oversample² sub-pixel points of every pixel: arrays (n_sub, rows, cols)."""
    offsets = (np.arange(oversample) + 0.5) / oversample
    rows, cols = np.arange(shape[0]), np.arange(shape[1])
    qs, ws = [], []
    for oy in offsets:
        for ox in offsets:
            dx = (cols[None, :] + ox - geometry.center_x_px) * geometry.pixel_x_um
            dy = (rows[:, None] + oy - geometry.center_y_px) * geometry.pixel_y_um
            two_theta = np.arctan(np.hypot(dx, dy) / (geometry.distance_mm * 1e3))
            qs.append(4 * np.pi / geometry.wavelength_angstrom * np.sin(two_theta / 2))
            ws.append(np.cos(two_theta) ** 3)
    return np.array(qs), np.array(ws)


def beam_stop(scene: Scene, margin_px: float = 0.0) -> np.ndarray:
    """Pixels behind the beam stop disk and its rod (bool); ``margin_px`` widens both (for the mask)."""
    g = scene.geometry
    y, x = np.mgrid[0:scene.shape[0], 0:scene.shape[1]] + 0.5
    dx, dy = x - g.center_x_px, y - g.center_y_px
    disk = np.hypot(dx, dy) <= scene.beam_stop_radius_px + margin_px
    a = np.deg2rad(scene.rod_angle_deg)
    along = dx * np.cos(a) + dy * np.sin(a)
    across = -dx * np.sin(a) + dy * np.cos(a)
    rod = (along >= 0) & (np.abs(across) <= scene.rod_width_px / 2 + margin_px)
    return disk | rod


def dark_frame(scene: Scene) -> np.ndarray:
    """The noise-free dark: pedestal plus a fixed pattern (seeded)."""
    rng = np.random.default_rng([scene.seed, 1])
    return scene.dark_pedestal + scene.fixed_pattern * rng.standard_normal(scene.shape)


def clean_frames(scene: Scene, oversample: int = 2) -> Iterator[np.ndarray]:
    """Expected counts per pixel for each delay (no noise, no dark), the beam stop applied."""
    q_sub, w_sub = pixel_map(scene.geometry, scene.shape, oversample)
    grid = np.linspace(0.0, q_sub.max() * 1.001, 20001)
    blocked = beam_stop(scene)
    for msd in scene.delta_msd():
        counts = scene.peak_counts * (np.interp(q_sub, grid, radial_intensity(scene, grid, msd)) * w_sub).mean(0)
        counts[blocked] = 0.0
        yield counts


def render(scene: Scene, repeats: int = 1, oversample: int = 2) -> Iterator[tuple[int, int, np.ndarray]]:
    """(scan, delay index, frame) for every scan and delay: Poisson counts + dark + read noise, uint16.

    Frames are numbered scan-major (frame = scan · n_delays + delay index); ``scene.bad_frames``
    spoils chosen frames: 'dropout' (the beam at 40 %) or 'streak' (a bright band across the frame).
    """
    rng = np.random.default_rng(scene.seed)
    dark = dark_frame(scene)
    clean = list(clean_frames(scene, oversample))  # one expected image per delay (small series only)
    n = len(clean)
    for s in range(repeats):
        for k, expected in enumerate(clean):
            frame_no = s * n + k
            kind = scene.bad_frames.get(frame_no)
            lam = expected * (0.4 if kind == "dropout" else 1.0)
            img = rng.poisson(lam) + dark + scene.read_noise * rng.standard_normal(scene.shape)
            if kind == "streak":
                img[scene.shape[0] // 3: scene.shape[0] // 3 + 4, :] += 3 * scene.peak_counts
            yield s, k, np.clip(np.rint(img), 0, 65535).astype(np.uint16)


# ---------------------------------------------------------------- writing series to disk
def delay_name(delay_ps: float) -> str:
    return f"delay_{delay_ps:+09.3f}ps.tif"


def write_tiff_folder(scene: Scene, folder: Path, scans: int, compress: bool = True) -> list[Path]:
    """scan_01/delay_+0005.000ps.tif ... (pattern 'delay_{delay}ps.tif'); returns the files."""
    import tifffile

    files = []
    for s, k, img in render(scene, scans):
        path = Path(folder) / f"scan_{s + 1:02d}" / delay_name(float(scene.delays_ps[k]))
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, img, compression="zlib" if compress else None, predictor=compress)
        files.append(path)
    return files


def write_hdf5_stack(scene: Scene, path: Path, scans: int) -> None:
    """One HDF5 file: 'images' (frames, y, x), 'delays_ps', 'scans', frames in acquisition order."""
    import h5py

    n = len(scene.delays_ps) * scans
    with h5py.File(path, "w") as h:
        stack = h.create_dataset("images", (n, *scene.shape), dtype="uint16", chunks=(1, *scene.shape),
                                 compression="gzip", compression_opts=1)
        delays, scan_of = np.empty(n), np.empty(n, int)
        for i, (s, k, img) in enumerate(render(scene, scans)):
            stack[i] = img
            delays[i], scan_of[i] = scene.delays_ps[k], s + 1
        h["delays_ps"] = delays
        h["scans"] = scan_of


def write_dark(scene: Scene, path: Path, n: int = 4) -> None:
    """Mean of ``n`` dark exposures (fixed pattern plus read noise) as a float32 TIFF."""
    import tifffile

    rng = np.random.default_rng([scene.seed, 2])
    mean = np.mean([dark_frame(scene) + scene.read_noise * rng.standard_normal(scene.shape) for _ in range(n)], 0)
    tifffile.imwrite(path, mean.astype(np.float32), compression="zlib")


def write_mask(scene: Scene, path: Path, margin_px: float = 2.0) -> None:
    import tifffile

    tifffile.imwrite(path, beam_stop(scene, margin_px).astype(np.uint8), compression="zlib")


# ---------------------------------------------------------------- presets
def mev_geometry(shape: tuple[int, int] = (512, 512), energy_kev: float = 3000.0,
                 center_px: tuple[float, float] | None = None) -> Geometry:
    """A MeV UED camera (illustrative): 1.9 m to a 15.4 mm wide detector (30 µm pixels at 512 px), Q to ~7 Å⁻¹."""
    from .images import wavelength_angstrom

    pixel = 30.0 * 512 / shape[1]
    cx, cy = center_px if center_px is not None else (shape[1] / 2 + 3.3, shape[0] / 2 - 5.6)
    return Geometry(cx, cy, 1900.0, pixel, pixel, wavelength_angstrom("electron", energy_kev))


def kev_geometry(shape: tuple[int, int] = (512, 512), energy_kev: float = 90.0,
                 center_px: tuple[float, float] | None = None) -> Geometry:
    """A keV UED camera (illustrative): 90 keV electrons, 290 mm to a 25.6 mm wide detector, Q to ~7 Å⁻¹."""
    from .images import wavelength_angstrom

    pixel = 50.0 * 512 / shape[1]
    cx, cy = center_px if center_px is not None else (shape[1] * 0.42, shape[0] * 0.55)
    return Geometry(cx, cy, 290.0, pixel, pixel, wavelength_angstrom("electron", energy_kev))


def scene_for(atoms, geometry: Geometry, shape: tuple[int, int], delays_ps, probe, **options) -> Scene:
    """A scene with the rings of a crystal built by nclattice (every reflection family up to the corner's Q)."""
    from .profiles import cell_from_atoms, rings_from_cell

    q_corner = float(pixel_map(geometry, shape, 1)[0].max())
    rings = rings_from_cell(cell_from_atoms(atoms), probe, 0.3, q_corner * 1.02, 1e-3, 1e-3)
    return Scene(geometry, shape, tuple(rings), np.asarray(delays_ps, float), **options)

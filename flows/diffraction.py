"""Diffraction of one structure and polaron differential diffraction: composition of the
diffraction and displacement-model kernels (tasks/diffraction.py, tasks/models.py), files, figures.

``run_diffract`` and ``run_polaron_diffraction`` take the settings models (command line,
campaigns, Prefect wrappers in flows/deployments.py); ``compute_*`` take the plain physics settings.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import NclatticeError
from ..provenance import input_key, provenance
from ..results import pyplot, save_arrays, save_figure
from ..structio import read_structure
from ..tasks import diffraction as dif
from ..tasks import models
from ..tasks.alignment import displacement_field
from ..tasks.beams import DEFAULT_HKL
from ..tasks.scattering import Probe, nearby_edges
from .outcomes import SCHEMA_VERSION, DiffractionOutcome, PeakShiftsOutcome
from .registry import Inputs, prepared
from .settings import DiffractSettings, PolaronDiffractionSettings

POLARON_MODELS = ("dft", "orthorhombic", "random-hole", "localized")


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class SizeSpec:
    """Crystal edge lengths: a truncated Gamma distribution or fixed values (nm)."""

    kind: str = "gamma"
    gamma: dif.GammaSizes = field(default_factory=dif.GammaSizes)
    values_nm: tuple[float, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "gamma":
            return self.gamma.sample(rng, n)
        return np.resize(np.asarray(self.values_nm, float), n)


def parse_sizes(text: str) -> SizeSpec:
    """'gamma:shape=2,mean=5.4,min=3,max=15' or 'fixed:4.9' or 'fixed:4,5,6' (nm)."""
    kind, _, rest = text.partition(":")
    try:
        if kind == "gamma":
            keys = {"shape": "shape", "mean": "mean_nm", "min": "min_nm", "max": "max_nm"}
            given = dict(item.split("=") for item in rest.split(",") if item)
            unknown = set(given) - set(keys)
            if unknown:
                raise NclatticeError(f"unknown gamma size parameter(s) {', '.join(sorted(unknown))}; "
                                     "use shape, mean, min and max.")
            return SizeSpec("gamma", dif.GammaSizes(**{keys[k]: float(v) for k, v in given.items()}))
        if kind == "fixed":
            values = tuple(float(v) for v in rest.split(","))
            if not values or min(values) <= 0:
                raise ValueError
            return SizeSpec("fixed", values_nm=values)
    except ValueError:
        pass
    raise NclatticeError(f"cannot read sizes '{text}'; write gamma:shape=2,mean=5.4,min=3,max=15 "
                         "or fixed:4.9 (edge lengths in nm).")


@dataclass(frozen=True)
class PolaronSettings:
    model: str = "random-hole"
    hole_bias: str = "surface"
    k_ev_per_angstrom2: tuple[float, float, float] = (20.0, 20.0, 5.0)  # Cs, Pb, Br
    electron_field: str = "paper"
    sizes: SizeSpec = field(default_factory=SizeSpec)
    samples: int = 32
    seed: int = 0
    p1: float = 1.0
    p2: float = 0.0
    probe: Probe = field(default_factory=Probe)
    hkl: tuple[str, ...] = DEFAULT_HKL
    half_width_inv_angstrom: float = 0.3
    points: int = 25
    lattice_constant_angstrom: float = 5.90
    exponent: float = 5.0
    t_center: float = 0.8
    amplitude_angstrom: float = 0.15

    def boxes(self) -> list[dif.QBox]:
        return [dif.box_around(dif.parse_hkl(h), self.lattice_constant_angstrom,
                               self.half_width_inv_angstrom, self.points) for h in self.hkl]

    def hole_model(self) -> models.HoleModel:
        k = dict(zip(("Cs", "Pb", "Br"), self.k_ev_per_angstrom2, strict=True))
        return models.HoleModel(k, electron_field=self.electron_field)


# ---------------------------------------------------------------- ensemble members per model


def _superellipsoid(size_nm: float, s: PolaronSettings, phase: str = "cubic") -> Atoms:
    from ..structures import build_cspbbr3_superellipsoid  # scipy.spatial (~0.2 s): not for diffract

    return build_cspbbr3_superellipsoid(size_nm, s.exponent, phase=phase,
                                        lattice_constant=s.lattice_constant_angstrom)


def polaron_members(s: PolaronSettings, rng: np.random.Generator, pair: tuple[Atoms, Atoms] | None = None,
                    log: list[dict] | None = None) -> Iterator[dif.Member]:
    """Dark positions, symbols and one excitation's displacement, sample by sample."""
    if s.model == "dft":
        singlet, triplet = pair  # type: ignore[misc]
        yield singlet.positions, singlet.get_chemical_symbols(), \
            displacement_field(singlet, triplet)[1]
        return
    for size in s.sizes.draw(rng, s.samples):
        record: dict = {"size_nm": float(size)}
        if s.model == "orthorhombic":
            cubic, ortho = _superellipsoid(size, s), _superellipsoid(size, s, "orthorhombic")
            dark = ortho.positions
            displacement = models.orthorhombic_t_model(cubic, ortho, s.t_center) - dark
            atoms = ortho
        else:
            atoms = _superellipsoid(size, s)
            dark = atoms.positions
            if s.model == "random-hole":
                new, hole = models.random_hole_displacement(atoms, size * 10, rng, s.hole_bias,
                                                            s.hole_model(), s.exponent)
                record["hole_angstrom"] = hole.tolist()
            else:
                new = models.localized_surface_distortion(atoms, rng, s.amplitude_angstrom)
            displacement = new - dark
        record["atoms"] = len(atoms)
        if log is not None:
            log.append(record)
        yield dark, atoms.get_chemical_symbols(), displacement


# ---------------------------------------------------------------- compositions


def _progress(done: int, total: int, t0: float) -> None:
    print(f"\r  {done}/{total} crystals, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)


def compute_polaron_diffraction(s: PolaronSettings, out: Path, pair: tuple[Atoms, Atoms] | None = None,
                                show_progress: bool = True) -> DiffractionOutcome:
    """Dark and pumped ensemble intensities around each hkl, ΔI, peak shifts, files and figure."""
    rng = np.random.default_rng(s.seed)
    boxes = s.boxes()
    log: list[dict] = []
    total = 1 if s.model == "dft" else s.samples
    t0 = time.perf_counter()
    ens = dif.ensemble_intensity(polaron_members(s, rng, pair, log), boxes, s.probe, s.p1, s.p2,
                                 progress=(lambda n: _progress(n, total, t0)) if show_progress else None)
    if show_progress:
        print(file=sys.stderr)
    dark, pumped = ens.mean()
    shifts = ens.peak_shifts()
    settings = {**asdict(s), "probe": s.probe.describe()}
    prov = provenance(seed=s.seed, inputs_key=input_key("polaron-diffraction", settings,
                                                        *(pair if pair is not None else ())))
    arrays = {}
    for b, d, p in zip(boxes, dark, pumped, strict=True):
        qx, qy, qz = b.axes()
        arrays.update({f"dark_{b.label}": d, f"pumped_{b.label}": p, f"delta_{b.label}": p - d,
                       f"qx_{b.label}": qx, f"qy_{b.label}": qy, f"qz_{b.label}": qz})
    arrays["sizes_nm"] = np.array([r["size_nm"] for r in log]) if log else np.zeros(0)
    if any("hole_angstrom" in r for r in log):
        arrays["holes_angstrom"] = np.array([r["hole_angstrom"] for r in log])
    save_arrays(out / "delta_intensity.npz", **arrays)
    PeakShiftsOutcome.of({**shifts, "provenance": prov}).to_json(out)
    plot_delta_slices(boxes, dark, pumped, out / "delta_slices.png",
                      title=f"{s.model} model, {ens.samples} crystal(s)")
    summary = {"schema_version": SCHEMA_VERSION, "model": s.model, "crystals": ens.samples, "settings": settings,
               "peak_shifts": {h: {k: v[k] for k in ("shift_inv_angstrom", "integrated_change", "warning")}
                               for h, v in shifts.items()},
               "warnings": [v["warning"] for v in shifts.values() if v["warning"]],
               "mean_size_nm": float(arrays["sizes_nm"].mean()) if log else None,
               "files": ["delta_intensity.npz", "peak_shifts.json", "delta_slices.png"],
               "wall_s": round(time.perf_counter() - t0, 2), "provenance": prov}
    outcome = DiffractionOutcome.of(summary)
    outcome.to_json(out)
    return outcome


def compute_diffraction(atoms: Atoms, probe: Probe, out: Path, powder: dict | None = None,
                        grid: dict | None = None, method: str = "nufft") -> DiffractionOutcome:
    """Powder (Debye, S, F, G) and/or 3D intensity of one structure; files and figures."""
    t0 = time.perf_counter()
    symbols = atoms.get_chemical_symbols()
    summary: dict = {"schema_version": SCHEMA_VERSION, "atoms": len(atoms),
                     "formula": atoms.get_chemical_formula(mode="metal"),
                     "probe": probe.describe(), "files": []}
    edges = nearby_edges(symbols, probe.energy_kev) if probe.kind == "xray" else []
    if edges:
        summary["absorption_edges_within_1_kev"] = edges
    if powder is not None:
        q = np.linspace(powder["q_min"], powder["q_max"], powder["q_points"])
        r = np.linspace(0.01, powder["r_max"], int(powder["r_max"] / 0.01))
        intensity = dif.debye_intensity(atoms.positions, symbols, probe, q, method=powder.get("method", "auto"))
        species, idx = dif.species_index(symbols)
        pat = dif.powder_pattern(q, intensity, species, np.bincount(idx), probe, r)
        save_arrays(out / "powder.npz", q_inv_angstrom=q, intensity=intensity, s_of_q=pat.structure_factor,
                    f_of_q=pat.reduced_structure_factor, r_angstrom=r, g_of_r=pat.pdf)
        plot_powder(pat, out / "powder.png")
        summary["files"] += ["powder.npz", "powder.png"]
        summary["powder"] = {"q_range_inv_angstrom": [powder["q_min"], powder["q_max"]],
                             "q_of_max_intensity": float(q[np.argmax(intensity * (q > 0.8))])}
    if grid is not None:
        arrays = {}
        for b in grid["boxes"]:
            i3 = dif.kinematic_intensity(atoms.positions, symbols, probe, box=b, method=method)
            qx, qy, qz = b.axes()
            arrays.update({f"intensity_{b.label}": i3, f"qx_{b.label}": qx, f"qy_{b.label}": qy,
                           f"qz_{b.label}": qz})
        save_arrays(out / "intensity.npz", **arrays)
        plot_intensity_slices(grid["boxes"], [arrays[f"intensity_{b.label}"] for b in grid["boxes"]],
                              out / "intensity_slices.png")
        summary["files"] += ["intensity.npz", "intensity_slices.png"]
        summary["grid"] = [b.describe() for b in grid["boxes"]]
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    summary["provenance"] = provenance(inputs_key=input_key("diffract", atoms, probe, powder or {},
                                                            [b.describe() for b in (grid or {}).get("boxes", [])]))
    outcome = DiffractionOutcome.of(summary)
    outcome.to_json(out)
    return outcome


# ---------------------------------------------------------------- figures


def _slice_axes(box: dif.QBox) -> tuple[int, int, int]:
    """(normal, horizontal, vertical) axes of the slice shown through a box: normal to z unless
    the peak lies on the z axis (then normal to x), as in the paper's Fig. 3b."""
    if box.flat_axis is not None:
        normal = box.flat_axis
    else:
        g = np.abs(box.center_inv_angstrom)
        normal = 0 if g[0] < 1e-9 and g[1] < 1e-9 else 2
    h, v = [a for a in range(3) if a != normal]
    return normal, h, v


def _central_slice(box: dif.QBox, data: np.ndarray) -> tuple[np.ndarray, int, int]:
    normal, h, v = _slice_axes(box)
    return np.take(data, data.shape[normal] // 2, axis=normal), h, v


def plot_delta_slices(boxes, dark, pumped, path: Path, title: str = "") -> Path:
    plt = pyplot()

    fig, axes = plt.subplots(1, len(boxes), figsize=(3.3 * len(boxes), 3.4), squeeze=False)
    for ax, b, d, p in zip(axes[0], boxes, dark, pumped, strict=True):
        sl, h, v = _central_slice(b, p - d)
        sl = sl / d.max()
        q = b.axes()
        lim = float(np.abs(sl).max()) or 1.0
        im = ax.pcolormesh(q[h], q[v], sl.T, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
        c = np.asarray(b.center_inv_angstrom)
        to_origin = -np.array([c[h], c[v]])
        if np.linalg.norm(to_origin) > 0:  # arrow towards q = 0, as in the paper's figures
            arrow = 0.6 * b.half_width_inv_angstrom * to_origin / np.linalg.norm(to_origin)
            ax.annotate("", xy=(c[h] + arrow[0], c[v] + arrow[1]), xytext=(c[h], c[v]),
                        arrowprops={"arrowstyle": "->", "color": "k", "lw": 1.2})
        ax.set_title(f"({b.label})  ΔI / I_max")
        ax.set_xlabel(f"q_{'xyz'[h]} (Å⁻¹)")
        ax.set_ylabel(f"q_{'xyz'[v]} (Å⁻¹)")
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax, shrink=0.8, format="%.1e")
    if title:
        fig.suptitle(title + " (red: more intensity when pumped; arrows point to q = 0)", fontsize=9)
    fig.set_layout_engine("tight")
    return save_figure(fig, path)


def plot_intensity_slices(boxes, intensities, path: Path) -> Path:
    plt = pyplot()
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(1, len(boxes), figsize=(3.4 * len(boxes), 3.4), squeeze=False)
    for ax, b, i3 in zip(axes[0], boxes, intensities, strict=True):
        sl, h, v = _central_slice(b, i3)
        q = b.axes()
        floor = max(sl.max() * 1e-6, 1e-30)
        im = ax.pcolormesh(q[h], q[v], np.maximum(sl, floor).T, norm=LogNorm(vmin=floor, vmax=sl.max()),
                           cmap="viridis", shading="auto")
        ax.set_title(f"I(q) {b.label}".strip())
        ax.set_xlabel(f"q_{'xyz'[h]} (Å⁻¹)")
        ax.set_ylabel(f"q_{'xyz'[v]} (Å⁻¹)")
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.set_layout_engine("tight")
    return save_figure(fig, path)


def plot_powder(pat: dif.PowderPattern, path: Path) -> Path:
    plt = pyplot()

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(pat.q_inv_angstrom, pat.reduced_structure_factor, lw=1)
    a1.set_xlabel("Q (Å⁻¹)")
    a1.set_ylabel("F(Q) = Q[S(Q) − 1] (Å⁻¹)")
    a2.plot(pat.r_angstrom, pat.pdf, lw=1)
    a2.set_xlabel("r (Å)")
    a2.set_ylabel("G(r) (Å⁻²)")
    fig.set_layout_engine("tight")
    return save_figure(fig, path)


# ---------------------------------------------------------------- entries (settings in, result out)


def _probe(s: DiffractSettings | PolaronDiffractionSettings) -> Probe:
    return Probe(s.probe, float(s.energy()), s.anomalous)


def polaron_settings(s: PolaronDiffractionSettings) -> PolaronSettings:
    """The physics settings of a polaron-diffraction request (validated before any work)."""
    ps = PolaronSettings(model=s.model, hole_bias=s.hole_bias, k_ev_per_angstrom2=(s.k_cs, s.k_pb, s.k_br),
                         electron_field=s.electron_field, sizes=parse_sizes(s.sizes), samples=s.samples,
                         seed=s.seed, p1=s.p1, p2=s.p2, probe=_probe(s), hkl=tuple(s.hkl),
                         half_width_inv_angstrom=s.half_width_inv_angstrom, points=s.points,
                         lattice_constant_angstrom=s.lattice_constant_angstrom or 5.90, t_center=s.t_center,
                         amplitude_angstrom=s.amplitude_angstrom)
    ps.hole_model()  # validates the restoring constants
    dif.occupation_weighted(np.zeros(1), np.zeros(1), np.zeros(1), ps.p1, ps.p2)
    return ps


def relaxed_pair(spin_dir: str | Path) -> tuple[Atoms, Atoms]:
    """singlet.extxyz and triplet.extxyz of a spin-relax output directory, checked for pairing."""
    d = Path(spin_dir)
    pair = (read_structure(d / "singlet.extxyz"), read_structure(d / "triplet.extxyz"))
    displacement_field(*pair)  # refuses a pair that does not list the same atoms
    return pair


def run_polaron_diffraction(settings: PolaronDiffractionSettings, out: str | Path,
                            show_progress: bool = True) -> DiffractionOutcome:
    ps = polaron_settings(settings)
    pair = relaxed_pair(settings.spin_dir) if settings.model == "dft" else None
    return compute_polaron_diffraction(ps, Path(out), pair, show_progress=show_progress)


def grid_boxes(s: DiffractSettings, atoms: Atoms) -> list[dif.QBox]:
    if s.grid == "box":
        cell = dif.crystal_cell(atoms.info, s.lattice_constant_angstrom)  # hexagonal a and c, or cubic a
        return [dif.box_around(dif.parse_hkl(h), cell, s.half_width_inv_angstrom, s.points) for h in s.hkl]
    flat = 2 if s.grid == "slice" else None
    return [dif.QBox((0.0, 0.0, 0.0), s.q_max_inv_angstrom, s.points, flat, label=s.grid)]


def run_diffract(structure: str | Path | Inputs, settings: DiffractSettings, out: str | Path
                 ) -> DiffractionOutcome:
    s = settings
    probe = _probe(s)
    atoms = prepared("diffract", s, structure).atoms
    boxes = grid_boxes(s, atoms) if s.grid else None
    for sym in set(atoms.get_chemical_symbols()):
        probe.factor(sym, np.zeros(1))  # an unknown element fails here, before any output
    q_min, q_max = s.q_range_inv_angstrom
    powder = {"q_min": q_min, "q_max": q_max, "q_points": s.q_points, "r_max": s.r_max_angstrom,
              "method": s.powder_method} if s.powder else None
    return compute_diffraction(atoms, probe, Path(out), powder, {"boxes": boxes} if boxes else None, s.method)

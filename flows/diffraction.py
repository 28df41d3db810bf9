"""`nclattice diffract` and `nclattice polaron-diffraction`: composition of the diffraction and
displacement-model kernels (tasks/diffraction.py, tasks/models.py), files and figures.

Both are quick analyses (seconds to minutes), so the command line calls the composition
functions directly; ``diffraction_flow`` and ``polaron_diffraction_flow`` are the same
compositions as Prefect flows for campaigns and deployments (created on first access).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from ..errors import NclatticeError
from ..provenance import input_key, provenance
from ..results import pyplot, save_arrays, save_figure, write_json
from ..structio import read_structure
from ..structures import build_cspbbr3_superellipsoid
from ..tasks import diffraction as dif
from ..tasks import models
from ..tasks.scattering import DEFAULT_ENERGY_KEV, Probe, nearby_edges

POLARON_MODELS = ("dft", "orthorhombic", "random-hole", "localized")
DEFAULT_HKL = ("200", "110", "111", "400")


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
    return build_cspbbr3_superellipsoid(size_nm, s.exponent, phase=phase,
                                        lattice_constant=s.lattice_constant_angstrom)


def polaron_members(s: PolaronSettings, rng: np.random.Generator, pair: tuple[Atoms, Atoms] | None = None,
                    log: list[dict] | None = None) -> Iterator[dif.Member]:
    """Dark positions, symbols and one excitation's displacement, sample by sample."""
    if s.model == "dft":
        singlet, triplet = pair  # type: ignore[misc]
        yield singlet.positions, singlet.get_chemical_symbols(), \
            models.displacement_from_relaxations(singlet, triplet)
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
                                show_progress: bool = True) -> dict:
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
    write_json(out / "peak_shifts.json", {**shifts, "provenance": prov})
    plot_delta_slices(boxes, dark, pumped, out / "delta_slices.png",
                      title=f"{s.model} model, {ens.samples} crystal(s)")
    summary = {"model": s.model, "crystals": ens.samples, "settings": settings,
               "peak_shifts": {h: {k: v[k] for k in ("shift_inv_angstrom", "integrated_change", "warning")}
                               for h, v in shifts.items()},
               "warnings": [v["warning"] for v in shifts.values() if v["warning"]],
               "mean_size_nm": float(arrays["sizes_nm"].mean()) if log else None,
               "files": ["delta_intensity.npz", "peak_shifts.json", "delta_slices.png"],
               "wall_s": round(time.perf_counter() - t0, 2), "provenance": prov}
    write_json(out / "result.json", summary)
    return summary


def compute_diffraction(atoms: Atoms, probe: Probe, out: Path, powder: dict | None = None,
                        grid: dict | None = None, method: str = "nufft") -> dict:
    """Powder (Debye, S, F, G) and/or 3D intensity of one structure; files and figures."""
    t0 = time.perf_counter()
    symbols = atoms.get_chemical_symbols()
    summary: dict = {"atoms": len(atoms), "formula": atoms.get_chemical_formula(mode="metal"),
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
    write_json(out / "result.json", summary)
    return summary


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


# ---------------------------------------------------------------- command line


def _probe(args: argparse.Namespace) -> Probe:
    energy = args.energy_kev if args.energy_kev is not None else DEFAULT_ENERGY_KEV[args.probe]
    return Probe(args.probe, float(energy), bool(getattr(args, "anomalous", False)))


def _add_probe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--probe", choices=("xray", "electron"), default="xray", help="X-rays or electrons")
    p.add_argument("--energy-kev", type=float,
                   help="photon or beam energy in keV (default 13.6 for X-rays, 3700 for electrons)")
    p.add_argument("--anomalous", action="store_true",
                   help="add Chantler f', f'' (X-rays; unreliable next to absorption edges)")
    p.add_argument("--hkl", nargs="+", default=list(DEFAULT_HKL), help="peaks, e.g. 200 110 111 400")
    p.add_argument("--half-width", type=float, default=0.3, help="box half width around each peak, Å⁻¹")
    p.add_argument("--points", type=int, default=25, help="grid points per axis of each box (odd)")
    p.add_argument("--lattice-constant", type=float,
                   help="lattice constant a in Å for hkl boxes (default: the structure's a, and c)")
    p.add_argument("--out", type=Path, required=True, help="output directory")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diffract", help="powder and 3D kinematic diffraction of one structure",
                       description="Kinematic diffraction of a structure file: the Debye powder pattern "
                                   "with S(Q), F(Q), G(r) (--powder) and/or the 3D intensity on boxes around "
                                   "hkl, a whole grid or a slice through q = 0 (--grid).")
    p.add_argument("structure", type=Path, help="structure file (.extxyz or .data)")
    _add_probe_options(p)
    p.add_argument("--powder", action="store_true", help="Debye powder pattern, S(Q), F(Q), G(r)")
    p.add_argument("--q-range", type=float, nargs=2, default=(0.3, 12.0), metavar=("QMIN", "QMAX"),
                   help="powder Q range in Å⁻¹")
    p.add_argument("--q-points", type=int, default=600, help="powder Q points")
    p.add_argument("--r-max", type=float, default=30.0, help="largest r of G(r) in Å")
    p.add_argument("--powder-method", choices=dif.POWDER_METHODS, default="auto",
                   help="powder route: exact pair histogram, NUFFT orientational average (no N² term), "
                        "the cheaper of the two (auto), or the plain double sum")
    p.add_argument("--grid", choices=("box", "whole", "slice"),
                   help="3D intensity: boxes around --hkl, a cube up to --q-max, or the qz = 0 plane")
    p.add_argument("--q-max", type=float, default=3.0, help="half width of the whole grid / slice, Å⁻¹")
    p.add_argument("--method", choices=("nufft", "direct"), default="nufft", help="3D intensity route")
    p.set_defaults(func=run_diffract)

    q = sub.add_parser("polaron-diffraction", help="model ΔI around Bragg peaks for a polaron displacement model",
                       description="Differential diffraction (pumped − dark) of CsPbBr3 nanocrystal ensembles "
                                   "for a displacement model, with the peak shift of each hkl along q "
                                   "(negative = inward) and the change of its integrated intensity.")
    q.add_argument("--model", choices=POLARON_MODELS, required=True, help="displacement-field model")
    q.add_argument("--hole-bias", choices=models.HOLE_BIASES, default="surface",
                   help="random-hole: hole positions (surface = the paper's l5-norm bias)")
    q.add_argument("--k-cs", type=float, default=20.0, help="restoring constant of Cs, eV/Å²")
    q.add_argument("--k-pb", type=float, default=20.0, help="restoring constant of Pb, eV/Å²")
    q.add_argument("--k-br", type=float, default=5.0, help="restoring constant of Br, eV/Å²")
    q.add_argument("--electron-field", choices=("paper", "sphere"), default="paper",
                   help="electron sphere field: -r/(L/2)^3 at every atom (paper) or exact outside the sphere")
    q.add_argument("--sizes", default="gamma:shape=2,mean=5.4,min=3,max=15",
                   help="edge lengths in nm: gamma:shape=..,mean=..,min=..,max=.. or fixed:4.9[,5.5]")
    q.add_argument("--samples", type=int, default=32, help="crystals in the ensemble (one hole each)")
    q.add_argument("--seed", type=int, default=0, help="random seed")
    q.add_argument("--p1", type=float, default=1.0, help="fraction of crystals with one exciton")
    q.add_argument("--p2", type=float, default=0.0, help="fraction with two (twice the displacement)")
    q.add_argument("--t-center", type=float, default=0.8, help="orthorhombic: t at the centre")
    q.add_argument("--amplitude", type=float, default=0.15, help="localized: displacement in Å")
    q.add_argument("--spin-dir", type=Path,
                   help="dft: directory with singlet.extxyz and triplet.extxyz (nclattice spin-relax)")
    _add_probe_options(q)
    q.set_defaults(func=run_polaron)


def _check_common(args: argparse.Namespace) -> None:
    if args.points < 3 or args.points % 2 == 0:
        raise NclatticeError(f"--points must be an odd number of at least 3, got {args.points}.")
    if not args.half_width > 0:
        raise NclatticeError("--half-width must be a positive number of Å⁻¹.")
    for h in args.hkl:
        if not any(dif.parse_hkl(h)):
            raise NclatticeError("--hkl 000 is the forward beam, not a Bragg peak; pick e.g. 200.")


def run_polaron(args: argparse.Namespace) -> int:
    _check_common(args)
    if args.samples < 1:
        raise NclatticeError(f"--samples must be at least 1, got {args.samples}.")
    pair = None
    if args.model == "dft":
        if args.spin_dir is None:
            raise NclatticeError("the dft model needs --spin-dir DIR holding singlet.extxyz and triplet.extxyz.")
        pair = (read_structure(args.spin_dir / "singlet.extxyz"), read_structure(args.spin_dir / "triplet.extxyz"))
    elif args.spin_dir is not None:
        raise NclatticeError("--spin-dir applies to --model dft only.")
    s = PolaronSettings(model=args.model, hole_bias=args.hole_bias, k_ev_per_angstrom2=(args.k_cs, args.k_pb,
                        args.k_br), electron_field=args.electron_field, sizes=parse_sizes(args.sizes),
                        samples=args.samples, seed=args.seed, p1=args.p1, p2=args.p2, probe=_probe(args),
                        hkl=tuple(args.hkl), half_width_inv_angstrom=args.half_width, points=args.points,
                        lattice_constant_angstrom=args.lattice_constant or 5.90, t_center=args.t_center,
                        amplitude_angstrom=args.amplitude)
    s.hole_model()  # validates the restoring constants before any work
    dif.occupation_weighted(np.zeros(1), np.zeros(1), np.zeros(1), s.p1, s.p2)
    if pair is not None:
        models.displacement_from_relaxations(*pair)
    if not 0 <= s.t_center <= 1:
        raise NclatticeError(f"--t-center must lie between 0 and 1, got {s.t_center}.")
    summary = compute_polaron_diffraction(s, args.out, pair)
    print(f"{s.model} model, {summary['crystals']} crystal(s), {s.probe.kind} {s.probe.energy_kev:g} keV")
    print(f"{'hkl':>5} {'shift (1/Å)':>13} {'direction':>9} {'ΔI_int/I_int':>13}")
    for h, v in summary["peak_shifts"].items():
        d = "inward" if v["shift_inv_angstrom"] < 0 else "outward"
        print(f"{h:>5} {v['shift_inv_angstrom']:>+13.3e} {d:>9} {v['integrated_change']:>+13.3e}"
              + ("  (see warning)" if v["warning"] else ""))
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(f"written to {args.out}/ (peak_shifts.json, delta_intensity.npz, delta_slices.png, result.json)")
    return 0


def _grid_boxes(args: argparse.Namespace, atoms: Atoms) -> list[dif.QBox]:
    if args.grid == "box":
        cell = dif.crystal_cell(atoms.info, args.lattice_constant)  # hexagonal a and c, or cubic a
        return [dif.box_around(dif.parse_hkl(h), cell, args.half_width, args.points) for h in args.hkl]
    if not args.q_max > 0:
        raise NclatticeError("--q-max must be a positive number of Å⁻¹.")
    flat = 2 if args.grid == "slice" else None
    return [dif.QBox((0.0, 0.0, 0.0), args.q_max, args.points, flat, label=args.grid)]


def run_diffract(args: argparse.Namespace) -> int:
    _check_common(args)
    if not args.powder and args.grid is None:
        raise NclatticeError("nothing to compute; add --powder and/or --grid box|whole|slice.")
    probe = _probe(args)
    q_min, q_max = args.q_range
    if args.powder and not (0 < q_min < q_max and args.q_points >= 2 and args.r_max > 0):
        raise NclatticeError("the powder needs 0 < QMIN < QMAX, --q-points >= 2 and --r-max > 0.")
    atoms = read_structure(args.structure)
    boxes = _grid_boxes(args, atoms) if args.grid else None
    for sym in set(atoms.get_chemical_symbols()):
        probe.factor(sym, np.zeros(1))  # an unknown element fails here, before any output
    powder = {"q_min": q_min, "q_max": q_max, "q_points": args.q_points, "r_max": args.r_max,
              "method": args.powder_method} if args.powder else None
    summary = compute_diffraction(atoms, probe, args.out, powder, {"boxes": boxes} if boxes else None,
                                  args.method)
    print(f"{summary['formula']}: {summary['atoms']} atoms, {probe.kind} {probe.energy_kev:g} keV, "
          f"{summary['wall_s']} s")
    for edge in summary.get("absorption_edges_within_1_kev", []):
        print(f"  note: {edge['element']} {edge['edge']} edge at {edge['energy_kev']:.3f} keV "
              "(scattering factors uncertain near edges)")
    print(f"written to {args.out}/ ({', '.join(summary['files'] + ['result.json'])})")
    return 0


# ---------------------------------------------------------------- Prefect flows (lazy)
_FLOWS = {"diffraction_flow": ("diffraction", compute_diffraction),
          "polaron_diffraction_flow": ("polaron-diffraction", compute_polaron_diffraction)}


def __getattr__(name: str):
    """Prefect @flow wrappers of the compositions, created on first access."""
    if name in _FLOWS:
        from prefect import flow

        flow_name, fn = _FLOWS[name]
        wrapped = flow(fn, name=flow_name, validate_parameters=False)
        globals()[name] = wrapped
        return wrapped
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

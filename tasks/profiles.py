"""Radial diffraction profiles I(Q, t) as labs record them: reading, rings, background, ring fits.

Input (one sample, one fluence per file):
- CSV: first column ``q_inv_angstrom`` (Q = 2π/d) or ``s_inv_angstrom`` (s = 1/d = Q/2π,
  converted to Q on reading), then one column per pump–probe delay whose header is the delay
  in ps; an optional column ``dark`` is the unpumped profile. Lines starting with '#' are
  comments. No per-point errors in CSV (see :func:`estimate_errors`).
- NPZ or HDF5: arrays ``q_inv_angstrom`` (or ``s_inv_angstrom``), ``delays_ps``, ``intensity``
  (delay × Q), optional ``error`` (same shape, standard errors), ``dark`` (Q) and
  ``fluence_mj_cm2`` (scalar).

The reference I0(Q) is the mean of the profiles at negative delays unless a dark profile is
given. Rings come from the real cell of the crystal (:func:`rings_from_cell`). Rings and the
background under them are fitted jointly in every profile (:func:`fit_rings`): pseudo-Voigt
profiles sharing one width and one Lorentzian fraction, their positions tied to one isotropic
lattice strain per delay, on a background of cubic B-splines whose knots lie several ring widths
apart, so that it cannot take a ring's intensity, however broad the rings (a baseline estimated
separately, e.g. by wavelets, bends at the scale of broad, overlapping rings and takes part of
them, which inflates the relative Debye–Waller change). Errors of I/I0 come with their
covariance (:func:`extract_rings`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NclatticeError

FOUR_LN2 = 4.0 * np.log(2.0)


# ---------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Profiles:
    """Azimuthally averaged profiles of one series: ``intensity`` is (n_delays, n_q)."""

    q_inv_angstrom: np.ndarray
    delays_ps: np.ndarray
    intensity: np.ndarray
    error: np.ndarray | None = None
    dark: np.ndarray | None = None
    fluence_mj_cm2: float | None = None


def _check(q: np.ndarray, delays: np.ndarray, intensity: np.ndarray, error: np.ndarray | None,
           dark: np.ndarray | None, where: str) -> None:
    """Shapes and values; every message names what is wrong and where."""
    if q.ndim != 1 or q.size < 10:
        raise NclatticeError(f"{where}: the Q column needs at least 10 points, got {q.size}.")
    bad = np.flatnonzero(~np.isfinite(q) | (q <= 0))
    if bad.size:
        raise NclatticeError(f"{where}: Q value {q[bad[0]]} at row {bad[0] + 1} must be a positive number.")
    steps = np.flatnonzero(np.diff(q) <= 0)
    if steps.size:
        raise NclatticeError(f"{where}: Q must increase strictly; row {steps[0] + 2} ({q[steps[0] + 1]}) "
                             f"does not exceed the row before it.")
    if intensity.shape != (delays.size, q.size):
        raise NclatticeError(f"{where}: intensity has shape {intensity.shape}; expected (delays, Q) = "
                             f"({delays.size}, {q.size}).")
    if not np.all(np.isfinite(delays)) or np.unique(delays).size != delays.size:
        raise NclatticeError(f"{where}: delays must be finite and distinct, got {delays.tolist()}.")
    for name, arr in (("intensity", intensity), ("error", error), ("dark", dark)):
        if arr is None:
            continue
        if name == "dark" and arr.shape != q.shape:
            raise NclatticeError(f"{where}: the dark profile has {arr.size} points; Q has {q.size}.")
        if name == "error" and arr.shape != intensity.shape:
            raise NclatticeError(f"{where}: error has shape {arr.shape}; it must match intensity {intensity.shape}.")
        nonfinite = np.argwhere(~np.isfinite(np.atleast_2d(arr)))
        if nonfinite.size:
            i, j = nonfinite[0]
            at = "" if name == "dark" else f" at delay {delays[i]:g} ps,"
            raise NclatticeError(f"{where}: {name} is not a finite number{at} Q row {j + 1} (Q = {q[j]:g} Å⁻¹).")
    if error is not None and np.any(error <= 0):
        i, j = np.argwhere(error <= 0)[0]
        raise NclatticeError(f"{where}: error must be positive; delay {delays[i]:g} ps, Q row {j + 1} has "
                             f"{error[i, j]}.")


def parse_profiles_csv(text: str, where: str = "profiles") -> Profiles:
    """Parse the CSV layout: Q (or s) column, one column per delay (header = ps), optional ``dark``."""
    lines = [(n + 1, ln) for n, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if len(lines) < 11:
        raise NclatticeError(f"{where}: needs a header and at least 10 rows of Q values.")
    rows = list(csv.reader(io.StringIO("\n".join(ln for _, ln in lines))))
    header = [h.strip() for h in rows[0]]
    first = header[0].lower()
    if first not in ("q_inv_angstrom", "s_inv_angstrom"):
        raise NclatticeError(f"{where}: the first column must be 'q_inv_angstrom' or 's_inv_angstrom', "
                             f"not '{header[0]}'.")
    delays, dark_col = [], None
    for k, h in enumerate(header[1:], start=2):
        if h.lower() == "dark":
            dark_col = k - 1
            continue
        try:
            delays.append(float(h))
        except ValueError:
            raise NclatticeError(f"{where}: column {k} header '{h}' is not a delay in ps (or 'dark').") from None
    if not delays:
        raise NclatticeError(f"{where}: no delay columns; put one column per delay with the delay in ps as header.")
    values = np.empty((len(rows) - 1, len(header)))
    for n, ((line, _), row) in enumerate(zip(lines[1:], rows[1:], strict=True)):
        if len(row) != len(header):
            raise NclatticeError(f"{where}: line {line} has {len(row)} fields but the header has {len(header)}.")
        for k, cell in enumerate(row):
            try:
                values[n, k] = float(cell)
            except ValueError:
                raise NclatticeError(f"{where}: line {line}, column '{header[k]}': '{cell.strip()}' is not a "
                                     "number.") from None
    q = values[:, 0] * (2 * np.pi if first == "s_inv_angstrom" else 1.0)
    keep = [k for k in range(1, len(header)) if k != dark_col]
    dark = None if dark_col is None else values[:, dark_col]
    prof = Profiles(q, np.array(delays), values[:, keep].T.copy(), None, dark)
    _check(prof.q_inv_angstrom, prof.delays_ps, prof.intensity, None, dark, where)
    return _sorted(prof)


def _sorted(p: Profiles) -> Profiles:
    order = np.argsort(p.delays_ps)
    return Profiles(p.q_inv_angstrom, p.delays_ps[order], p.intensity[order],
                    None if p.error is None else p.error[order], p.dark, p.fluence_mj_cm2)


def _from_arrays(get, names: set[str], where: str) -> Profiles:
    if "q_inv_angstrom" in names:
        q = np.asarray(get("q_inv_angstrom"), float)
    elif "s_inv_angstrom" in names:
        q = 2 * np.pi * np.asarray(get("s_inv_angstrom"), float)
    else:
        raise NclatticeError(f"{where}: no 'q_inv_angstrom' (or 's_inv_angstrom') dataset; found "
                             f"{', '.join(sorted(names)) or 'none'}.")
    missing = [k for k in ("delays_ps", "intensity") if k not in names]
    if missing:
        raise NclatticeError(f"{where}: missing dataset(s) {', '.join(missing)}.")
    delays = np.atleast_1d(np.asarray(get("delays_ps"), float))
    intensity = np.atleast_2d(np.asarray(get("intensity"), float))
    error = np.asarray(get("error"), float) if "error" in names else None
    dark = np.asarray(get("dark"), float) if "dark" in names else None
    fluence = float(np.asarray(get("fluence_mj_cm2"))) if "fluence_mj_cm2" in names else None
    _check(q, delays, intensity, error, dark, where)
    return _sorted(Profiles(q, delays, intensity, error, dark, fluence))


def read_profiles(path: str | Path) -> Profiles:
    """Read CSV (.csv, .txt), NPZ (.npz) or HDF5 (.h5, .hdf5) profiles; see the module docstring."""
    path = Path(path)
    if not path.is_file():
        raise NclatticeError(f"profiles file '{path}' does not exist.")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return parse_profiles_csv(path.read_text(), str(path))
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return _from_arrays(lambda k: z[k], set(z.files), str(path))
        except (OSError, ValueError) as exc:
            raise NclatticeError(f"{path} is not a readable NPZ file ({exc}).") from None
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as h:
                return _from_arrays(lambda k: h[k][()], set(h.keys()), str(path))
        except OSError as exc:
            raise NclatticeError(f"{path} is not a readable HDF5 file ({exc}).") from None
    raise NclatticeError(f"unknown profiles format '{suffix}'; use .csv, .npz, .h5 or .hdf5.")


def write_profiles_csv(p: Profiles, comment: str = "", decimals: int = 4) -> str:
    """The CSV layout :func:`parse_profiles_csv` reads (no errors: they are not part of CSV)."""
    out = io.StringIO()
    for line in comment.splitlines():
        out.write(f"# {line}\n")
    out.write(",".join(["q_inv_angstrom"] + [f"{d:g}" for d in p.delays_ps]
                       + (["dark"] if p.dark is not None else [])) + "\n")
    cols = [p.intensity.T] + ([p.dark[:, None]] if p.dark is not None else [])
    table = np.hstack(cols)
    for qv, row in zip(p.q_inv_angstrom, table, strict=True):
        out.write(f"{qv:.6f}," + ",".join(f"{v:.{decimals}f}" for v in row) + "\n")
    return out.getvalue()


# ---------------------------------------------------------------- reference and errors
def negative_delays(p: Profiles) -> np.ndarray:
    return p.delays_ps < 0


def estimate_errors(p: Profiles) -> np.ndarray:
    """Standard errors per point: the file's, else counting-like σ² = k·I with k pooled over Q.

    k comes from the scatter of the negative-delay profiles about their mean (at least two are
    needed): an unbiased pooled variance divided by the mean intensity. Detector counts with a
    gain obey this; state another model by passing errors in an NPZ/HDF5 file.
    """
    if p.error is not None:
        return p.error
    neg = p.intensity[negative_delays(p)]
    if neg.shape[0] < 2:
        raise NclatticeError("the file gives no errors and has fewer than two negative delays to estimate them; "
                             "add pre-time-zero profiles or give an 'error' dataset (NPZ/HDF5).")
    mean = neg.mean(0)
    if np.any(mean <= 0):
        raise NclatticeError("error estimation assumes positive intensities; the negative-delay mean is <= 0 "
                             "somewhere. Give an 'error' dataset instead.")
    k = float(np.mean(neg.var(0, ddof=1) / mean))
    return np.sqrt(k * np.clip(p.intensity, mean.min() * 1e-3, None))


def reference(p: Profiles, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """I0(Q) and its standard error: the dark profile if given, else the negative-delay mean."""
    if p.dark is not None:
        neg = negative_delays(p)
        err = error[neg].mean(0) if neg.any() else np.sqrt(np.mean(error**2, 0))
        return p.dark, err
    neg = negative_delays(p)
    if not neg.any():
        raise NclatticeError("no negative delays to form I0 and no dark profile; add a 'dark' column/dataset.")
    n = int(neg.sum())
    return p.intensity[neg].mean(0), np.sqrt((error[neg] ** 2).sum(0)) / n


# ---------------------------------------------------------------- rings from the cell
@dataclass(frozen=True)
class Ring:
    label: str                  # Miller indices of the representative reflection(s), '+'-joined when merged
    hkl: tuple[int, int, int]
    multiplicity: int
    q_inv_angstrom: float
    intensity: float            # Σ m|F|²/Q², relative powder intensity at the probe
    members: tuple[tuple[float, float], ...] = ()  # (Q, intensity) of each reflection family merged here

    def member_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the merged families and their shares of the ring's intensity (summing to 1)."""
        if not self.members:
            return np.array([self.q_inv_angstrom]), np.ones(1)
        q, inten = np.array(self.members, float).T
        return q, inten / inten.sum()


@dataclass(frozen=True)
class UnitCell:
    """Real cell: rows of ``lattice`` (Å), fractional sites and per-site composition {element: occupancy}."""

    lattice: np.ndarray
    frac: np.ndarray
    sites: tuple[dict[str, float], ...]
    kind: str

    @property
    def cubic(self) -> bool:
        return self.kind in ("zincblende", "rocksalt", "perovskite", "cubic")


def _mix(atoms, cations: bool) -> dict[str, float]:
    from ..structures.materials import FORMAL_CHARGES

    sym = [s for s in atoms.get_chemical_symbols() if (FORMAL_CHARGES.get(s, 0) > 0) == cations]
    names, counts = np.unique(sym, return_counts=True)
    return {str(n): float(c) / len(sym) for n, c in zip(names, counts, strict=True)}


def cell_from_atoms(atoms) -> UnitCell:
    """The crystal's real cell from the builder's recipe (``atoms.info``) or a periodic cell.

    Core/shell crystals are cut from one coherent lattice, so one cell with the crystal's mean
    cation and anion occupancies describes every ring. Orthorhombic CsPbBr3 is indexed on its
    pseudo-cubic cell.
    """
    from ..structures.lattice import rocksalt_cell, wurtzite_cell, zincblende_cell

    info = atoms.info
    lattice, recipe = info.get("lattice"), str(info.get("recipe", ""))
    if recipe.startswith("cspbbr3"):
        a = float(info["a_angstrom"])
        frac = np.array([[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]])
        return UnitCell(a * np.eye(3), frac, ({"Pb": 1.0}, {"Cs": 1.0}, *({"Br": 1.0},) * 3), "perovskite")
    builders = {"wurtzite": lambda: wurtzite_cell(info["a_angstrom"], info["c_angstrom"], 0.375),
                "zincblende": lambda: zincblende_cell(info["a_angstrom"]),
                "rocksalt": lambda: rocksalt_cell(info["a_angstrom"])}
    if lattice in builders:
        cell, basis, sub = builders[lattice]()
        cat, an = _mix(atoms, True), _mix(atoms, False)
        return UnitCell(np.asarray(cell, float), np.asarray(basis, float),
                        tuple(cat if s == "cation" else an for s in sub), str(lattice))
    if np.all(atoms.pbc) and atoms.cell.volume > 0:
        frac = atoms.get_scaled_positions()
        return UnitCell(np.array(atoms.cell), frac, tuple({s: 1.0} for s in atoms.get_chemical_symbols()),
                        "periodic")
    raise NclatticeError("the structure has no lattice recipe (wurtzite, zincblende, rocksalt, CsPbBr3) and "
                         "no periodic cell; build it with `nclattice build` or give a periodic bulk cell.")


def _representative(members: np.ndarray) -> tuple[int, int, int]:
    """The member with most non-negative indices, then the largest h, k, l: (100) not (0-10)."""
    keys = [(sum(x >= 0 for x in m), *m) for m in members.tolist()]
    return tuple(int(x) for x in members[keys.index(max(keys))])


def rings_from_cell(cell: UnitCell, probe, q_min: float, q_max: float, resolution_inv_angstrom: float = 0.01,
                    min_relative_intensity: float = 1e-3) -> list[Ring]:
    """Powder rings (hkl, multiplicity, Q) of a cell within [q_min, q_max], structure factors at the probe.

    Reciprocal points come from pymatgen's lattice enumeration; reflections with the same |G|
    (to 1e-6) form a family; families closer than ``resolution_inv_angstrom`` merge into one
    ring, which keeps each family's position and share (its profile is the sum of theirs). Rings
    weaker than ``min_relative_intensity`` of the strongest are dropped (extinct).
    """
    from pymatgen.core import Lattice

    recip = Lattice(cell.lattice).reciprocal_lattice  # includes the 2π: |G| = Q
    pts = recip.get_points_in_sphere(np.zeros((1, 3)), np.zeros(3), q_max + resolution_inv_angstrom)
    hkl = np.array([np.round(p[0]).astype(int) for p in pts]) if pts else np.zeros((0, 3), int)
    q = np.array([p[1] for p in pts])
    keep = (q >= q_min - resolution_inv_angstrom) & (q > 1e-6)
    hkl, q = hkl[keep], q[keep]
    elements = sorted({e for s in cell.sites for e in s})
    f = {e: np.real(probe.factor(e, q)) for e in elements}
    phase = np.exp(2j * np.pi * hkl @ cell.frac.T)  # (n_refl, n_sites)
    fsite = np.stack([sum(occ * f[e] for e, occ in site.items()) for site in cell.sites], axis=1)
    f2 = np.abs((fsite * phase).sum(1)) ** 2
    order = np.argsort(q, kind="stable")
    hkl, q, f2 = hkl[order], q[order], f2[order]
    families: list[list[int]] = []
    for j in range(q.size):
        if families and abs(q[j] - q[families[-1][0]]) < 1e-6:
            families[-1].append(j)
        else:
            families.append([j])
    fam = []
    for idx in families:
        members = hkl[idx]
        groups = {tuple(sorted(np.abs(m))) if cell.cubic else 0: [] for m in members}
        for m, j in zip(members, idx, strict=True):
            groups[tuple(sorted(np.abs(m))) if cell.cubic else 0].append(j)
        for js in groups.values():
            fam.append((float(q[js[0]]), _representative(hkl[js]), len(js), float(f2[js].sum())))
    rings: list[list] = []
    for qf, rep, mult, inten in fam:
        if rings and qf - rings[-1][0][0][0] < resolution_inv_angstrom:
            rings[-1][0].append((qf, rep, mult, inten))
        else:
            rings.append([[(qf, rep, mult, inten)]])
    out = []
    for (members,) in rings:
        total = sum(m[3] for m in members)
        strong = [m for m in members if m[3] > 1e-9 * max(total, 1e-300)]
        if not strong:
            continue
        qr = sum(m[0] * m[3] for m in strong) / total
        label = "+".join("".join(str(x) for x in m[1]) for m in sorted(strong, key=lambda m: -m[3]))
        main = max(strong, key=lambda m: m[3])
        out.append(Ring(label, main[1], sum(m[2] for m in strong), float(qr), total / qr**2,
                        tuple((m[0], m[3] / m[0] ** 2) for m in strong)))
    top = max((r.intensity for r in out), default=0.0)
    return [r for r in out if r.intensity >= min_relative_intensity * top and q_min <= r.q_inv_angstrom <= q_max]


# ---------------------------------------------------------------- background and ring fits
def wavelet_baseline(intensity: np.ndarray, max_iter: int = 200, level: int | None = None) -> np.ndarray:
    """Dual-tree complex wavelet baseline (René de Cotret & Siwick 2017) of each profile (last axis).

    Not used under rings: it bends at the scale of a broad ring and takes part of its intensity.
    """
    from skued import baseline_dt

    arr = np.asarray(intensity, float)
    return np.asarray(baseline_dt(arr, max_iter=max_iter, level=level, axis=-1), float)


def pseudo_voigt(q: np.ndarray, centre: np.ndarray, fwhm: float, eta: float) -> np.ndarray:
    """Unit-area pseudo-Voigt profiles, (n_peaks, n_q): η Lorentzian + (1 − η) Gaussian, one FWHM."""
    x2 = ((np.asarray(q)[None, :] - np.asarray(centre)[:, None]) / fwhm) ** 2
    out = (1.0 - eta) * np.sqrt(FOUR_LN2 / np.pi) / fwhm * np.exp(-FOUR_LN2 * x2)
    if eta:
        out += eta * 2.0 / (np.pi * fwhm) / (1.0 + 4.0 * x2)
    return out


def scherrer_fwhm_inv_angstrom(diameter_nm: float, shape_factor: float = 0.9) -> float:
    """Size-broadened ring FWHM in Q of a crystal of diameter D: ΔQ = 2πK/D (Scherrer, K ≈ 0.9)."""
    return 2.0 * np.pi * shape_factor / (10.0 * diameter_nm)


KNOT_SPACING_FWHM = 5.0  # background knots this many ring FWHMs apart (at least)
MAX_RATIO_ERROR = 0.2    # rings whose I/I0 is less certain than this at a typical delay are not reported


def background_basis(q: np.ndarray, knot_spacing_inv_angstrom: float) -> np.ndarray:
    """Cubic B-splines on uniform knots at least ``knot_spacing_inv_angstrom`` apart over Q: (n_basis, n_q).

    A background built from them cannot bend on a scale shorter than the knot spacing, so with
    knots several ring widths apart it cannot take a ring's intensity; fitted jointly with the
    rings, its uncertainty enters the ring areas' covariance.
    """
    from scipy.interpolate import BSpline

    q = np.asarray(q, float)
    n = max(1, int(np.floor(np.ptp(q) / knot_spacing_inv_angstrom)))
    knots = np.concatenate([[q[0]] * 3, np.linspace(q[0], q[-1], n + 1), [q[-1]] * 3])
    return BSpline.design_matrix(np.clip(q, q[0], q[-1]), knots, 3).toarray().T


def _as_rings(rings) -> list[Ring]:
    if len(rings) and isinstance(rings[0], Ring):
        return list(rings)
    return [Ring(f"Q{j + 1}", (0, 0, 0), 1, float(qr), 1.0) for j, qr in enumerate(np.asarray(rings, float))]


def _members(rings) -> tuple[np.ndarray, np.ndarray]:
    """All families' positions and the (n_rings, n_families) matrix of their shares in each ring."""
    parts = [r.member_arrays() for r in _as_rings(rings)]
    centres = np.concatenate([p[0] for p in parts])
    shares = np.zeros((len(parts), centres.size))
    start = 0
    for j, (qm, wm) in enumerate(parts):
        shares[j, start:start + qm.size] = wm
        start += qm.size
    return centres, shares


def ring_profiles(q: np.ndarray, rings, strain: float, fwhm: float, eta: float) -> np.ndarray:
    """Unit-area profile of every ring, (n_rings, n_q): its families' pseudo-Voigts weighted by their shares,
    at Q_family/(1 + ε)."""
    centres, shares = _members(rings)
    return shares @ pseudo_voigt(q, centres / (1.0 + strain), fwhm, eta)


@dataclass(frozen=True)
class RingFit:
    """Joint fit of all rings of one profile and its smooth background."""

    areas: np.ndarray
    covariance: np.ndarray      # of the areas, from the fit's full Jacobian (background and shape included)
    strain: float               # isotropic lattice strain ε: Q_j = Q_j,ref / (1 + ε)
    strain_stderr: float
    fwhm_inv_angstrom: float
    eta: float
    chi2_reduced: float
    background: np.ndarray      # fitted background on the profile's Q points
    model: np.ndarray           # background + rings

    @property
    def areas_stderr(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.covariance), 0, None))

    def positions(self, q_ref: np.ndarray) -> np.ndarray:
        return np.asarray(q_ref) / (1.0 + self.strain)


def fit_rings(q: np.ndarray, signal: np.ndarray, error: np.ndarray, rings, fwhm_guess: float,
              eta: float | None = None, background: np.ndarray | None = None, strain_guess: float = 0.0) -> RingFit:
    """Weighted least squares of ``signal`` by Σ_j A_j P_j(Q; ε, w, η) + Σ_k c_k B_k(Q).

    P_j is ring j's unit-area profile (:func:`ring_profiles`), B_k the rows of ``background``
    (e.g. :func:`background_basis`; None = no background). Areas and background coefficients
    enter linearly and are solved exactly for each trial strain ε, shared FWHM w and, unless
    ``eta`` is given, Lorentzian fraction η, which Gauss–Newton steps search (from the best width
    on a coarse grid when η is free, else from ``fwhm_guess``). The covariance of the areas is
    (JᵀWJ)⁻¹ of the full model (areas, background, ε and w) with the given point errors; η, when
    fitted, is held in it, since a fixed η is shared by the profiles compared with this one.
    """
    q, signal, weight = np.asarray(q, float), np.asarray(signal, float), 1.0 / np.asarray(error, float)
    centres, shares = _members(rings)
    basis = np.zeros((0, q.size)) if background is None else np.asarray(background, float)
    n = shares.shape[0]

    def unpack(p):
        return p[0], p[1], (p[2] if eta is None else eta)

    def rings_at(p):
        eps, w, e = unpack(p)
        out = shares @ pseudo_voigt(q, centres / (1.0 + eps), w, e)
        out[out.max(axis=1) < 1e-6 * out.max()] = 0.0  # a ring far outside the Q range: no profile here
        return out

    def design(p):
        return np.vstack([rings_at(p), basis])

    def solve(xw, target):
        """Least squares of target by the rows of xw: scaled normal equations (a few ms where an SVD takes ten)."""
        norm = np.sqrt(np.einsum("ij,ij->i", xw, xw))
        live = norm > 0  # rings without a profile here get coefficient 0
        xs = xw[live] / norm[live, None]
        out = np.zeros(xw.shape[0])
        try:
            out[live] = np.linalg.solve(xs @ xs.T, xs @ target) / norm[live]
        except np.linalg.LinAlgError:
            out[live] = np.linalg.lstsq(xs.T, target, rcond=None)[0] / norm[live]
        return out

    def jacobian(p, shape_only: bool = True):
        """Weighted design rows and ∂model/∂ε, ∂model/∂w (and ∂/∂η unless ``shape_only``) at the exact linear
        coefficients; the coefficients; the design."""
        x = design(p)
        coef = solve(x * weight, signal * weight)
        derivs = []
        for k in range(2 if shape_only else p.size):
            h = (1e-5, 1e-4 * abs(p[1]), 1e-4)[k]
            up, down = p.copy(), p.copy()
            up[k] += h
            down[k] -= h
            derivs.append(coef[:n] @ (rings_at(up) - rings_at(down)) / (2 * h))
        return np.vstack([x, derivs]) * weight, coef, x

    def cost(p):
        x = design(p)
        return float(np.sum(((solve(x * weight, signal * weight) @ x - signal) * weight) ** 2))

    p = np.array([strain_guess, fwhm_guess] + ([0.3] if eta is None else []), float)
    if eta is None:  # the first fit of a series: start from the best width on a coarse logarithmic grid
        grid = fwhm_guess * np.geomspace(0.1, 3.0, 25)
        p[1] = grid[np.argmin([cost(np.array([strain_guess, w, 0.3])) for w in grid])]
    # Gauss–Newton on all parameters (areas and background solved exactly at every step), η kept in [0, 1]
    # and steps halved while they do not lower χ²
    chi2 = cost(p)
    for _ in range(50):
        jac, coef, x = jacobian(p, shape_only=eta is not None)
        step = solve(jac, (signal - coef @ x) * weight)[n + basis.shape[0]:]
        for _ in range(10):
            trial = p + step
            trial[1] = max(trial[1], 0.2 * p[1])  # the width shrinks at most 5× a step and stays positive
            if eta is None:
                trial[2] = np.clip(trial[2], 0.0, 1.0)
            new = cost(trial)
            if new <= chi2 * (1 + 1e-12):
                break
            step = step / 2
        converged = (abs(trial[0] - p[0]) < 1e-7 and abs(trial[1] - p[1]) < 1e-6 * abs(p[1])
                     and (eta is not None or abs(trial[2] - p[2]) < 1e-5))
        if new <= chi2 * (1 + 1e-12):
            p, chi2 = trial, new
        if converged or new > chi2 * (1 + 1e-12):
            break
    jac, coef, x = jacobian(p)  # the covariance holds η: a fixed η is shared by the profiles compared with this one
    info = jac @ jac.T
    scale = 1.0 / np.sqrt(np.where(np.diag(info) > 0, np.diag(info), 1.0))  # columns differ by many decades
    cov = scale[:, None] * np.linalg.pinv(scale[:, None] * info * scale[None, :], hermitian=True) * scale[None, :]
    r = (coef @ x - signal) * weight
    dof = max(q.size - jac.shape[0] - (eta is None), 1)
    eps, w, e = unpack(p)
    return RingFit(coef[:n], cov[:n, :n], float(eps), float(np.sqrt(cov[-2, -2])), float(w), float(e),
                   float(r @ r / dof), coef[n:] @ basis, coef @ x)


def _scaled(rings: list[Ring], strain: float) -> list[Ring]:
    """The rings at the positions of a lattice strained by ε: every family at Q/(1 + ε)."""
    out = []
    for r in rings:
        qm, _ = r.member_arrays()
        inten = [m[1] for m in r.members] if r.members else [r.intensity]
        out.append(Ring(r.label, r.hkl, r.multiplicity, r.q_inv_angstrom / (1 + strain), r.intensity,
                        tuple((float(a / (1 + strain)), float(b)) for a, b in zip(qm, inten, strict=True))))
    return out


@dataclass(frozen=True)
class RingSeries:
    """Ring areas and positions of every delay, relative to the reference fit."""

    rings: tuple[Ring, ...]
    delays_ps: np.ndarray
    i_over_i0: np.ndarray       # (n_delays, n_rings)
    error: np.ndarray
    covariance: np.ndarray      # (n_delays, n_rings, n_rings): of I/I0 at each delay
    q_inv_angstrom: np.ndarray  # reference positions (after the lattice-scale fit of I0)
    strain: np.ndarray          # per delay, relative to the reference
    strain_stderr: np.ndarray
    reference: RingFit
    fits: tuple[RingFit, ...]
    knot_spacing_inv_angstrom: float
    kept: np.ndarray            # which of the input rings were resolved in I0
    q_all: np.ndarray           # reference positions of all input rings

    @property
    def reference_relative_covariance(self) -> np.ndarray:
        """cov(ln A0_j, ln A0_k) of the reported rings: the error every delay's I/I0 shares through I0."""
        areas = self.reference.areas[self.kept]
        return self.reference.covariance[np.ix_(self.kept, self.kept)] / np.outer(areas, areas)


def ratio_covariance(areas: np.ndarray, cov: np.ndarray, ref_areas: np.ndarray, ref_cov: np.ndarray,
                     shared_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A/A0 and its covariance to first order. ``shared_fraction`` f: the reference is a mean that
    includes this profile with weight f, so cov(A, A0) = f·cov(A)."""
    ratio = areas / ref_areas
    d, r = np.diag(1.0 / ref_areas), np.diag(ratio / ref_areas)
    cross = shared_fraction * d @ cov @ r
    return ratio, d @ cov @ d + r @ ref_cov @ r - cross - cross.T


def extract_rings(q: np.ndarray, intensity: np.ndarray, error: np.ndarray, i0: np.ndarray, i0_error: np.ndarray,
                  delays_ps: np.ndarray, rings: list[Ring], fwhm_guess: float = 0.15,
                  knot_spacing_fwhm: float = KNOT_SPACING_FWHM, reference_delays: np.ndarray | None = None
                  ) -> RingSeries:
    """Rings and a smooth background fitted jointly in I0 and in every profile; ring areas per delay / I0's.

    The fit of I0 fixes the lattice scale (ring positions), the shared FWHM and η; the background
    is cubic B-splines with knots ``knot_spacing_fwhm`` fitted FWHMs apart. Each delay then fits
    areas, strain, FWHM and the background with η held. ``reference_delays`` marks the profiles
    whose mean is I0 (None: I0 is a separate dark profile); their share of I0 enters the
    covariance of I/I0.
    """
    if not rings:
        raise NclatticeError("no Bragg rings of the structure fall inside the profiles' Q range.")
    spacing = max(knot_spacing_fwhm * fwhm_guess, 1e-3)
    ref = fit_rings(q, i0, i0_error, rings, fwhm_guess, background=background_basis(q, spacing))
    if not 0.8 < knot_spacing_fwhm * ref.fwhm_inv_angstrom / spacing < 1.25:  # the guess was off: knots again
        spacing = knot_spacing_fwhm * ref.fwhm_inv_angstrom
        ref = fit_rings(q, i0, i0_error, rings, ref.fwhm_inv_angstrom, background=background_basis(q, spacing),
                        strain_guess=ref.strain)
    basis = background_basis(q, spacing)
    ref_rings = _scaled(rings, ref.strain)
    fits = tuple(fit_rings(q, intensity[i], error[i], ref_rings, ref.fwhm_inv_angstrom, eta=ref.eta, background=basis)
                 for i in range(len(delays_ps)))
    shared = np.zeros(len(delays_ps)) if reference_delays is None else (
        np.asarray(reference_delays, float) / max(int(np.sum(reference_delays)), 1))
    q_ref = np.array([r.q_inv_angstrom for r in ref_rings])
    edge = ref.fwhm_inv_angstrom  # rings near or beyond the ends are fitted (their tails are in the data)
    keep = (ref.areas > 3 * ref.areas_stderr) & (q_ref > q[0] + edge) & (q_ref < q[-1] - edge)
    ratios, covs = np.zeros((len(fits), keep.sum())), np.zeros((len(fits), keep.sum(), keep.sum()))
    for i, (f, share) in enumerate(zip(fits, shared, strict=True)):
        ratios[i], covs[i] = ratio_covariance(f.areas[keep], f.covariance[np.ix_(keep, keep)], ref.areas[keep],
                                              ref.covariance[np.ix_(keep, keep)], share)
    # −ln(I/I0) of a ring known to worse than MAX_RATIO_ERROR is skewed (bias ~ σ²/2) and carries no weight
    certain = np.median(np.sqrt(np.diagonal(covs, axis1=1, axis2=2)), axis=0) < MAX_RATIO_ERROR
    ratios, covs = ratios[:, certain], covs[:, certain][:, :, certain]
    keep[np.flatnonzero(keep)[~certain]] = False
    if keep.sum() < 2:
        raise NclatticeError("fewer than two rings are resolved (area > 3 standard errors in I0 and I/I0 known to "
                             f"{MAX_RATIO_ERROR:.0%} at a typical delay); check the structure, the Q range and the "
                             "noise.")
    return RingSeries(tuple(r for r, k in zip(rings, keep, strict=True) if k), np.asarray(delays_ps, float),
                      ratios, np.sqrt(np.clip(np.diagonal(covs, axis1=1, axis2=2), 0, None)), covs,
                      q_ref[keep], np.array([f.strain for f in fits]),
                      np.array([f.strain_stderr for f in fits]), ref, fits, spacing, keep, q_ref)


# ---------------------------------------------------------------- synthetic profiles (forward model)
def synthesize_profiles(q: np.ndarray, rings: list[Ring], delays_ps: np.ndarray, delta_msd_angstrom2: np.ndarray,
                        sigma_q_inv_angstrom: float, background: np.ndarray, seed: int, strongest_area: float = 2.0,
                        counts_per_unit: float = 2.0e4, base_msd_angstrom2: float = 0.0) -> Profiles:
    """Radial profiles of Gaussian rings (one σ_Q, every family at its Bragg Q with its powder intensity)
    on ``background``, each ring scaled by the Debye–Waller factor exp(−Q²(⟨u²⟩₀ + Δ⟨u²⟩(t))/3),
    with counting noise: intensities in units where the strongest ring's area at ⟨u²⟩₀ = 0 is
    ``strongest_area``, counts = ``counts_per_unit`` × intensity, σ = √counts.
    """
    q = np.asarray(q, float)
    centres = np.concatenate([r.member_arrays()[0] for r in rings])
    inten = np.concatenate([r.member_arrays()[1] * r.intensity for r in rings])
    inten *= strongest_area / max(r.intensity for r in rings)
    shapes = np.exp(-0.5 * ((q[None, :] - centres[:, None]) / sigma_q_inv_angstrom) ** 2) / (
        sigma_q_inv_angstrom * np.sqrt(2 * np.pi))
    msd = base_msd_angstrom2 + np.asarray(delta_msd_angstrom2, float)
    clean = np.exp(-np.outer(msd, centres**2) / 3.0) * inten @ shapes + np.asarray(background, float)
    counts = counts_per_unit * clean
    noisy = counts + np.sqrt(counts) * np.random.default_rng(seed).standard_normal(counts.shape)
    return Profiles(q, np.asarray(delays_ps, float), noisy)

"""CsPbBr3 perovskite nanocrystals: cubes of n x n x n PbBr6 octahedra and superellipsoids.

Site bookkeeping uses pseudo-cubic coordinates ``pc_site`` in units of the lattice
constant, with Pb on half-integer and Cs on integer sites. A cube of n cells holds
n^3 Pb, 3 n^2 (n+1) Br and up to (n+1)^3 Cs; neutrality (Cs+ Pb2+ Br-) needs exactly
3n + 1 Cs vacancies.

Vacancy patterns. The XFEL paper (Shen et al., XFEL exciton-polaron paper, supplement S4) removes all 8 corner Cs plus
8 edge Cs in most models and 4 edge + 4 facet Cs in one; it does not list the exact
sites, so the patterns here are this project's own, chosen symmetric for n = 5:
- ``tetra``: next to each corner, on the edges that lie in the top and bottom faces,
  one orbit of a four-fold rotation about z combined with a two-fold rotation about x
  (tetragonal, no mirror);
- ``box``: two sites on each of the four edges parallel to z (positions 2 and n-2), so
  that x is only a two-fold axis;
- ``facet4``: four edge sites (middle of the z edges) and four facet sites on the side
  faces, related by the four-fold rotation about z.
For n != 5 the first 3n - 7 sites of each pattern's ordered list are taken after the
corners, which keeps neutrality but not always the symmetry.

Orthorhombic phase. Atoms are moved from their pseudo-cubic sites by the displacements
they have in the room-temperature Pnma structure of Lopez et al., ACS Omega 5, 5931 (2020),
doi:10.1021/acsomega.9b04248 (neutron powder refinement, ICSD 14608), scaled to the chosen
lattice constant. The average lattice is kept, so Bragg peaks do not move: only the
octahedral tilts and Cs off-centring of Pnma are added.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from ase import Atoms

from ..errors import StructureError
from .labels import BondModel, finalize
from .materials import PEROVSKITE

VACANCY_PATTERNS = ("tetra", "box", "facet4")

# Lopez et al. (2020), converted to the Pnma setting (long axis b ~ 2 a_pc).
PNMA_LATTICE_ANGSTROM = (8.24459, 11.73993, 8.19154)
PNMA_SITES = (
    ("Cs", (0.9710, 0.25, 0.9927)),
    ("Pb", (0.0, 0.0, 0.5)),
    ("Br", (0.505, 0.25, 0.0464)),
    ("Br", (0.2070, 0.0251, 0.7929)),
)
PNMA_REFERENCE = "C. A. Lopez et al., ACS Omega 5, 5931 (2020), doi:10.1021/acsomega.9b04248"


def bond_model(a: float, distance_tolerance: float = 0.1) -> BondModel:
    """Pb-Br and Cs-Br bonds; Pnma tilts shorten the nearest Cs-Br by ~13 %, hence the option."""
    pairs = {("Pb", "Br"): a / 2, ("Br", "Pb"): a / 2,
             ("Cs", "Br"): a / np.sqrt(2), ("Br", "Cs"): a / np.sqrt(2)}
    return BondModel(bond_angstrom=pairs, bulk_coordination={"Pb": 6, "Br": 6, "Cs": 12},
                     distance_tolerance=distance_tolerance)


def _cube_sites(n: int) -> tuple[list[str], np.ndarray]:
    idx = np.arange(n)
    pb = np.array(list(product(idx, idx, idx)), float) + 0.5
    br = []
    for axis in range(3):
        for i, j, k in product(range(n + 1), idx, idx):
            site = np.array([j + 0.5, k + 0.5], float)
            br.append(np.insert(site, axis, i))
    cs = np.array(list(product(range(n + 1), repeat=3)), float)
    symbols = ["Cs"] * len(cs) + ["Pb"] * len(pb) + ["Br"] * len(br)
    return symbols, np.vstack([cs, pb, np.array(br)])


def _rot_z(site, n):  # four-fold rotation about the cube's z axis, in index space
    i, j, k = site
    return (n - j, i, k)


def _rot_x(site, n):  # two-fold rotation about the cube's x axis
    i, j, k = site
    return (i, n - j, n - k)


def _orbit(site, n, ops) -> list[tuple[int, int, int]]:
    seen = [tuple(site)]
    frontier = [tuple(site)]
    while frontier:
        s = frontier.pop(0)
        for op in ops:
            t = tuple(op(s, n))
            if t not in seen:
                seen.append(t)
                frontier.append(t)
    return seen


def _pattern_sites(pattern: str, n: int) -> list[tuple[int, int, int]]:
    """Ordered candidate Cs vacancies (besides the corners) for a pattern."""
    rz, rx = _rot_z, _rot_x
    if pattern == "tetra":
        seeds = [(p, 0, 0) for p in range(1, n)]
        return [s for seed in seeds for s in _orbit(seed, n, [rz, rx])]
    # z-edge positions, middle first, alternating outward
    order = sorted(range(1, n), key=lambda k: (abs(k - n / 2), k))
    if pattern == "box":
        keys = sorted(range(1, n), key=lambda k: (min(abs(k - 2), abs(k - (n - 2))), k))
        return [s for k in keys for s in _orbit((0, 0, k), n, [rz])]
    if pattern == "facet4":
        m = n // 2
        edges = _orbit((0, 0, order[0]), n, [rz])
        faces = _orbit((0, m, n - m), n, [rz])
        rest = [s for k in order[1:] for s in _orbit((0, 0, k), n, [rz])]
        return edges + faces + rest
    raise StructureError(
        f"unknown vacancy pattern '{pattern}'; choose one of {', '.join(VACANCY_PATTERNS)} or none."
    )


def cs_vacancies(pattern: str, n: int) -> list[tuple[int, int, int]]:
    """The Cs sites (index space) removed by ``pattern`` in an n-cell cube: neutral by construction."""
    needed = 3 * n + 1
    extra = needed - 8
    if extra < 0:
        raise StructureError(
            f"vacancy pattern '{pattern}' removes all 8 corner Cs but a neutral {n}-cell cube needs "
            f"only {needed} vacancies; use --cells 3 or more."
        )
    corners = list(product((0, n), repeat=3))
    candidates = [s for s in dict.fromkeys(_pattern_sites(pattern, n)) if s not in corners]
    if len(candidates) < extra:
        raise StructureError(
            f"vacancy pattern '{pattern}' cannot supply {extra} edge/facet vacancies for --cells {n}."
        )
    return corners + candidates[:extra]


def pnma_displacements(pc_site: np.ndarray, symbols: list[str], a: float) -> np.ndarray:
    """Displacement (Å, cube frame) of each pseudo-cubic site in the Pnma structure.

    The Pnma pseudo-cubic axes are p1 = (a_o + c_o)/2, p2 = (c_o - a_o)/2, p3 = b_o/2;
    cube x, y, z follow p1, p2, p3. Displacements are scaled by a / a_pc(Pnma).
    """
    from pymatgen.core import Lattice, Structure  # slow import; only needed here

    lat = PNMA_LATTICE_ANGSTROM
    crystal = Structure.from_spacegroup(
        "Pnma", Lattice.orthorhombic(*lat), [s for s, _ in PNMA_SITES], [c for _, c in PNMA_SITES]
    )
    A, B, C = lat
    p = np.array([[A / 2, 0, C / 2], [-A / 2, 0, C / 2], [0, B / 2, 0]])
    pb_origin = np.array([0.0, 0.0, C / 2])
    ideal = pb_origin + (np.asarray(pc_site) - 0.5) @ p
    frac_ideal = ideal / np.array(lat)
    frac_atoms = crystal.frac_coords
    crystal_symbols = np.array([str(sp) for sp in crystal.species])
    disp = np.zeros((len(ideal), 3))
    axes = p / np.linalg.norm(p, axis=1)[:, None]
    a_pc = (np.prod(lat) / 4) ** (1 / 3)
    for i, (f, sym) in enumerate(zip(frac_ideal, symbols, strict=True)):
        d = frac_atoms - f
        d -= np.round(d)
        cart = d * np.array(lat)
        dist = np.linalg.norm(cart, axis=1)
        dist[crystal_symbols != sym] = np.inf
        k = int(np.argmin(dist))
        if dist[k] > 1.0:
            raise StructureError(f"no Pnma {sym} atom within 1 Å of pseudo-cubic site {pc_site[i]}.")
        disp[i] = axes @ cart[k] * (a / a_pc)
    return disp


def _finish(symbols, pc_site, a, recipe, phase, charge_balance, center) -> Atoms:
    if phase not in ("cubic", "orthorhombic"):
        raise StructureError(f"phase must be cubic or orthorhombic, not '{phase}'.")
    positions = (pc_site - center) * a
    if phase == "orthorhombic":
        positions = positions + pnma_displacements(pc_site, symbols, a)
        recipe = {**recipe, "pnma_reference": PNMA_REFERENCE}
    atoms = Atoms(symbols=symbols, positions=positions)
    atoms.set_array("pc_site", np.asarray(pc_site, float))
    atoms.set_array("region", np.full(len(atoms), "core", dtype="U8"))
    atoms.set_array("layer", np.zeros(len(atoms), int))
    model = bond_model(a, distance_tolerance=0.1 if phase == "cubic" else 0.2)
    atoms = finalize(atoms, model, charge_balance=charge_balance)
    atoms.info.update({**recipe, "phase": phase, "a_angstrom": a})
    return atoms


def _check_a(lattice_constant: float) -> float:
    if not np.isfinite(lattice_constant) or not 4.0 < lattice_constant < 8.0:
        raise StructureError(
            f"the CsPbBr3 lattice constant must lie between 4 and 8 Å, got {lattice_constant}."
        )
    return float(lattice_constant)


def build_cspbbr3_cube(cells: int, vacancies: str | None = "tetra", phase: str = "cubic",
                       lattice_constant: float = PEROVSKITE["CsPbBr3"].a,
                       charge_balance: str = "report") -> Atoms:
    """Cube of ``cells``^3 PbBr6 octahedra with a Cs vacancy pattern (n = 5: Cs200Pb125Br450)."""
    if isinstance(cells, bool) or int(cells) != cells or cells < 1:
        raise StructureError(f"--cells must be a positive whole number, got {cells}.")
    n = int(cells)
    a = _check_a(lattice_constant)
    symbols, sites = _cube_sites(n)
    removed = []
    if vacancies not in (None, "none"):
        removed = cs_vacancies(vacancies, n)
        gone = {tuple(map(float, s)) for s in removed}
        keep = [not (sym == "Cs" and tuple(site) in gone) for sym, site in zip(symbols, sites,
                                                                                strict=True)]
        symbols = [s for s, k in zip(symbols, keep, strict=True) if k]
        sites = sites[np.array(keep)]
    recipe = {"recipe": "cspbbr3", "cells": n, "vacancies": vacancies or "none",
              "cs_vacancy_sites": np.array(removed, int).reshape(-1, 3)}
    return _finish(symbols, sites, a, recipe, phase, charge_balance, center=np.full(3, n / 2))


def build_cspbbr3_superellipsoid(size_nm: float, exponent: float = 5.0, phase: str = "cubic",
                                 lattice_constant: float = PEROVSKITE["CsPbBr3"].a,
                                 charge_balance: str = "report") -> Atoms:
    """Superellipsoid |x|^p + |y|^p + |z|^p <= (L/2)^p cut along the cubic <100> axes."""
    if not np.isfinite(size_nm) or size_nm <= 0:
        raise StructureError(f"the superellipsoid size must be a positive length in nm, got {size_nm}.")
    if not np.isfinite(exponent) or exponent < 1:
        raise StructureError(f"the superellipsoid exponent must be at least 1, got {exponent}.")
    a = _check_a(lattice_constant)
    half = size_nm * 10 / 2 / a  # in lattice units
    m = int(np.ceil(half)) + 1
    rng = np.arange(-m, m + 1)
    pb = np.array(list(product(rng, rng, rng)), float)
    cs = pb + 0.5
    br = np.vstack([pb + 0.5 * e for e in np.eye(3)])
    sites = np.vstack([cs, pb, br])
    symbols = ["Cs"] * len(cs) + ["Pb"] * len(pb) + ["Br"] * len(br)
    inside = (np.abs(sites) ** exponent).sum(1) <= half**exponent + 1e-9
    symbols = [s for s, k in zip(symbols, inside, strict=True) if k]
    sites = sites[inside] + 0.5  # Pb on half-integer sites, as in the cube
    recipe = {"recipe": "cspbbr3-superellipsoid", "size_nm": float(size_nm),
              "exponent": float(exponent)}
    return _finish(symbols, sites, a, recipe, phase, charge_balance, center=np.full(3, 0.5))

"""Rock-salt PbSe quantum dots with {100} and {111} facets, alone or oriented-attached.

Shape: a truncated octahedron, |x|,|y|,|z| <= h and |x| + |y| + |z| <= sqrt(3) f h, where
h is half the distance between opposite {100} facets and f = h111/h100 sets the size of
the {111} facets (f = sqrt(3)/2, the default, is the Archimedean truncated octahedron whose
volume-equivalent diameter is 1.97 h). Each dot is centred on (a/4, a/4, a/4), between atomic
planes, so it spans an even number of (100) planes; then a translation by its own width
2h = k a is a lattice vector, and attached dots continue one lattice with no gap, sharing a
{100} facet along x (dimer, and chain), or x and y (square). Chains and squares are
periodic: one dot in a cell that repeats along the attached axes.

{111} facets of rock salt are polar: a full outer (111) layer is one species, and a dot
centred between planes has four Pb-terminated and four Se-terminated {111} facets (opposite
facets are related by inversion with Pb and Se swapped). Such fully polar facets are unstable:
first-principles surface energies find them reconstructing on relaxation (Fang, van Huis,
Vanmaekelbergh and Zandbergen, ACS Nano 4, 211 (2010)), and MD of PbSe nanocrystals with the
rigid-ion model finds {111} facets never fully Pb- or Se-terminated (Schapotschnikow et al.,
Nano Lett. 10, 3966 (2010)); with that model the as-cut 3 nm dot reconstructs during MD at
150-450 K. ``polar_facets="half"`` (the default) therefore keeps every other atomic row of each
outermost {111} layer (rows along the facet's intersection with a (100) plane), which halves
the layer's charge: the classic dipole-free termination of a polar surface, still
stoichiometric because the rows kept on opposite facets are images under the inversion.
``"full"`` keeps the as-cut polar facets.

Per-atom arrays besides the common ones: ``qd`` (which dot), ``facet`` ('attached' for
atoms in the two planes at a shared facet, '100'/'111' for surface atoms by their normal,
'edge' for other surface atoms, 'bulk' inside).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from ..errors import StructureError
from .facets import facet_family, surface_normals
from .labels import binary_bond_model, finalize
from .materials import ROCKSALT

ATTACHMENTS = ("none", "dimer", "chain", "square")
POLAR_FACETS = ("half", "full")


def build_pbse(diameter_nm: float, attached: str = "none", facet_ratio: float = np.sqrt(3) / 2,
               lattice_constant: float = ROCKSALT["PbSe"].a,
               charge_balance: str = "report", polar_facets: str = "half") -> Atoms:
    """PbSe quantum dot(s); ``diameter_nm`` is the {100} facet-to-facet distance 2h."""
    if not np.isfinite(diameter_nm) or diameter_nm <= 0:
        raise StructureError(f"diameter must be a positive size in nm, got {diameter_nm}.")
    if attached not in ATTACHMENTS:
        raise StructureError(
            f"attached must be one of {', '.join(ATTACHMENTS)}, not '{attached}'."
        )
    if polar_facets not in POLAR_FACETS:
        raise StructureError(f"polar facets must be one of {', '.join(POLAR_FACETS)}, not '{polar_facets}'.")
    if not 1 / np.sqrt(3) < facet_ratio < np.sqrt(3):
        raise StructureError(
            f"facet ratio h111/h100 must lie between 0.58 and 1.73 for both facet families to "
            f"exist, got {facet_ratio}."
        )
    a = float(lattice_constant)
    k = round(diameter_nm * 10 / a)
    if k < 1:
        raise StructureError(
            f"a {diameter_nm} nm PbSe dot is smaller than one lattice constant ({a / 10:.3f} nm)."
        )
    width = k * a  # {100} facet-to-facet distance, a lattice translation
    half = width / 2
    n_x, n_y = {"none": (1, 1), "dimer": (2, 1), "chain": (1, 1), "square": (1, 1)}[attached]

    # simple-cubic grid of spacing a/2: Pb where the index sum is even, Se where odd
    m = k + 2
    rng = np.arange(-m, m + 1)
    grid = np.stack(np.meshgrid(rng, rng, rng, indexing="ij"), -1).reshape(-1, 3)
    center = np.full(3, a / 4)
    all_pos = grid * a / 2
    pos_list, qd_list, idx_list = [], [], []
    for ix in range(n_x):
        for iy in range(n_y):
            shift = np.array([ix * width, iy * width, 0.0])
            rel = all_pos - center
            inside = (np.abs(rel) < half).all(1)
            inside &= np.abs(rel).sum(1) <= np.sqrt(3) * facet_ratio * half + 1e-9
            if polar_facets == "half":
                inside &= ~_alternate_rows_of_111_layers(grid, inside)
            pos_list.append(all_pos[inside] + shift)
            idx_list.append(grid[inside])
            qd_list.append(np.full(inside.sum(), ix * n_y + iy))
    pos = np.vstack(pos_list)
    parity = np.vstack(idx_list).sum(1) % 2
    atoms = Atoms(symbols=np.where(parity == 0, "Pb", "Se").tolist(), positions=pos)
    atoms.set_array("qd", np.concatenate(qd_list))
    atoms.set_array("region", np.full(len(atoms), "core", dtype="U8"))
    atoms.set_array("layer", np.zeros(len(atoms), int))

    periodic = {"none": (False, False, False), "dimer": (False, False, False),
                "chain": (True, False, False), "square": (True, True, False)}[attached]
    if any(periodic):
        span = np.ptp(pos, axis=0) + 4 * a
        atoms.cell = np.diag(np.where(periodic, width, span))
        atoms.pbc = periodic
        lo = np.array([center[0] - half, center[1] - half, pos[:, 2].min() - 2 * a])
        atoms.positions = atoms.positions - np.where(periodic, lo, 0)

    model = binary_bond_model(["Pb"], ["Se"], a / 2, bulk_coordination=6)
    atoms = finalize(atoms, model, charge_balance=charge_balance)
    _label_facets(atoms, a, attached, width, center, half)
    atoms.info.update({"recipe": "pbse", "diameter_nm": float(diameter_nm), "attached": attached,
                       "facet_ratio": float(facet_ratio), "polar_facets": polar_facets, "a_angstrom": a,
                       "width_angstrom": width, "lattice": "rocksalt"})
    if not any(periodic):
        atoms.positions -= atoms.positions.mean(0)
    return atoms


def _alternate_rows_of_111_layers(grid: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The atoms to remove: every other row of the outermost layer of each of the 8 {111} facets.

    ``grid`` holds integer indices (units a/2) of a dot centred at index (1/2, 1/2, 1/2). A row
    is an x-index; the rule uses x measured from the centre with the facet's sign (i for facets
    facing +x, 1 - i for -x), so the rows kept on a facet and on its inversion image match. Of
    the two classes of rows the larger one goes (a facet with an odd number of rows loses its
    edge rows): of the two, the termination whose atoms stayed on their sites in MD (3 nm dot).
    """
    rel = grid - 0.5
    remove = np.zeros(len(grid), bool)
    for signs in np.array(np.meshgrid([1, -1], [1, -1], [1, -1])).T.reshape(-1, 3):
        height = rel @ signs
        outer = inside & (height == height[inside].max())
        odd = np.where(signs[0] > 0, grid[:, 0], 1 - grid[:, 0]) % 2 == 1
        # remove the larger class of rows (the one with the facet's edge rows, fewer dangling atoms)
        odd_larger = np.count_nonzero(outer & odd) >= np.count_nonzero(outer & ~odd)
        remove |= outer & (odd if odd_larger else ~odd)
    return remove


def _label_facets(atoms: Atoms, a: float, attached: str, width: float, center, half) -> None:
    normals = surface_normals(atoms, radius_angstrom=1.05 * a / np.sqrt(2))
    family = facet_family(normals)
    facet = np.where(atoms.arrays["surface"], np.where(family == "", "edge", family), "bulk")
    facet = facet.astype("U8")
    pos = atoms.positions
    near_contact = np.zeros(len(atoms), bool)
    if attached == "dimer":
        boundary = center[0] + half
        near_contact = np.abs(pos[:, 0] - boundary) < a / 2
    elif attached in ("chain", "square"):
        for axis in (0, 1) if attached == "square" else (0,):
            length = atoms.cell[axis, axis]
            x = np.mod(pos[:, axis], length)
            near_contact |= (x < a / 2) | (x > length - a / 2)
    facet[near_contact] = "attached"
    atoms.set_array("facet", facet)

"""Per-atom labels and validation shared by all builders.

Bonds are counted between cations and anions only (opposite formal charges), each pair
with its own cut-off; ``bulk_coordination`` says how many such bonds an atom has in the
bulk crystal, so an atom with fewer is a surface atom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import StructureError
from .materials import formal_charge_of


@dataclass(frozen=True)
class BondModel:
    """Which cation-anion pairs count as bonds, their bulk length, and bulk coordination."""

    bond_angstrom: dict[tuple[str, str], float]
    bulk_coordination: dict[str, int]
    tolerance: float = 0.2  # a bond is shorter than (1 + tolerance) x its bulk length
    distance_tolerance: float = 0.1  # nearest bond of each kind within this of bulk

    def cutoffs(self) -> dict[tuple[str, str], float]:
        return {pair: length * (1 + self.tolerance) for pair, length in self.bond_angstrom.items()}


def pairs_within(atoms: Atoms, cutoff: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed pairs (i, j, distance) closer than ``cutoff``; periodic along the pbc axes.

    Periodic axes need an orthogonal cell (all builders make one).
    """
    from scipy.spatial import cKDTree  # ~0.2 s of imports: only where bonds are found

    pos = atoms.positions
    if not atoms.pbc.any():
        tree = cKDTree(pos)
    else:
        cell = atoms.cell.array
        if not np.allclose(cell, np.diag(np.diag(cell))):
            raise StructureError("periodic nanocrystal assemblies need an orthogonal cell.")
        lo = pos.min(0) - cutoff
        box = np.where(atoms.pbc, np.diag(cell), pos.max(0) - lo + 3 * cutoff)
        shifted = np.where(atoms.pbc, np.mod(pos, box), pos - lo)
        tree = cKDTree(shifted, boxsize=box)
    pairs = tree.query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        empty = np.zeros(0, int)
        return empty, empty, np.zeros(0)
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    return i, j, np.linalg.norm(_minimum_image(pos[j] - pos[i], atoms), axis=1)


def _minimum_image(vec: np.ndarray, atoms: Atoms) -> np.ndarray:
    if atoms.pbc.any():
        length = np.diag(atoms.cell.array)
        vec = np.where(atoms.pbc, vec - length * np.round(vec / np.where(length > 0, length, 1)),
                       vec)
    return vec


def bonds(atoms: Atoms, model: BondModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed bond list (i, j, distance) using the model's pair cut-offs (pbc aware)."""
    present = set(atoms.get_chemical_symbols())
    cutoffs = {p: r for p, r in model.cutoffs().items() if p[0] in present and p[1] in present}
    if not cutoffs or len(atoms) < 2:
        empty = np.zeros(0, int)
        return empty, empty, np.zeros(0)
    i, j, d = pairs_within(atoms, max(cutoffs.values()))
    symbols = np.array(atoms.get_chemical_symbols())
    limit = np.zeros(len(i))
    for (a, b), r in cutoffs.items():
        limit[(symbols[i] == a) & (symbols[j] == b)] = r
    keep = d < limit
    return i[keep], j[keep], d[keep]


def coordination(atoms: Atoms, model: BondModel) -> np.ndarray:
    i, _, _ = bonds(atoms, model)
    return np.bincount(i, minlength=len(atoms))


def strip_dangling(atoms: Atoms, model: BondModel, min_bonds: int = 2) -> Atoms:
    """Remove atoms with fewer than ``min_bonds`` bonds, repeatedly, until none is left."""
    i, j, _ = bonds(atoms, model)
    alive = np.ones(len(atoms), bool)
    while True:
        live_bond = alive[i] & alive[j]
        count = np.bincount(i[live_bond], minlength=len(atoms))
        weak = alive & (count < min_bonds)
        if not weak.any():
            break
        alive &= ~weak
    return atoms[alive]


def net_formal_charge(atoms: Atoms) -> int:
    return int(sum(formal_charge_of(s) for s in atoms.get_chemical_symbols()))


def balance_charge(atoms: Atoms, model: BondModel, mode: str) -> Atoms:
    """Apply the charge policy: 'report' (leave as is), 'require' (fail unless neutral),
    'trim' (remove the least-bonded, outermost atoms of the excess charge until neutral)."""
    if mode not in ("report", "require", "trim"):
        raise StructureError(f"charge balance must be report, require or trim, not '{mode}'.")
    charge = net_formal_charge(atoms)
    if mode == "report" or charge == 0:
        return atoms
    if mode == "require":
        raise StructureError(
            f"the nanocrystal carries a net formal charge of {charge:+d} e; "
            "choose another size or use charge balance 'trim' to remove surface atoms."
        )
    for _ in range(len(atoms)):
        charge = net_formal_charge(atoms)
        if charge == 0:
            return atoms
        q = np.array([formal_charge_of(s) for s in atoms.get_chemical_symbols()])
        candidates = np.flatnonzero((np.sign(q) == np.sign(charge)) & (np.abs(q) <= abs(charge)))
        if len(candidates) == 0:
            break
        coord = coordination(atoms, model)
        radius = np.linalg.norm(atoms.positions - atoms.positions.mean(0), axis=1)
        # fewest bonds first, then outermost; ties resolved by index for reproducibility
        order = np.lexsort((candidates, -radius[candidates], coord[candidates]))
        del atoms[int(candidates[order[0]])]
        atoms = strip_dangling(atoms, model)
    raise StructureError(
        f"could not trim the nanocrystal to neutrality (net charge {net_formal_charge(atoms):+d} e); "
        "choose another size."
    )


def label_surface(atoms: Atoms, model: BondModel) -> None:
    """Set the ``coordination`` and ``surface`` arrays in place."""
    coord = coordination(atoms, model)
    bulk = np.array([model.bulk_coordination[s] for s in atoms.get_chemical_symbols()])
    atoms.set_array("coordination", coord.astype(int))
    atoms.set_array("surface", coord < bulk)


def check_distances(atoms: Atoms, model: BondModel, tolerance: float | None = None) -> dict:
    """Nearest cation-anion distance of every bonded atom within ``tolerance`` of bulk.

    Returns a small report; raises StructureError when an atom violates it.
    """
    tolerance = model.distance_tolerance if tolerance is None else tolerance
    i, j, d = bonds(atoms, model)
    symbols = np.array(atoms.get_chemical_symbols())
    worst = 0.0
    for (a, b), length in model.bond_angstrom.items():
        sel = (symbols[i] == a) & (symbols[j] == b)
        if not sel.any():
            continue
        nearest = np.full(len(atoms), np.inf)
        np.minimum.at(nearest, i[sel], d[sel])
        nearest = nearest[np.isfinite(nearest)]
        # an atom's shortest bond of this kind must match the bulk bond length
        dev = np.abs(nearest / length - 1).max()
        worst = max(worst, float(dev))
        if dev > tolerance:
            raise StructureError(
                f"{a}-{b} nearest-neighbour distances deviate by up to {100 * dev:.0f}% from the "
                f"bulk {length:.3f} Å (tolerance {100 * tolerance:.0f}%); the structure is distorted."
            )
    return {"max_relative_bond_deviation": worst, "tolerance": tolerance}


def finalize(atoms: Atoms, model: BondModel, charge_balance: str = "report",
             strip: bool = True) -> Atoms:
    """Strip dangling atoms, apply the charge policy, label surface atoms, validate."""
    if strip:
        atoms = strip_dangling(atoms, model)
    atoms = balance_charge(atoms, model, charge_balance)
    if len(atoms) == 0:
        raise StructureError("no atoms are left after removing dangling atoms; the size is too small.")
    label_surface(atoms, model)
    atoms.info["distance_check"] = check_distances(atoms, model)["max_relative_bond_deviation"]
    atoms.info["net_formal_charge"] = net_formal_charge(atoms)
    return atoms


def equivalent_diameter_nm(atoms: Atoms) -> float:
    """Diameter of the uniform sphere with the same mean-square radius (<r^2> = 3 R^2 / 5)."""
    pos = atoms.positions - atoms.positions.mean(0)
    return float(2 * np.sqrt(5 / 3 * np.mean(np.einsum("ij,ij->i", pos, pos))) / 10)


def binary_bond_model(cations: list[str], anions: list[str], bond_angstrom: float,
                      bulk_coordination: int) -> BondModel:
    """All cation-anion pairs share one bond length (one coherent lattice)."""
    pairs = {}
    for c in cations:
        for a in anions:
            pairs[(c, a)] = bond_angstrom
            pairs[(a, c)] = bond_angstrom
    coord = dict.fromkeys(cations + anions, bulk_coordination)
    return BondModel(bond_angstrom=pairs, bulk_coordination=coord)

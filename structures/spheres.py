"""Roughly spherical tetrahedral semiconductors: wurtzite CdSe, CdSe/CdS, zinc-blende InP/ZnSe/ZnS.

Core and shells are cut from one coherent lattice with the core material's lattice
constants: the shell is epitaxially strained to the core, as grown, and relaxes in MD.
A shell of N monolayers extends N x (monolayer thickness of the shell material) beyond
the core radius; ``layer`` counts monolayers from the core surface outward (0 in the core).

Zinc-blende InP is cut by default as a regular octahedron of {111} facets centred on a cation
(four cation- and four anion-terminated facets, every facet atom three-coordinated; its volume is
that of the sphere of the given diameter; shells are concentric octahedra). With the Vashishta
InP set (Branicio et al. 2009) the sphere cut (``shape="sphere"``, the earlier default) has
{100}-like and stepped patches of two-coordinated atoms that hop at 150 K and leave their sites
in their hundreds at 300 K, interior atoms included; the {111}-faceted octahedron keeps every
atom on its site. {111} is the zinc-blende surface with the fewest dangling bonds (one per facet
atom, two on {100}). The octahedron's atom count follows the {111} bilayers (2.5 nm: 265 atoms,
In125P140); in a core/shell the core keeps the atoms that the bare core strips as dangling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from ..errors import StructureError
from .labels import binary_bond_model, finalize
from .lattice import lattice_points, wurtzite_cell, zincblende_cell
from .materials import WURTZITE, ZINCBLENDE, lookup


@dataclass(frozen=True)
class Shell:
    cation: str
    anion: str
    monolayers: int
    monolayer_angstrom: float


def _check_size(name: str, value_nm: float) -> None:
    if not np.isfinite(value_nm) or value_nm <= 0:
        raise StructureError(f"{name} must be a positive size in nm, got {value_nm}.")


def _check_monolayers(ml) -> int:
    if isinstance(ml, bool) or float(ml) != int(ml) or int(ml) < 0:
        raise StructureError(
            f"a shell thickness must be a whole, non-negative number of monolayers, got {ml}."
        )
    return int(ml)


def _core_shell(lattice: tuple, core: tuple[str, str], core_diameter_nm: float,
                shells: list[Shell], bond_angstrom: float, recipe: dict,
                charge_balance: str, shape: str = "sphere") -> Atoms:
    cell, basis, sublattice = lattice
    core_radius = core_diameter_nm * 10 / 2
    bounds = [core_radius if shape == "sphere" else core_radius * OCTAHEDRON_INRADIUS_PER_RADIUS]
    for shell in shells:
        bounds.append(bounds[-1] + shell.monolayers * shell.monolayer_angstrom)
    if shape == "sphere":
        # a generic centre (not on an atom or bond) avoids ties at the cut radius
        center = np.array([0.137, 0.291, 0.113]) * cell.diagonal().clip(min=1.0)
        pos, index = lattice_points(cell, basis, bounds[-1], center=center)
        r = np.linalg.norm(pos, axis=1)
    else:  # octahedron on a cation site: r is the largest distance along a <111> facet normal
        pos, index = lattice_points(cell, basis, np.sqrt(3) * bounds[-1] + 1.0)
        r = np.abs(pos).sum(1) / np.sqrt(3)
        pos, index, r = pos[r <= bounds[-1]], index[r <= bounds[-1]], r[r <= bounds[-1]]
    is_cation = np.array([sublattice[k] == "cation" for k in index])

    shell_id = np.searchsorted(np.array(bounds), r, side="left")  # 0 = core, 1.. = shells
    species = np.where(is_cation, core[0], core[1]).astype(object)
    region = np.full(len(pos), "core", dtype=object)
    layer = np.zeros(len(pos), int)
    done_ml = 0
    for k, shell in enumerate(shells, start=1):
        sel = shell_id == k
        species[sel] = np.where(is_cation[sel], shell.cation, shell.anion)
        region[sel] = "shell" if k == 1 else f"shell{k}"
        inner = bounds[k - 1]
        ml_in_shell = np.ceil((r[sel] - inner) / shell.monolayer_angstrom).astype(int)
        layer[sel] = done_ml + np.clip(ml_in_shell, 1, shell.monolayers)
        done_ml += shell.monolayers

    atoms = Atoms(symbols=list(species), positions=pos)
    atoms.set_array("region", np.array(region, dtype="U8"))
    atoms.set_array("layer", layer)
    cations = sorted({core[0], *(s.cation for s in shells)})
    anions = sorted({core[1], *(s.anion for s in shells)})
    model = binary_bond_model(cations, anions, bond_angstrom, bulk_coordination=4)
    atoms = finalize(atoms, model, charge_balance=charge_balance)
    atoms.positions -= atoms.positions.mean(0)
    atoms.info.update(recipe)
    atoms.info["core_radius_angstrom"] = core_radius
    atoms.info["monolayer_angstrom"] = [s.monolayer_angstrom for s in shells] or [0.0]
    return atoms


def build_cdse(diameter_nm: float, charge_balance: str = "report") -> Atoms:
    """Wurtzite CdSe, roughly spherical, of the given diameter."""
    _check_size("diameter", diameter_nm)
    wz = lookup(WURTZITE, "CdSe", "wurtzite")
    recipe = {"recipe": "cdse", "diameter_nm": float(diameter_nm), "lattice": "wurtzite",
              "a_angstrom": wz.a, "c_angstrom": wz.c}
    return _core_shell(wurtzite_cell(wz.a, wz.c, wz.u), ("Cd", "Se"), diameter_nm, [],
                       bond_angstrom=wz.u * wz.c, recipe=recipe, charge_balance=charge_balance)


def build_cdse_cds(core_diameter_nm: float, shell_ml: int,
                   charge_balance: str = "report") -> Atoms:
    """Wurtzite CdSe core of diameter ``core_diameter_nm`` with ``shell_ml`` monolayers of CdS."""
    _check_size("core diameter", core_diameter_nm)
    shell_ml = _check_monolayers(shell_ml)
    wz, cds = lookup(WURTZITE, "CdSe", "wurtzite"), lookup(WURTZITE, "CdS", "wurtzite")
    shells = [Shell("Cd", "S", shell_ml, cds.monolayer_angstrom)] if shell_ml else []
    recipe = {"recipe": "cdse-cds", "core_diameter_nm": float(core_diameter_nm),
              "shell_ml": shell_ml, "lattice": "wurtzite", "a_angstrom": wz.a,
              "c_angstrom": wz.c}
    return _core_shell(wurtzite_cell(wz.a, wz.c, wz.u), ("Cd", "Se"), core_diameter_nm, shells,
                       bond_angstrom=wz.u * wz.c, recipe=recipe, charge_balance=charge_balance)


# inradius of the regular octahedron with the volume of the sphere of radius 1: 4√3 h³ = 4π/3
OCTAHEDRON_INRADIUS_PER_RADIUS = (np.pi / (3 * np.sqrt(3))) ** (1 / 3)
ZINCBLENDE_SHAPES = ("octahedron", "sphere")


# The papers' shells: 8 ML for the Debye-Waller / MSD / dPDF work, 4 ML for phonons (Guzelturk 2021).
CDSE_CDS_PRESETS = {"msd": 8, "phonons": 4}


def build_inp_znse_zns(core_diameter_nm: float, shell_ml: tuple[int, int] = (3, 2),
                       charge_balance: str = "report", shape: str = "octahedron") -> Atoms:
    """Zinc-blende InP core with ZnSe then ZnS shells of the given monolayers.

    ``shape``: "octahedron" ({111} facets, the volume of the sphere of the core diameter; see the
    module docstring) or "sphere" (the earlier cut, unstable as a bare core in MD).
    """
    _check_size("core diameter", core_diameter_nm)
    if shape not in ZINCBLENDE_SHAPES:
        raise StructureError(f"shape must be one of {', '.join(ZINCBLENDE_SHAPES)}, not '{shape}'.")
    if len(shell_ml) != 2:
        raise StructureError(
            f"inp-znse-zns needs two shell thicknesses (ZnSe ML, ZnS ML), got {len(shell_ml)}."
        )
    ml_znse, ml_zns = (_check_monolayers(m) for m in shell_ml)
    inp = lookup(ZINCBLENDE, "InP", "zinc-blende")
    shells = []
    if ml_znse:
        shells.append(Shell("Zn", "Se", ml_znse, ZINCBLENDE["ZnSe"].monolayer_angstrom))
    if ml_zns:
        shells.append(Shell("Zn", "S", ml_zns, ZINCBLENDE["ZnS"].monolayer_angstrom))
    recipe = {"recipe": "inp-znse-zns", "core_diameter_nm": float(core_diameter_nm),
              "shell_ml": [ml_znse, ml_zns], "lattice": "zincblende", "a_angstrom": inp.a, "shape": shape}
    return _core_shell(zincblende_cell(inp.a), ("In", "P"), core_diameter_nm, shells,
                       bond_angstrom=inp.a * np.sqrt(3) / 4, recipe=recipe,
                       charge_balance=charge_balance, shape=shape)

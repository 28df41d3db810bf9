"""Debye-Waller mean-square displacements from MD frames.

⟨u²⟩ is the positional variance about each atom's mean position, not the diffusive MSD.
Rigid-body motion of a free crystal is removed first: every frame is superposed on the
mean structure by a mass-weighted Kabsch rotation plus translation, and the mean is
re-estimated from the aligned frames (two passes are enough; the change after that is
below 1e-6 Å² for thermal amplitudes). Then, per atom,

    ⟨u²⟩_i = ⟨|r_i(t) - ⟨r_i⟩|²⟩_t           (3D, the sum over x, y, z)
    ⟨u_n²⟩_i = ⟨((r_i(t) - ⟨r_i⟩) · n)²⟩_t   (along a unit vector n; isotropic: ⟨u²⟩/3)

averaged over a selection of atoms. Uncertainties come from block averaging: the
production run is cut into ``n_blocks`` consecutive blocks, each block's ⟨u²⟩ is computed
about the global mean positions, and the standard error is std(blocks)/sqrt(n_blocks).
The isotropic B factor is 8π²⟨u²⟩/3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NclatticeError
from .alignment import kabsch

# crystallographic direction families per lattice, in the builders' Cartesian frames
DIRECTIONS = {
    "x": np.array([1.0, 0, 0]), "y": np.array([0, 1.0, 0]), "z": np.array([0, 0, 1.0]),
}
FAMILIES = {
    "<100>": np.eye(3),
    "<110>": np.array([[1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1]]) / np.sqrt(2),
    "<111>": np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]]) / np.sqrt(3),
    "c-axis": np.array([[0, 0, 1.0]]),  # wurtzite c is z in the builders
    "a-plane": np.array([[1.0, 0, 0], [0.5, np.sqrt(3) / 2, 0], [-0.5, np.sqrt(3) / 2, 0]]),
}


def rotation_about_axis(mobile: np.ndarray, target: np.ndarray, weights: np.ndarray,
                        axis: int) -> np.ndarray:
    """Rotation R (3x3) about one Cartesian axis minimising Σ w |R·mobile_i - target_i|²."""
    i, j = [k for k in range(3) if k != axis]
    cross = np.sum(weights * (mobile[:, i] * target[:, j] - mobile[:, j] * target[:, i]))
    dot = np.sum(weights * (mobile[:, i] * target[:, i] + mobile[:, j] * target[:, j]))
    angle = np.arctan2(cross, dot)
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = np.cos(angle), -np.sin(angle), np.sin(angle), np.cos(angle)
    return rot


def remove_rigid_body_motion(frames: np.ndarray, masses: np.ndarray, passes: int = 2,
                             pbc: tuple[bool, bool, bool] | None = None) -> np.ndarray:
    """Frames superposed on their own mean structure (translation and rotation removed).

    Rotations removed are those that are free motions of the system: all three for a free
    crystal; for a chain periodic along one axis only the spin about that axis (a rotation
    about any other axis would tilt the periodic direction); none for a sheet periodic along
    two axes or a bulk cell. Translation is removed along every axis (it is free along all).
    """
    w = np.asarray(masses, float) / np.sum(masses)
    com = np.einsum("fij,i->fj", frames, w)
    centred = frames - com[:, None, :]
    periodic_axes = np.flatnonzero(pbc) if pbc is not None else np.array([], int)
    if len(periodic_axes) >= 2:
        return centred
    reference = centred[0]
    aligned = centred
    for _ in range(passes):
        aligned = np.empty_like(centred)
        for k, frame in enumerate(centred):
            rot = (kabsch(frame, reference, w) if len(periodic_axes) == 0
                   else rotation_about_axis(frame, reference, w, int(periodic_axes[0])))
            aligned[k] = frame @ rot.T
        reference = aligned.mean(0)
    return aligned


@dataclass
class MSDResult:
    """Per-atom displacements statistics of one trajectory."""

    per_atom_angstrom2: np.ndarray  # (atoms,) 3D ⟨u²⟩
    per_atom_block_angstrom2: np.ndarray  # (blocks, atoms)
    displacements: np.ndarray  # (frames, atoms, 3) about the mean, aligned frames
    n_blocks: int

    def select(self, mask: np.ndarray) -> tuple[float, float]:
        """Mean 3D ⟨u²⟩ over selected atoms and its block standard error (Å²)."""
        if not np.any(mask):
            raise NclatticeError("the atom selection for an MSD is empty.")
        value = float(self.per_atom_angstrom2[mask].mean())
        blocks = self.per_atom_block_angstrom2[:, mask].mean(1)
        return value, float(blocks.std(ddof=1) / np.sqrt(self.n_blocks)) if self.n_blocks > 1 else 0.0

    def along(self, direction: np.ndarray, mask: np.ndarray | None = None) -> float:
        """⟨u_n²⟩ along a unit vector, or averaged over a family of them (rows)."""
        dirs = np.atleast_2d(np.asarray(direction, float))
        dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
        sel = self.displacements if mask is None else self.displacements[:, mask]
        proj = np.einsum("fij,dj->fid", sel, dirs)
        return float(np.mean(proj**2))


def msd_from_frames(frames: np.ndarray, masses: np.ndarray, n_blocks: int = 5,
                    pbc: tuple[bool, bool, bool] | None = None) -> MSDResult:
    """3D ⟨u²⟩ per atom after removing rigid-body motion (see remove_rigid_body_motion for
    partly periodic systems, ``pbc``), with block estimates."""
    frames = np.asarray(frames, float)
    if frames.ndim != 3 or frames.shape[0] < 2 * max(n_blocks, 1):
        raise NclatticeError(
            f"MSD needs at least {2 * max(n_blocks, 1)} frames (got {frames.shape[0]}); "
            "run a longer production or sample more often."
        )
    aligned = remove_rigid_body_motion(frames, masses, pbc=pbc)
    disp = aligned - aligned.mean(0)
    per_atom = np.mean(np.sum(disp**2, axis=2), axis=0)
    blocks = np.array([np.mean(np.sum(b**2, axis=2), axis=0)
                       for b in np.array_split(disp, n_blocks, axis=0)])
    return MSDResult(per_atom, blocks, disp, n_blocks)


def lattice_directions(info: dict) -> dict[str, np.ndarray]:
    """Named directions reported for a structure's lattice (its ``info``), in the builders'
    Cartesian frames. Cubic lattices (rock salt, zinc blende, perovskite): single members of the
    Bragg-peak families, [100], [010], [001], [110], [101], [011], [111]; an attached chain (x)
    or sheet (x, y) is anisotropic, so [100] is along the attachment and [001] across it.
    (Averages over a whole cubic family are not reported: for any displacement tensor they
    equal the isotropic value, ⟨u²⟩/3.) Wurtzite: the c axis and the a plane."""
    lattice = info.get("lattice") or ("perovskite" if info.get("recipe") == "cspbbr3" else None)
    if lattice in ("rocksalt", "zincblende", "perovskite", "cubic"):
        names = ("[100]", "[010]", "[001]", "[110]", "[101]", "[011]", "[111]")
        return {n: np.array([float(c) for c in n.strip("[]")]) for n in names}
    if lattice == "wurtzite":
        return {k: FAMILIES[k] for k in ("c-axis", "a-plane")}
    return {}


def group_masks(symbols: list[str], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Selections reported by default: all, each element, each region, surface/interior,
    and element within region (e.g. 'Cd@shell')."""
    symbols = np.asarray(symbols)
    masks = {"all": np.ones(len(symbols), bool)}
    for el in sorted(set(symbols)):
        masks[el] = symbols == el
    region = arrays.get("region")
    if region is not None:
        for reg in sorted(set(region)):
            masks[f"region:{reg}"] = region == reg
            for el in sorted(set(symbols[region == reg])):
                masks[f"{el}@{reg}"] = (symbols == el) & (region == reg)
    surface = arrays.get("surface")
    if surface is not None:
        surface = np.asarray(surface, bool)
        if surface.any():
            masks["surface"] = surface
        if (~surface).any():
            masks["interior"] = ~surface
    return {k: v for k, v in masks.items() if v.any()}


def diffraction_weights(symbols: list[str], probe: str = "electron") -> np.ndarray:
    """Per-atom weights for the diffraction-weighted ⟨u²⟩ the experiment sees.

    A Bragg peak where all atoms scatter in phase has amplitude Σ f_j exp(-Q²⟨u_j²⟩/6);
    to first order in ⟨u²⟩ it decays with the f-weighted mean ⟨u²⟩. f is taken as the
    atomic number (X-ray forward scattering), or for electrons Z^(2/3), the scaling of
    Thomas-Fermi-like electron form factors at moderate Q (a stated approximation: the
    weights enter only the relative weighting of species).
    """
    from ase.data import atomic_numbers

    z = np.array([atomic_numbers[s] for s in symbols], float)
    if probe == "xray":
        return z
    if probe == "electron":
        return z ** (2 / 3)
    raise NclatticeError(f"probe must be 'electron' or 'xray', not '{probe}'.")


def summarize(result: MSDResult, symbols: list[str], arrays: dict[str, np.ndarray],
              probe: str = "electron", directions: dict[str, np.ndarray] | None = None) -> dict:
    """Group MSDs (value, stderr), direction-resolved values, B factors, weighted average."""
    groups = {}
    for name, mask in group_masks(symbols, arrays).items():
        value, err = result.select(mask)
        groups[name] = {"msd_angstrom2": value, "stderr_angstrom2": err,
                        "b_factor_angstrom2": 8 * np.pi**2 * value / 3, "atoms": int(mask.sum())}
    w = diffraction_weights(symbols, probe)
    weighted = float(np.sum(w * result.per_atom_angstrom2) / np.sum(w))
    blocks = result.per_atom_block_angstrom2 @ w / np.sum(w)
    groups["diffraction_weighted"] = {
        "msd_angstrom2": weighted,
        "stderr_angstrom2": float(blocks.std(ddof=1) / np.sqrt(result.n_blocks)),
        "b_factor_angstrom2": 8 * np.pi**2 * weighted / 3, "atoms": len(symbols), "probe": probe}
    dirs = {**DIRECTIONS, **(directions or {})}
    along = {name: result.along(vec) for name, vec in dirs.items()}
    return {"groups": groups, "directional_msd_angstrom2": along}

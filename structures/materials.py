"""Bulk crystal data for the nanocrystal builders.

Room-temperature experimental lattice constants (Å). Sources:
- II-VI, III-V and IV-VI semiconductors: O. Madelung, *Semiconductors: Data
  Handbook*, 3rd ed., Springer (2004), the tables for each compound.
- CsPbBr3: 5.90 Å is the pseudo-cubic lattice constant averaged over the measured
  quantum dots in Shen et al. (XFEL exciton-polaron paper).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import StructureError

FORMAL_CHARGES: dict[str, int] = {
    "Cd": 2, "Zn": 2, "Pb": 2, "Cs": 1, "In": 3,
    "Se": -2, "S": -2, "Te": -2, "P": -3, "Br": -1,
}


@dataclass(frozen=True)
class Wurtzite:
    a: float
    c: float
    u: float = 0.375  # ideal internal parameter; CdSe/CdS deviate by < 0.003

    @property
    def monolayer_angstrom(self) -> float:
        """One monolayer along c: one cation-anion bilayer, c/2."""
        return self.c / 2


@dataclass(frozen=True)
class Cubic:
    a: float

    @property
    def monolayer_angstrom(self) -> float:
        """One zinc-blende monolayer: one (111) bilayer, d111 = a/sqrt(3)."""
        return self.a / 3**0.5


WURTZITE = {
    "CdSe": Wurtzite(a=4.299, c=7.010),
    "CdS": Wurtzite(a=4.136, c=6.714),
}
ZINCBLENDE = {
    "InP": Cubic(5.869),
    "ZnSe": Cubic(5.668),
    "ZnS": Cubic(5.409),
    "CdSe": Cubic(6.077),
}
ROCKSALT = {"PbSe": Cubic(6.124)}
PEROVSKITE = {"CsPbBr3": Cubic(5.90)}


def lookup(table: dict, name: str, what: str):
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table))
        raise StructureError(f"unknown {what} material '{name}'; known: {known}.") from None


def formal_charge_of(symbol: str) -> int:
    try:
        return FORMAL_CHARGES[symbol]
    except KeyError:
        raise StructureError(
            f"no formal charge is known for element '{symbol}'; "
            f"known: {', '.join(sorted(FORMAL_CHARGES))}."
        ) from None

"""Atomic scattering factors for X-rays and electrons, from maintained tables (xraydb, scikit-ued).

Conventions: every function takes the scattering-vector magnitude ``Q = 4π sinθ/λ`` in Å⁻¹
and converts to ``s = sinθ/λ = Q/4π`` only where it calls the tables.

Tables used
- X-ray f0(Q): Waasmaier & Kirfel, Acta Cryst. A51, 416 (1995), five-Gaussian fits valid
  for s ≤ 6 Å⁻¹, from ``xraydb``'s database (its ``Waasmaier`` table; neutral atoms or ions), read
  with sqlite3: importing xraydb itself loads SQLAlchemy, seconds that a diffraction command
  would pay for a few table rows (the rows are checked against xraydb's own API in the tests).
- X-ray anomalous f′, f″: Chantler, J. Phys. Chem. Ref. Data 24, 71 (1995) / NIST FFAST,
  through ``xraydb.f1_chantler`` and ``xraydb.f2_chantler`` (isolated-atom values).
  Caveat at 13.6 keV (the XFEL paper's energy): it lies just above the Pb L3 (13.035 keV),
  Br K (13.474 keV) and Se K (12.658 keV) edges. There f′ and f″ change by several electrons
  within a few hundred eV and isolated-atom tables (Chantler, Henke, Cromer–Liberman) differ
  from each other and from the solid (no near-edge fine structure). Use ``nearby_edges`` to
  see which edges lie near a chosen energy; the anomalous terms are off unless asked for.
- Electrons, default (``electron_factors="kirkland"``): Kirkland's parametrisation of
  Hartree–Fock electron factors (three Lorentzians plus three Gaussians in q = 1/d; E. J.
  Kirkland, *Advanced Computing in Electron Microscopy*, 2nd ed., Springer 2010, Appendix C),
  read through scikit-ued's ``skued.affe`` (L. P. René de Cotret et al., maintained). The table
  is non-relativistic; the amplitude is multiplied by the relativistic mass factor γ of the beam.
  f_e(0) is finite by construction (the Lorentzians carry the 1/q² tail).
- Electrons, option ``electron_factors="mott-bethe"``: the Mott–Bethe formula (first Born
  approximation) applied to the same Waasmaier–Kirfel fit,
  ``f_e(s) = γ (Z − f0(s)) / (8π² a0 s²)`` in Å, with the relativistic mass factor
  ``γ = 1 + E/(m0c²)`` of the beam (γ = 8.24 at 3.7 MeV, 1.098 at 50 keV).
  With the fit written as f0 = c + Σ a_i exp(−b_i s²),
  ``Z − f0(s) = (Z − f0(0)) + Σ a_i (1 − exp(−b_i s²))``; the first term is the fit's error in
  the electron count (|Z − f0(0)| < 0.01 e for neutral atoms) and is dropped, since the
  1/s² factor would blow it up at small s. The remaining sum is evaluated with ``expm1``,
  which is exact down to s = 0 where ``f_e(0) = γ Σ a_i b_i / (8π² a0)``, i.e. the Ibers
  relation f_e(0) ∝ Z⟨r²⟩/3 for the fitted density. International Tables C, Table 4.3.1.1
  obtains most of its electron factors the same way (Mott–Bethe on Hartree–Fock f0), so the
  difference from those tables is the accuracy of the five-Gaussian f0 fit, well under 1 %
  of f0 for s ≤ 2 Å⁻¹. At small s the result rests on the fit's ⟨r²⟩ (checked here: C 2.47 Å,
  Si 5.78 Å at s = 0, within about 1 % of the Doyle–Turner values as recalled, not verified
  against the table). Ions are refused for electrons: their net charge makes f_e diverge as
  s → 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..errors import NclatticeError

BOHR_ANGSTROM = 0.529177210903
ELECTRON_REST_KEV = 510.99895
HC_KEV_ANGSTROM = 12.398419843
MOTT_BETHE_ANGSTROM = 1.0 / (8 * np.pi**2 * BOHR_ANGSTROM)  # 0.023934 Å
PROBES = ("xray", "electron")
ELECTRON_TABLES = ("kirkland", "mott-bethe")


def q_to_s(q_inv_angstrom: np.ndarray) -> np.ndarray:
    """sinθ/λ (Å⁻¹) from Q = 4π sinθ/λ."""
    return np.asarray(q_inv_angstrom, float) / (4 * np.pi)


def _xraydb_rows(sql: str, *args: object) -> list[tuple]:
    """Rows of the database xraydb ships (read-only sqlite3; see the module docstring)."""
    import sqlite3
    from contextlib import closing
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("xraydb")
    path = Path(next(iter(spec.submodule_search_locations or []))) / "xraydb.sqlite" if spec else None
    if path is None or not path.is_file():
        raise NclatticeError("xraydb's database is not installed; reinstall nclattice's dependencies "
                             "(pip install xraydb).")
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        return db.execute(sql, args).fetchall()


@cache
def _waasmaier_row(ion: str) -> tuple[int, float, np.ndarray, np.ndarray]:
    rows = _xraydb_rows("SELECT atomic_number, offset, scale, exponents FROM Waasmaier WHERE ion = ? ORDER BY id",
                        ion)
    if not rows:
        raise NclatticeError(f"no Waasmaier-Kirfel scattering factor for '{ion}'; "
                             "give an element symbol such as 'Pb' or an ion such as 'Br1-'.")
    z, offset, scale, exponents = rows[0]
    return int(z), float(offset), np.array(json.loads(scale), float), np.array(json.loads(exponents), float)


def xray_f0(symbol: str, q_inv_angstrom: np.ndarray) -> np.ndarray:
    """Waasmaier–Kirfel f0 (electrons) of an atom or ion at Q (Å⁻¹)."""
    _, offset, a, b = _waasmaier_row(symbol)
    s2 = q_to_s(q_inv_angstrom)[..., None] ** 2
    return offset + (a * np.exp(-b * s2)).sum(-1)


def xray_anomalous(symbol: str, energy_kev: float) -> tuple[float, float]:
    """Chantler f′ and f″ (electrons) of an element at a photon energy."""
    import xraydb

    element = symbol.rstrip("+-0123456789")
    energy_ev = float(energy_kev) * 1e3
    return float(xraydb.f1_chantler(element, energy_ev)), float(xraydb.f2_chantler(element, energy_ev))


def nearby_edges(symbols: list[str], energy_kev: float, window_kev: float = 1.0) -> list[dict]:
    """Absorption edges (K, L1-L3) of the given elements within ``window_kev`` of the energy."""
    found = []
    for element in sorted(set(symbols)):
        rows = _xraydb_rows("SELECT iupac_symbol, absorption_edge FROM xray_levels WHERE element = ?", element)
        for name, energy_ev in rows:
            if name in ("K", "L1", "L2", "L3") and abs(energy_ev / 1e3 - energy_kev) <= window_kev:
                found.append({"element": element, "edge": name, "energy_kev": energy_ev / 1e3})
    return sorted(found, key=lambda e: e["energy_kev"])


def relativistic_gamma(energy_kev: float) -> float:
    return 1.0 + float(energy_kev) / ELECTRON_REST_KEV


def electron_wavelength_angstrom(energy_kev: float) -> float:
    """Relativistic de Broglie wavelength λ = hc / sqrt(E (E + 2 m0c²))."""
    e = float(energy_kev)
    return HC_KEV_ANGSTROM / np.sqrt(e * (e + 2 * ELECTRON_REST_KEV))


def xray_wavelength_angstrom(energy_kev: float) -> float:
    return HC_KEV_ANGSTROM / float(energy_kev)


def electron_f(symbol: str, q_inv_angstrom: np.ndarray, energy_kev: float) -> np.ndarray:
    """Mott–Bethe electron scattering amplitude (Å) of a neutral atom, relativistic."""
    _neutral(symbol)
    _, _, a, b = _waasmaier_row(symbol)
    s2 = q_to_s(q_inv_angstrom)[..., None] ** 2
    # Σ a (1 − e^{−b s²}) / s² without cancellation; limit Σ a b at s = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(s2 > 0, -np.expm1(-b * s2) / np.where(s2 > 0, s2, 1.0), b)
    return relativistic_gamma(energy_kev) * MOTT_BETHE_ANGSTROM * (a * ratio).sum(-1)


def _neutral(symbol: str) -> None:
    if symbol != symbol.rstrip("+-"):
        raise NclatticeError(f"electron scattering factors are for neutral atoms; use "
                             f"'{symbol.rstrip('+-0123456789')}' instead of '{symbol}'.")


def electron_f_kirkland(symbol: str, q_inv_angstrom: np.ndarray, energy_kev: float) -> np.ndarray:
    """Kirkland electron scattering amplitude (Å) of a neutral atom through ``skued.affe``, times γ."""
    _neutral(symbol)
    from skued import affe

    q = np.asarray(q_inv_angstrom, float)
    try:
        f = np.asarray(affe(symbol, q.ravel()), float).reshape(q.shape)
    except (ValueError, KeyError):
        raise NclatticeError(f"no Kirkland electron scattering factor for '{symbol}'; give an element "
                             "symbol such as 'Cd'.") from None
    return relativistic_gamma(energy_kev) * f


def electron_factor(symbol: str, q_inv_angstrom: np.ndarray, energy_kev: float,
                    table: str = "kirkland") -> np.ndarray:
    """Electron amplitude (Å) from the chosen table: ``kirkland`` (default) or ``mott-bethe``."""
    if table == "kirkland":
        return electron_f_kirkland(symbol, q_inv_angstrom, energy_kev)
    if table == "mott-bethe":
        return electron_f(symbol, q_inv_angstrom, energy_kev)
    raise NclatticeError(f"electron factors must be one of {', '.join(ELECTRON_TABLES)}, not '{table}'.")


@dataclass(frozen=True)
class Probe:
    """What scatters: X-rays (f0 [+ f′ + i f″]) or electrons (Kirkland or Mott–Bethe) at an energy in keV."""

    kind: str = "xray"
    energy_kev: float = 13.6
    anomalous: bool = False
    electron_factors: str = "kirkland"

    def __post_init__(self) -> None:
        if self.kind not in PROBES:
            raise NclatticeError(f"probe must be one of {', '.join(PROBES)}, not '{self.kind}'.")
        if not np.isfinite(self.energy_kev) or self.energy_kev <= 0:
            raise NclatticeError(f"the probe energy must be a positive number of keV, got {self.energy_kev}.")
        if self.anomalous and self.kind != "xray":
            raise NclatticeError("anomalous f′, f″ apply to X-rays only; drop the anomalous option.")
        if self.electron_factors not in ELECTRON_TABLES:
            raise NclatticeError(f"electron factors must be one of {', '.join(ELECTRON_TABLES)}, "
                                 f"not '{self.electron_factors}'.")

    @property
    def wavelength_angstrom(self) -> float:
        if self.kind == "xray":
            return xray_wavelength_angstrom(self.energy_kev)
        return electron_wavelength_angstrom(self.energy_kev)

    def factor(self, symbol: str, q_inv_angstrom: np.ndarray) -> np.ndarray:
        """Scattering amplitude of one species at Q (complex when anomalous)."""
        q = np.asarray(q_inv_angstrom, float)
        if self.kind == "electron":
            return electron_factor(symbol, q, self.energy_kev, self.electron_factors).astype(complex)
        f = xray_f0(symbol, q).astype(complex)
        if self.anomalous:
            f1, f2 = xray_anomalous(symbol, self.energy_kev)
            f = f + f1 + 1j * f2
        return f

    def factors(self, species: list[str], q_inv_angstrom: np.ndarray) -> np.ndarray:
        """(n_species, *q.shape) complex amplitudes in the order of ``species``."""
        return np.stack([self.factor(s, q_inv_angstrom) for s in species])

    def describe(self) -> dict:
        tables = ("Waasmaier-Kirfel f0" + (" + Chantler f', f''" if self.anomalous else "")
                  if self.kind == "xray" else
                  "Kirkland (2010) via scikit-ued affe, times the relativistic gamma"
                  if self.electron_factors == "kirkland" else "Mott-Bethe from Waasmaier-Kirfel f0, relativistic")
        return {"probe": self.kind, "energy_kev": self.energy_kev, "anomalous": self.anomalous,
                "electron_factors": self.electron_factors if self.kind == "electron" else None,
                "wavelength_angstrom": self.wavelength_angstrom, "tables": tables}

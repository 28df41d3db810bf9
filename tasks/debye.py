"""Debye-model mean-square displacements and a Debye-model temperature calibration.

For an element of mass m with Debye temperature Θ at temperature T (x = Θ/T), the quantum
(Bose-Einstein, with zero-point motion) Debye model gives the one-dimensional mean-square
displacement

    ⟨u_n²⟩ = (3 ħ² T / (m k_B Θ²)) · [φ(x) + x/4],   φ(x) = (1/x) ∫₀ˣ t / (eᵗ − 1) dt,

and the three-dimensional ⟨u²⟩ = 3⟨u_n²⟩ (the convention of tasks/calibration.py). The
classical (high-temperature) limit drops x/4 and sets φ = 1: ⟨u_n²⟩ = 3 ħ² T / (m k_B Θ²) =
k_B T / (m ω_D²/3). Per-element Debye temperatures (as refined from neutron displacement
parameters) treat each element as if it were alone in a Debye solid: the usual reading of
such data, and an approximation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from scipy import integrate

from ..errors import NclatticeError
from .calibration import fit_linear

HBAR_J_S = 1.054571817e-34
KB_J_PER_K = 1.380649e-23
AMU_KG = 1.66053906660e-27
ANGSTROM2_PER_M2 = 1e20


def debye_phi(x: float) -> float:
    """φ(x) = (1/x) ∫₀ˣ t/(eᵗ − 1) dt (→ 1 − x/4 + x²/36 for small x)."""
    if x <= 0:
        raise NclatticeError(f"the Debye ratio Θ/T must be positive, got {x}.")
    value, _ = integrate.quad(lambda t: t / np.expm1(t) if t > 0 else 1.0, 0.0, x, epsabs=1e-13, epsrel=1e-12)
    return value / x


def msd_1d_angstrom2(mass_amu: float, debye_temperature_k: float, temperature_k: float,
                     quantum: bool = True) -> float:
    """One-dimensional ⟨u_n²⟩ (Å²) of the Debye model; ``quantum=False``: classical limit."""
    if debye_temperature_k <= 0 or temperature_k <= 0 or mass_amu <= 0:
        raise NclatticeError(
            f"Debye model needs positive Θ, T and mass (got Θ = {debye_temperature_k} K, "
            f"T = {temperature_k} K, m = {mass_amu} amu).")
    x = debye_temperature_k / temperature_k
    bracket = debye_phi(x) + x / 4 if quantum else 1.0
    prefactor = 3 * HBAR_J_S**2 * temperature_k / (mass_amu * AMU_KG * KB_J_PER_K * debye_temperature_k**2)
    return prefactor * bracket * ANGSTROM2_PER_M2


def element_mass_amu(symbol: str) -> float:
    try:
        return float(atomic_masses[atomic_numbers[symbol]])
    except KeyError:
        raise NclatticeError(f"'{symbol}' is not a chemical element symbol.") from None


def parse_debye_temperatures(text: str) -> dict[str, float]:
    """'Pb=111,Se=205' -> {'Pb': 111.0, 'Se': 205.0} (K), with a clear error otherwise."""
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        symbol, _, value = item.partition("=")
        try:
            theta = float(value)
        except ValueError:
            theta = -1.0
        if not symbol.strip() or theta <= 0:
            raise NclatticeError(
                f"cannot read Debye temperature '{item}'; give ELEMENT=KELVIN pairs, e.g. Pb=111,Se=205.")
        element_mass_amu(symbol.strip())
        out[symbol.strip()] = theta
    if not out:
        raise NclatticeError("--debye-temperatures is empty; give ELEMENT=KELVIN pairs, e.g. Pb=111,Se=205.")
    return out


def debye_calibration(debye_temperatures_k: dict[str, float], temperatures_k: list[float],
                      composition: dict[str, int] | None = None, probe: str = "electron") -> dict[str, Any]:
    """A calibration (the schema of tasks.calibration.build_calibration) from the Debye model.

    Per element the 3D ⟨u²⟩(T) = 3⟨u_n²⟩; 'diffraction_weighted' averages the elements with
    the weights of tasks.msd.diffraction_weights over ``composition`` (atom counts; equal
    counts when not given). Motion is isotropic, so every direction carries ⟨u_n²⟩ of the
    weighted average. Standard errors are zero: the model has no sampling noise.
    """
    from .msd import diffraction_weights

    temps = sorted(float(t) for t in temperatures_k)
    if any(t <= 0 for t in temps):
        raise NclatticeError(f"temperatures must be positive, got {temps}.")
    counts = composition or dict.fromkeys(debye_temperatures_k, 1)
    missing = sorted(set(counts) - set(debye_temperatures_k))
    if missing:
        raise NclatticeError(f"no Debye temperature given for {', '.join(missing)}; add ELEMENT=KELVIN for each.")
    msd = {el: [3 * msd_1d_angstrom2(element_mass_amu(el), theta, t) for t in temps]
           for el, theta in debye_temperatures_k.items()}
    symbols = [el for el, n in counts.items() for _ in range(int(n))]
    weights = diffraction_weights(symbols, probe)
    weighted = [float(sum(w * msd[s][k] for s, w in zip(symbols, weights, strict=True)) / weights.sum())
                for k in range(len(temps))]
    msd["diffraction_weighted"] = weighted
    directional = {d: [v / 3 for v in weighted] for d in ("x", "y", "z")}
    arr = np.array(temps)
    return {"temperatures_k": temps, "msd_angstrom2": msd,
            "msd_stderr_angstrom2": {k: [0.0] * len(temps) for k in msd},
            "directional_msd_1d_angstrom2": directional,
            "fit": {k: fit_linear(arr, np.array(v)) for k, v in msd.items()},
            "fit_directional_1d": {d: fit_linear(arr, np.array(v)) for d, v in directional.items()},
            "model": {"name": "Debye", "form": "quantum: <u_n²> = 3ħ²T/(m k_B Θ²)·[φ(Θ/T) + Θ/(4T)]",
                      "debye_temperatures_k": dict(debye_temperatures_k),
                      "composition": dict(counts), "composition_assumed": composition is None,
                      "probe": probe},
            "msd_definition": "3D ⟨u²⟩ = 3⟨u_n²⟩ of the quantum Debye model per element"}

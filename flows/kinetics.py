"""Kinetic models (Auger heating, trapping, occupation, state filling): JSON + PNG per model.

Composition only: the models are in tasks/kinetics.py. Each model has a plain function
(parameters in, result dict out, files under ``out``) and a ``run_*`` entry taking its
settings model, which the command line, campaigns and deployments call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import NclatticeError
from ..provenance import provenance
from ..results import pyplot, save_figure
from ..tasks import kinetics as kin
from . import outcomes as oc
from .settings import AugerSettings, OccupationSettings, OpticalOptions, StateFillingSettings, TrappingSettings

O = TypeVar("O", bound=oc.Outcome)

PAPER_AUGER_TIME_CONSTANT_PS = 200.0  # Guzelturk et al. 2021: single-exponential fit of ΔT(t), 2.1 mJ cm⁻², 510 nm


# ---------------------------------------------------------------- compositions
def _times(t_max_ps: float, n_times: int) -> np.ndarray:
    if not (t_max_ps > 0 and n_times >= 5):
        raise NclatticeError("need --t-max-ps > 0 and --n-times >= 5.")
    return np.linspace(0.0, t_max_ps, n_times)


def _determined(fit: kin.ExpFit, what: str) -> kin.ExpFit:
    """A fit whose parameters the data do not determine is an error, never a number (it would be the guess)."""
    ok = np.isfinite(fit.taus_stderr_ps).all() and fit.amplitudes[0] > 0 and \
        fit.taus_stderr_ps[0] < 10 * fit.taus_ps[0]
    if not ok:
        raise NclatticeError(f"the single-exponential fit of {what} is undetermined (no clear rise within the "
                             "time grid); check the excitation and the time scales.")
    return fit


def _exp_summary(fit: kin.ExpFit) -> dict[str, Any]:
    return {"time_constant_ps": fit.tau_ps, "time_constant_stderr_ps": fit.taus_stderr_ps[0],
            "time_constant_ci95_ps": list(fit.taus_ci95_ps[0]), "amplitude": fit.amplitudes[0]}


def _fit_windows(mean_excitons: float, tau_auger_ps: float) -> dict[str, float]:
    """Single-exponential time constant of the exact heating curve fitted over 0..W, per window W (ps)."""
    taus = {}
    for window_ps in (500, 1000, 2000, 3000):
        grid = np.linspace(0.0, window_ps, 201)
        energy, _ = kin.auger_master_equation(mean_excitons, tau_auger_ps, grid)
        taus[str(window_ps)] = kin.fit_exponential(grid, energy).tau_ps
    return taus


def _lattice_temperature(curves: dict[str, np.ndarray], exciton_energy_ev: float | None,
                         n_atoms: int | None) -> tuple[dict[str, Any], float | None]:
    """Each curve (exciton energies per NC) as a lattice ΔT(t) in K, and the K per exciton energy."""
    if exciton_energy_ev is None or n_atoms is None:
        return {}, None
    k_per_exciton = kin.kelvin_per_exciton_energy(exciton_energy_ev, n_atoms)
    out: dict[str, Any] = {"heat_capacity_ev_per_k": exciton_energy_ev / k_per_exciton,
                           "kelvin_per_exciton_energy": k_per_exciton,
                           "lattice_temperature_note": "ΔT = E_X ΔE / (3 N k_B), Dulong-Petit (classical) heat "
                                                       "capacity of the NC's lattice"}
    out.update({key: np.asarray(energy, float) * k_per_exciton for key, energy in curves.items()})
    return out, k_per_exciton


def auger(mean_excitons: float, tau_auger_ps: float, out: Path, n_nc: int = 20000, seed: int = 0,
          t_max_ps: float = 1000.0, n_times: int = 201, inputs: dict | None = None,
          exciton_energy_ev: float | None = None, n_atoms: int | None = None) -> oc.AugerOutcome:
    """Auger heating (Gillespie) with the master-equation check and a single-exponential fit.

    With ``exciton_energy_ev`` and ``n_atoms`` the result also holds the lattice temperature rise
    ΔT(t) (K) of an NC of that many atoms.
    """
    times = _times(t_max_ps, n_times)
    g = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc=n_nc, seed=seed)
    me_energy, me_excitons = kin.auger_master_equation(mean_excitons, tau_auger_ps, times)
    closure = kin.auger_poisson_closure(mean_excitons, tau_auger_ps, times)
    fit = _determined(kin.fit_exponential(times, g.delta_energy_per_nc), "the Auger heating curve")
    fit_me = _determined(kin.fit_exponential(times, me_energy), "the master-equation heating curve")
    final = kin.auger_final_energy(mean_excitons)
    temperature, k_per_x = _lattice_temperature(
        {"delta_t_k": g.delta_energy_per_nc, "delta_t_stderr_k": g.delta_energy_stderr}, exciton_energy_ev, n_atoms)
    if k_per_x is not None:
        temperature.update({"delta_t_end_k": float(g.delta_energy_per_nc[-1] * k_per_x),
                            "delta_t_complete_k": final * k_per_x})
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(g.delta_energy_stderr > 0,
                     (g.delta_energy_per_nc - me_energy) / g.delta_energy_stderr, 0.0)
    result = {
        "times_ps": times, "delta_energy_per_nc": g.delta_energy_per_nc,
        "delta_energy_stderr": g.delta_energy_stderr, "excitons_mean": g.excitons_mean,
        "final_excitons_mean": float(g.excitons_mean[-1]), **_exp_summary(fit),
        # model-free: 63.2 % of the final energy ⟨N⟩ − 1 + e^{−⟨N⟩} (exact ensemble, no fit window)
        "rise_time_63_ps": kin.auger_rise_time_ps(mean_excitons, tau_auger_ps),
        "master_equation_time_constant_by_window_ps": _fit_windows(mean_excitons, tau_auger_ps),
        "final_energy_per_nc": final,
        "energy_unit": "one band-edge exciton's energy per NC", **temperature,
        "master_equation": {"delta_energy_per_nc": me_energy, "excitons_mean": me_excitons,
                            "max_abs_z_gillespie_vs_master": float(np.max(np.abs(z))),
                            **_exp_summary(fit_me)},
        "poisson_closure_delta_energy_per_nc": closure,
        "paper_time_constant_ps": PAPER_AUGER_TIME_CONSTANT_PS,
        "inputs": {"mean_excitons": mean_excitons, "tau_auger_ps": tau_auger_ps, "n_nc": n_nc,
                   "t_max_ps": t_max_ps, "exciton_energy_ev": exciton_energy_ev, "n_atoms": n_atoms,
                   **(inputs or {})},
        "provenance": provenance(seed=seed, model="Auger heating, Gillespie (Guzelturk et al. 2021)"),
    }
    fig = _plot_heating(times, g, me_energy, closure, fit, "Auger heating: ⟨N⟩ = "
                        f"{mean_excitons:.3g}, τ_AR = {tau_auger_ps:g} ps", k_per_x)
    return _write(out, oc.AugerOutcome.of(result), fig)


def trapping(mean_excitons: float, tau_auger_ps: float, tau_trap_ps: float, out: Path,
             trap_energy: float = 0.0, n_nc: int = 5000, seed: int = 0, t_max_ps: float = 200.0,
             n_times: int = 201, inputs: dict | None = None, exciton_energy_ev: float | None = None,
             n_atoms: int | None = None) -> oc.TrappingOutcome:
    """Auger heating competing with hot-hole surface trapping, against Auger alone (ΔT as in `auger`)."""
    times = _times(t_max_ps, n_times)
    with_trap = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc, seed,
                                            tau_trap_ps=tau_trap_ps, trap_energy=trap_energy)
    alone = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc, seed)
    final = with_trap.delta_energy_per_nc[-1]
    temperature, k_per_x = _lattice_temperature(
        {"delta_t_k": with_trap.delta_energy_per_nc, "delta_t_stderr_k": with_trap.delta_energy_stderr,
         "delta_t_auger_only_k": alone.delta_energy_per_nc}, exciton_energy_ev, n_atoms)
    result = {
        "times_ps": times, "delta_energy_per_nc": with_trap.delta_energy_per_nc,
        "delta_energy_stderr": with_trap.delta_energy_stderr,
        "delta_energy_per_nc_auger_only": alone.delta_energy_per_nc,
        "trapped_mean": with_trap.trapped_mean, "excitons_mean": with_trap.excitons_mean,
        "suppression_factor": float(alone.delta_energy_per_nc[-1] / final) if final > 0 else None,
        **_exp_summary(_determined(kin.fit_exponential(times, with_trap.delta_energy_per_nc), "the heating curve")),
        "time_constant_auger_only_ps": _determined(kin.fit_exponential(times, alone.delta_energy_per_nc),
                                                   "the Auger-only heating curve").tau_ps,
        "energy_unit": "one band-edge exciton's energy per NC", **temperature,
        "inputs": {"mean_excitons": mean_excitons, "tau_auger_ps": tau_auger_ps, "tau_trap_ps": tau_trap_ps,
                   "trap_energy": trap_energy, "n_nc": n_nc, "t_max_ps": t_max_ps,
                   "exciton_energy_ev": exciton_energy_ev, "n_atoms": n_atoms, **(inputs or {})},
        "provenance": provenance(seed=seed, model="Auger heating with hot-hole trapping (Guzelturk et al. 2021)"),
    }
    fig = _plot_trapping(times, with_trap, alone, tau_trap_ps, k_per_x)
    return _write(out, oc.TrappingOutcome.of(result), fig)


def occupation(gamma0_t: float, gamma_ratio: float, out: Path, inputs: dict | None = None) -> oc.OccupationOutcome:
    """Resonant occupation P0, P1, P2 and mean pairs probed (Shen et al., supplement S2)."""
    occ = kin.occupation_model(gamma0_t, gamma_ratio)
    grid = np.linspace(0.0, max(3.0, 2 * gamma0_t), 121)
    curves = [kin.occupation_model(g, gamma_ratio) for g in grid]
    result = {"p0": occ.p0, "p1": occ.p1, "p2": occ.p2, "mean_pairs": occ.mean_pairs,
              "gamma0_t": gamma0_t, "gamma_ratio": gamma_ratio,
              "curve": {"gamma0_t": grid, "p0": [c.p0 for c in curves], "p1": [c.p1 for c in curves],
                        "p2": [c.p2 for c in curves], "mean_pairs": [c.mean_pairs for c in curves]},
              "inputs": {"gamma0_t": gamma0_t, "gamma_ratio": gamma_ratio, **(inputs or {})},
              "provenance": provenance(model="resonant occupation with absorption reduction (Shen et al., S2)")}
    return _write(out, oc.OccupationOutcome.of(result), _plot_occupation(result))


def state_filling(mean_excitations: float, p_trap: float, out: Path, **model: Any) -> oc.StateFillingOutcome:
    """Band-edge bleach, gain and n̄_eff with hot-carrier trapping (Vonk et al. 2025), plus curves vs n̄."""
    sf = kin.state_filling(mean_excitations, p_trap, **model)
    grid = np.linspace(0.0, max(12.0, 1.5 * mean_excitations), 97)
    curve = [kin.state_filling(n, p_trap, **model) for n in grid]
    g_e, g_h = model.get("g_e", 2), model.get("g_h", 4)
    result = {
        "bleach": sf.bleach, "bleach_without_trapping": sf.bleach_without_trapping, "n_eff": sf.n_eff,
        "gain_max": sf.gain_max, "gain_max_without_trapping": sf.gain_max_without_trapping,
        "mean_p_trap": sf.mean_p_trap, "bleach_unit": "-ΔA/A0 at the band edge (2 = full inversion)",
        "p_cool": {str(n): float(kin.cooling_probability(n, p_trap)) for n in range(11)},
        # the measured range ends at n̄: with trapping the gain can peak below n̄ and fall after it
        "gain_max_up_to_mean": max([sf.gain_max] + [c.gain_max for n, c in zip(grid, curve, strict=True)
                                                    if n <= mean_excitations]),
        "bleach_at_saturation": kin.state_filling(200.0, p_trap, **model).bleach,
        "gain_max_at_saturation": kin.state_filling(200.0, p_trap, **model).gain_max,
        "curve": {"mean_excitations": grid, "bleach": [c.bleach for c in curve],
                  "bleach_without_trapping": [c.bleach_without_trapping for c in curve],
                  "gain_max": [c.gain_max for c in curve],
                  "gain_max_without_trapping": [c.gain_max_without_trapping for c in curve]},
        "paper": {"n_eff_measured": 1.5, "gain_saturation_measured": 0.25, "source": "Vonk et al. 2025, Figs. 1e, 5d"},
        "inputs": {"mean_excitations": mean_excitations, "p_trap": p_trap, "g_e": g_e, "g_h": g_h, **model},
        "provenance": provenance(model="state filling with hot-carrier trapping (Vonk et al. 2025)"),
    }
    return _write(out, oc.StateFillingOutcome.of(result), _plot_state_filling(result, mean_excitations))


def _write(out: Path, outcome: O, fig) -> O:
    save_figure(fig, Path(out) / outcome.file.replace(".json", ".png"))
    outcome.to_json(Path(out))  # last: its presence marks a complete result
    return outcome


# ---------------------------------------------------------------- figures

def _kelvin_axis(ax, k_per_exciton: float | None) -> None:
    """A right-hand ΔT axis (K) on an axis in exciton energies per NC."""
    if k_per_exciton is not None:
        ax.secondary_yaxis("right", functions=(lambda e: e * k_per_exciton, lambda t: t / k_per_exciton)
                           ).set_ylabel("lattice ΔT (K)")


def _plot_heating(times, g, me_energy, closure, fit, title, k_per_exciton=None):
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.fill_between(times, g.delta_energy_per_nc - 2 * g.delta_energy_stderr,
                    g.delta_energy_per_nc + 2 * g.delta_energy_stderr, alpha=0.3, label="Gillespie ±2σ")
    ax.plot(times, g.delta_energy_per_nc, lw=1.5, label=f"Gillespie ({g.n_nc} NCs)")
    ax.plot(times, me_energy, "k--", lw=1, label="master equation")
    ax.plot(times, closure, ":", color="grey", label="Poisson closure (approx.)")
    ax.plot(times, fit.amplitudes[0] * -np.expm1(-times / fit.tau_ps), "r-.", lw=1,
            label=f"single exp., τ = {fit.tau_ps:.0f} ps")
    ax.set(xlabel="time (ps)", ylabel="ΔE per NC (exciton energies)", title=title)
    ax.legend(fontsize=8)
    _kelvin_axis(ax, k_per_exciton)
    ax2.plot(times, g.excitons_mean)
    ax2.set(xlabel="time (ps)", ylabel="⟨N⟩ excitons per NC", yscale="log")
    fig.set_layout_engine("tight")
    return fig


def _plot_trapping(times, with_trap, alone, tau_trap_ps, k_per_exciton=None):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(times, alone.delta_energy_per_nc, "k--", label="Auger heating only")
    ax.plot(times, with_trap.delta_energy_per_nc, label=f"with hole trapping, τ_trap = {tau_trap_ps:g} ps")
    ax.plot(times, with_trap.trapped_mean, ":", label="trapped holes per NC")
    ax.set(xlabel="time (ps)", ylabel="per NC (exciton energies / count)")
    ax.legend(fontsize=8)
    _kelvin_axis(ax, k_per_exciton)
    fig.set_layout_engine("tight")
    return fig


def _plot_occupation(result):
    plt = pyplot()
    c = result["curve"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("p0", "p1", "p2", "mean_pairs"):
        ax.plot(c["gamma0_t"], c[key], label=key)
    ax.axvline(result["gamma0_t"], color="grey", ls=":")
    ax.set(xlabel="γ0·t", ylabel="probability / pairs",
           title=f"occupation, γ1/γ0 = {result['gamma_ratio']:g}")
    ax.legend()
    fig.set_layout_engine("tight")
    return fig


def _plot_state_filling(result, n_bar):
    plt = pyplot()
    c = result["curve"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot(c["mean_excitations"], c["bleach_without_trapping"], "k", label="state filling only")
    ax.plot(c["mean_excitations"], c["bleach"], label=f"P_trap = {result['inputs']['p_trap']:g}")
    ax.axvline(n_bar, color="grey", ls=":")
    ax.set(xlabel="n̄ (excitations per QD)", ylabel="bleach −ΔA/A0")
    ax.legend()
    ax2.plot(c["mean_excitations"], c["gain_max_without_trapping"], "k", label="state filling only")
    ax2.plot(c["mean_excitations"], c["gain_max"], label="with trapping")
    ax2.axhline(0, color="grey", lw=0.5)
    ax2.set(xlabel="n̄ (excitations per QD)", ylabel="max gain −A/A0")
    ax2.legend()
    fig.set_layout_engine("tight")
    return fig


# ---------------------------------------------------------------- entries (settings in, result out)
def mean_from(s: OpticalOptions, mean: float | None, name: str) -> tuple[float, dict[str, Any]]:
    """⟨N⟩ given directly (option ``name``) or as σ·J from fluence, wavelength and cross-section."""
    optical = (s.fluence_mj_cm2, s.wavelength_nm, s.cross_section_cm2)
    if mean is not None and any(v is not None for v in optical):
        raise NclatticeError(f"give either --{name} or --fluence-mj-cm2/--wavelength-nm/--cross-section-cm2.")
    if mean is not None:
        return mean, {"mean_from": "given"}
    if any(v is None for v in optical):
        raise NclatticeError(f"give --{name}, or all of --fluence-mj-cm2, --wavelength-nm and --cross-section-cm2.")
    return kin.mean_excitations(*optical), {"fluence_mj_cm2": s.fluence_mj_cm2, "wavelength_nm": s.wavelength_nm,
                                            "cross_section_cm2": s.cross_section_cm2, "mean_from": "sigma*J"}


def run_auger(settings: AugerSettings, out: str | Path) -> oc.AugerOutcome:
    s = settings
    mean, how = mean_from(s, s.mean_excitons, "mean-excitons")
    return auger(mean, s.tau_auger_ps, Path(out), n_nc=s.n_nc, seed=s.seed, t_max_ps=s.t_max_ps,
                 n_times=s.n_times, inputs=how, exciton_energy_ev=s.exciton_energy_ev, n_atoms=s.n_atoms)


def run_trapping(settings: TrappingSettings, out: str | Path) -> oc.TrappingOutcome:
    s = settings
    mean, how = mean_from(s, s.mean_excitons, "mean-excitons")
    return trapping(mean, s.tau_auger_ps, s.tau_trap_ps, Path(out), s.trap_energy, n_nc=s.n_nc, seed=s.seed,
                    t_max_ps=s.t_max_ps, n_times=s.n_times, inputs=how, exciton_energy_ev=s.exciton_energy_ev,
                    n_atoms=s.n_atoms)


def run_occupation(settings: OccupationSettings, out: str | Path) -> oc.OccupationOutcome:
    g0t, how = mean_from(settings, settings.gamma0_t, "gamma0-t")
    return occupation(g0t, settings.gamma_ratio, Path(out), inputs=how)


def run_state_filling(settings: StateFillingSettings, out: str | Path) -> oc.StateFillingOutcome:
    s = settings
    n_bar, _ = mean_from(s, s.mean_excitations, "mean-excitations")
    return state_filling(n_bar, s.p_trap, Path(out), g_e=s.g_e, g_h=s.g_h,
                         trap_oscillator_strength=s.trap_oscillator_strength,
                         untrapped_fraction=s.untrapped_fraction, stokes_shift_ev=s.stokes_shift_ev,
                         linewidth_ev=s.linewidth_ev)

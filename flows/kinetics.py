"""`nclattice kinetics {auger,trapping,occupation,state-filling}`: kinetic models, JSON + PNG.

Composition only: the models are in tasks/kinetics.py. Each model has a plain function
(parameters in, result dict out, files under ``out``) that the command line calls directly;
they run in well under a minute, so no Prefect server is started for them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NclatticeError
from ..provenance import provenance
from ..results import pyplot, save_figure, write_json
from ..tasks import kinetics as kin

PAPER_AUGER_TIME_CONSTANT_PS = 200.0  # seed 000: single-exponential fit of ΔT(t), 2.1 mJ cm⁻², 510 nm


# ---------------------------------------------------------------- compositions
def excitation_mean(mean: float | None, fluence_mj_cm2: float | None, wavelength_nm: float | None,
                    cross_section_cm2: float | None, name: str = "--mean-excitons") -> tuple[float, dict]:
    """⟨N⟩ given directly or as σ·J from fluence, wavelength and cross-section."""
    optical = (fluence_mj_cm2, wavelength_nm, cross_section_cm2)
    if mean is not None and any(v is not None for v in optical):
        raise NclatticeError(f"give either {name} or --fluence-mj-cm2/--wavelength-nm/--cross-section-cm2.")
    if mean is None:
        if any(v is None for v in optical):
            raise NclatticeError(f"give {name}, or all of --fluence-mj-cm2, --wavelength-nm and "
                                 "--cross-section-cm2.")
        mean = kin.mean_excitations(fluence_mj_cm2, wavelength_nm, cross_section_cm2)
        return mean, {"fluence_mj_cm2": fluence_mj_cm2, "wavelength_nm": wavelength_nm,
                      "cross_section_cm2": cross_section_cm2, "mean_from": "sigma*J"}
    if not mean >= 0:
        raise NclatticeError(f"{name} must be >= 0.")
    return mean, {"mean_from": "given"}


def _times(t_max_ps: float, n_times: int) -> np.ndarray:
    if not (t_max_ps > 0 and n_times >= 5):
        raise NclatticeError("need --t-max-ps > 0 and --n-times >= 5.")
    return np.linspace(0.0, t_max_ps, n_times)


def _exp_summary(fit: kin.ExpFit) -> dict[str, Any]:
    return {"time_constant_ps": fit.tau_ps, "time_constant_stderr_ps": fit.taus_stderr_ps[0],
            "time_constant_ci95_ps": list(fit.taus_ci95_ps[0]), "amplitude": fit.amplitudes[0]}


def auger(mean_excitons: float, tau_auger_ps: float, out: Path, n_nc: int = 20000, seed: int = 0,
          t_max_ps: float = 1000.0, n_times: int = 201, inputs: dict | None = None) -> dict[str, Any]:
    """Auger heating (Gillespie) with the master-equation check and a single-exponential fit."""
    times = _times(t_max_ps, n_times)
    g = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc=n_nc, seed=seed)
    me_energy, me_excitons = kin.auger_master_equation(mean_excitons, tau_auger_ps, times)
    closure = kin.auger_poisson_closure(mean_excitons, tau_auger_ps, times)
    fit = kin.fit_exponential(times, g.delta_energy_per_nc)
    fit_me = kin.fit_exponential(times, me_energy)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(g.delta_energy_stderr > 0,
                     (g.delta_energy_per_nc - me_energy) / g.delta_energy_stderr, 0.0)
    result = {
        "times_ps": times, "delta_energy_per_nc": g.delta_energy_per_nc,
        "delta_energy_stderr": g.delta_energy_stderr, "excitons_mean": g.excitons_mean,
        "final_excitons_mean": float(g.excitons_mean[-1]), **_exp_summary(fit),
        "energy_unit": "one band-edge exciton's energy per NC",
        "master_equation": {"delta_energy_per_nc": me_energy, "excitons_mean": me_excitons,
                            "max_abs_z_gillespie_vs_master": float(np.max(np.abs(z))),
                            **_exp_summary(fit_me)},
        "poisson_closure_delta_energy_per_nc": closure,
        "paper_time_constant_ps": PAPER_AUGER_TIME_CONSTANT_PS,
        "inputs": {"mean_excitons": mean_excitons, "tau_auger_ps": tau_auger_ps, "n_nc": n_nc,
                   "t_max_ps": t_max_ps, **(inputs or {})},
        "provenance": provenance(seed=seed, model="Auger heating, Gillespie (seed 000)"),
    }
    fig = _plot_heating(times, g, me_energy, closure, fit, "Auger heating: ⟨N⟩ = "
                        f"{mean_excitons:.3g}, τ_AR = {tau_auger_ps:g} ps")
    _write(out, "auger", result, fig)
    return result


def trapping(mean_excitons: float, tau_auger_ps: float, tau_trap_ps: float, out: Path,
             trap_energy: float = 0.0, n_nc: int = 5000, seed: int = 0, t_max_ps: float = 200.0,
             n_times: int = 201, inputs: dict | None = None) -> dict[str, Any]:
    """Auger heating competing with hot-hole surface trapping, against Auger alone."""
    times = _times(t_max_ps, n_times)
    with_trap = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc, seed,
                                            tau_trap_ps=tau_trap_ps, trap_energy=trap_energy)
    alone = kin.auger_heating_gillespie(mean_excitons, tau_auger_ps, times, n_nc, seed)
    final = with_trap.delta_energy_per_nc[-1]
    result = {
        "times_ps": times, "delta_energy_per_nc": with_trap.delta_energy_per_nc,
        "delta_energy_stderr": with_trap.delta_energy_stderr,
        "delta_energy_per_nc_auger_only": alone.delta_energy_per_nc,
        "trapped_mean": with_trap.trapped_mean, "excitons_mean": with_trap.excitons_mean,
        "suppression_factor": float(alone.delta_energy_per_nc[-1] / final) if final > 0 else None,
        **_exp_summary(kin.fit_exponential(times, with_trap.delta_energy_per_nc)),
        "time_constant_auger_only_ps": kin.fit_exponential(times, alone.delta_energy_per_nc).tau_ps,
        "energy_unit": "one band-edge exciton's energy per NC",
        "inputs": {"mean_excitons": mean_excitons, "tau_auger_ps": tau_auger_ps, "tau_trap_ps": tau_trap_ps,
                   "trap_energy": trap_energy, "n_nc": n_nc, "t_max_ps": t_max_ps, **(inputs or {})},
        "provenance": provenance(seed=seed, model="Auger heating with hot-hole trapping (seed 000)"),
    }
    fig = _plot_trapping(times, with_trap, alone, tau_trap_ps)
    _write(out, "trapping", result, fig)
    return result


def occupation(gamma0_t: float, gamma_ratio: float, out: Path, inputs: dict | None = None) -> dict[str, Any]:
    """Resonant occupation P0, P1, P2 and mean pairs probed (seed 002, S2)."""
    occ = kin.occupation_model(gamma0_t, gamma_ratio)
    grid = np.linspace(0.0, max(3.0, 2 * gamma0_t), 121)
    curves = [kin.occupation_model(g, gamma_ratio) for g in grid]
    result = {"p0": occ.p0, "p1": occ.p1, "p2": occ.p2, "mean_pairs": occ.mean_pairs,
              "gamma0_t": gamma0_t, "gamma_ratio": gamma_ratio,
              "curve": {"gamma0_t": grid, "p0": [c.p0 for c in curves], "p1": [c.p1 for c in curves],
                        "p2": [c.p2 for c in curves], "mean_pairs": [c.mean_pairs for c in curves]},
              "inputs": {"gamma0_t": gamma0_t, "gamma_ratio": gamma_ratio, **(inputs or {})},
              "provenance": provenance(model="resonant occupation with absorption reduction (seed 002 S2)")}
    _write(out, "occupation", result, _plot_occupation(result))
    return result


def state_filling(mean_excitations: float, p_trap: float, out: Path, **model: Any) -> dict[str, Any]:
    """Band-edge bleach, gain and n̄_eff with hot-carrier trapping (seed 003), plus curves vs n̄."""
    sf = kin.state_filling(mean_excitations, p_trap, **model)
    grid = np.linspace(0.0, max(12.0, 1.5 * mean_excitations), 97)
    curve = [kin.state_filling(n, p_trap, **model) for n in grid]
    g_e, g_h = model.get("g_e", 2), model.get("g_h", 4)
    result = {
        "bleach": sf.bleach, "bleach_without_trapping": sf.bleach_without_trapping, "n_eff": sf.n_eff,
        "gain_max": sf.gain_max, "gain_max_without_trapping": sf.gain_max_without_trapping,
        "mean_p_trap": sf.mean_p_trap, "bleach_unit": "-ΔA/A0 at the band edge (2 = full inversion)",
        "p_cool": {str(n): float(kin.cooling_probability(n, p_trap)) for n in range(11)},
        "bleach_at_saturation": kin.state_filling(200.0, p_trap, **model).bleach,
        "gain_max_at_saturation": kin.state_filling(200.0, p_trap, **model).gain_max,
        "curve": {"mean_excitations": grid, "bleach": [c.bleach for c in curve],
                  "bleach_without_trapping": [c.bleach_without_trapping for c in curve],
                  "gain_max": [c.gain_max for c in curve],
                  "gain_max_without_trapping": [c.gain_max_without_trapping for c in curve]},
        "paper": {"n_eff_measured": 1.5, "gain_saturation_measured": 0.25, "source": "seed 003, Figs. 1e, 5d"},
        "inputs": {"mean_excitations": mean_excitations, "p_trap": p_trap, "g_e": g_e, "g_h": g_h, **model},
        "provenance": provenance(model="state filling with hot-carrier trapping (seed 003)"),
    }
    _write(out, "state_filling", result, _plot_state_filling(result, mean_excitations))
    return result


def _write(out: Path, name: str, result: dict, fig) -> None:
    save_figure(fig, Path(out) / f"{name}.png")
    write_json(Path(out) / f"{name}.json", result)  # last: its presence marks a complete result


# ---------------------------------------------------------------- figures

def _plot_heating(times, g, me_energy, closure, fit, title):
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
    ax2.plot(times, g.excitons_mean)
    ax2.set(xlabel="time (ps)", ylabel="⟨N⟩ excitons per NC", yscale="log")
    fig.set_layout_engine("tight")
    return fig


def _plot_trapping(times, with_trap, alone, tau_trap_ps):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(times, alone.delta_energy_per_nc, "k--", label="Auger heating only")
    ax.plot(times, with_trap.delta_energy_per_nc, label=f"with hole trapping, τ_trap = {tau_trap_ps:g} ps")
    ax.plot(times, with_trap.trapped_mean, ":", label="trapped holes per NC")
    ax.set(xlabel="time (ps)", ylabel="per NC (exciton energies / count)")
    ax.legend(fontsize=8)
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


# ---------------------------------------------------------------- command line
def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kinetics", help="kinetic models: Auger heating, trapping, occupation, state filling",
                       description="Kinetic models of photoexcited nanocrystals (SCIENCE.md §5). "
                                   "Each writes OUT/<model>.json and OUT/<model>.png.")
    models = p.add_subparsers(dest="model", required=True, parser_class=type(p))
    a = models.add_parser("auger", help="Auger heating by the Gillespie algorithm (seed 000)",
                          description="Energy deposited per NC by Auger recombination, rate "
                                      "N(N-1)/(2 tau_AR), Poisson initial populations.")
    _excitation_options(a)
    a.add_argument("--tau-auger-ps", type=float, required=True, help="biexciton Auger lifetime τ_AR (ps)")
    _stochastic_options(a, n_nc=20000, t_max=1000.0)
    t = models.add_parser("trapping", help="Auger heating competing with hot-hole surface trapping",
                          description="Auger heating where each band-edge exciton loses its hole to a "
                                      "surface trap at rate 1/tau_trap and leaves the Auger pool.")
    _excitation_options(t)
    t.add_argument("--tau-auger-ps", type=float, required=True, help="biexciton Auger lifetime τ_AR (ps)")
    t.add_argument("--tau-trap-ps", type=float, required=True, help="hole trapping time (ps), seed 000: 3.5-6")
    t.add_argument("--trap-energy", type=float, default=0.0,
                   help="energy left in the lattice per trapping event (exciton energies, default 0)")
    _stochastic_options(t, n_nc=5000, t_max=200.0)
    o = models.add_parser("occupation", help="resonant occupation P0, P1, P2 (seed 002 S2)",
                          description="P0, P1, P2 after a resonant pulse; gamma0*t = sigma*J.")
    o.add_argument("--gamma0-t", type=float, help="γ0·t at the end of the pulse (= σ·J)")
    o.add_argument("--gamma-ratio", type=float, default=0.4, help="γ1/γ0 (default 0.4)")
    _optical_options(o)
    o.add_argument("--out", type=Path, required=True, help="output directory")
    s = models.add_parser("state-filling", help="band-edge bleach and gain with hot-carrier trapping (seed 003)",
                          description="Band-edge bleach (-dA/A0), gain and effective excitation number "
                                      "right after cooling, Poisson excitation, trapping cascade.")
    s.add_argument("--mean-excitations", type=float, help="n̄ excitations per QD")
    _optical_options(s)
    s.add_argument("--p-trap", type=float, required=True, help="hot-carrier trapping probability per excitation")
    s.add_argument("--g-e", type=int, default=2, help="band-edge electron degeneracy (default 2)")
    s.add_argument("--g-h", type=int, default=4, help="band-edge hole degeneracy (default 4)")
    s.add_argument("--trap-oscillator-strength", type=float, default=0.0,
                   help="relative oscillator strength kept by a trapped pair (refined model: 0.3)")
    s.add_argument("--untrapped-fraction", type=float, default=0.0, help="fraction of QDs that never trap")
    s.add_argument("--stokes-shift-ev", type=float, default=0.0, help="emission Stokes shift (refined: 0.07)")
    s.add_argument("--linewidth-ev", type=float, default=0.1, help="band-edge line FWHM in eV (default 0.1)")
    s.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=run)


def _optical_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fluence-mj-cm2", type=float, help="pump fluence (mJ cm^-2), with wavelength and σ")
    p.add_argument("--wavelength-nm", type=float, help="pump wavelength (nm)")
    p.add_argument("--cross-section-cm2", type=float, help="absorption cross-section at the pump (cm^2)")


def _excitation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mean-excitons", type=float, help="⟨N⟩ excitons per NC (or give the optical options)")
    _optical_options(p)


def _stochastic_options(p: argparse.ArgumentParser, n_nc: int, t_max: float) -> None:
    p.add_argument("--n-nc", type=int, default=n_nc, help=f"NCs in the ensemble (default {n_nc})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--t-max-ps", type=float, default=t_max, help=f"end of the time grid (default {t_max:g} ps)")
    p.add_argument("--n-times", type=int, default=201, help="time points (default 201)")
    p.add_argument("--out", type=Path, required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    optical = (args.fluence_mj_cm2, args.wavelength_nm, args.cross_section_cm2)
    if args.model in ("auger", "trapping"):
        if args.n_nc < 10:
            raise NclatticeError("--n-nc must be at least 10 for ensemble statistics.")
        mean, how = excitation_mean(args.mean_excitons, *optical)
        common = {"n_nc": args.n_nc, "seed": args.seed, "t_max_ps": args.t_max_ps, "n_times": args.n_times,
                  "inputs": how}
        if args.model == "auger":
            r = auger(mean, args.tau_auger_ps, args.out, **common)
            print(f"Auger heating: single-exponential τ = {r['time_constant_ps']:.1f} ps "
                  f"(paper ~{PAPER_AUGER_TIME_CONSTANT_PS:.0f} ps), final ⟨N⟩ = {r['final_excitons_mean']:.2f}")
        else:
            r = trapping(mean, args.tau_auger_ps, args.tau_trap_ps, args.out, args.trap_energy, **common)
            print(f"trapping: Auger heating suppressed {r['suppression_factor']:.2f}x at {args.t_max_ps:g} ps")
    elif args.model == "occupation":
        g0t, how = excitation_mean(args.gamma0_t, *optical, name="--gamma0-t")
        r = occupation(g0t, args.gamma_ratio, args.out, inputs=how)
        print(f"P0 = {r['p0']:.3f}, P1 = {r['p1']:.3f}, P2 = {r['p2']:.3f}, mean pairs = {r['mean_pairs']:.3f}")
    else:
        n_bar, how = excitation_mean(args.mean_excitations, *optical, name="--mean-excitations")
        r = state_filling(n_bar, args.p_trap, args.out, g_e=args.g_e, g_h=args.g_h,
                          trap_oscillator_strength=args.trap_oscillator_strength,
                          untrapped_fraction=args.untrapped_fraction, stokes_shift_ev=args.stokes_shift_ev,
                          linewidth_ev=args.linewidth_ev)
        n_eff = "above the trap-free maximum" if r["n_eff"] is None else f"{r['n_eff']:.2f}"
        print(f"bleach {r['bleach']:.3f} (no trapping {r['bleach_without_trapping']:.3f}), n_eff = {n_eff}, "
              f"max gain {r['gain_max']:.3f}")
    name = args.model.replace("-", "_")
    print(f"results: {args.out / (name + '.json')}, figure: {args.out / (name + '.png')}")
    return 0

"""Reproduction table: every published number of the four source papers beside nclattice's value.

    python scripts/reproduction_table.py                 # write docs/reproduction.md from the JSONs
    python scripts/reproduction_table.py --check         # exit 1 if docs/reproduction.md is stale
    python scripts/reproduction_table.py --run [ID ...]  # run the cheap rows' commands, then write

Values come only from result JSONs committed under docs/reproduction/<run id>/ (written by the
commands listed in RUNS, with their wall time in run.json); a row whose result is not there
reads "not run yet". Nothing here computes or invents a number.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "reproduction"
DOCUMENT = ROOT / "docs" / "reproduction.md"

# run id -> (nclattice arguments, result file); each writes into docs/reproduction/<run id>/
RUNS: dict[str, tuple[list[str], str]] = {
    "auger-510nm": (["kinetics", "auger", "--mean-excitons", "21", "--tau-auger-ps", "625",
                     "--n-nc", "20000", "--seed", "0", "--exciton-energy-ev", "2.0", "--n-atoms", "10901"],
                    "auger.json"),
    "trapping-340nm-3.5ps": (["kinetics", "trapping", "--mean-excitons", "100", "--tau-auger-ps", "625",
                              "--tau-trap-ps", "3.5", "--n-nc", "5000", "--seed", "0"], "trapping.json"),
    "trapping-340nm-6ps": (["kinetics", "trapping", "--mean-excitons", "100", "--tau-auger-ps", "625",
                            "--tau-trap-ps", "6", "--n-nc", "5000", "--seed", "0"], "trapping.json"),
    "random-hole-surface": (["polaron-diffraction", "--model", "random-hole", "--hole-bias", "surface", "--sizes",
                             "gamma:shape=2,mean=5.4,min=3,max=15", "--samples", "120", "--seed", "1", "--p1",
                             "0.504", "--p2", "0.128", "--hkl", "200", "110", "111", "400"], "peak_shifts.json"),
    "random-hole-centre": (["polaron-diffraction", "--model", "random-hole", "--hole-bias", "center", "--sizes",
                            "gamma:shape=2,mean=5.4,min=3,max=15", "--samples", "120", "--seed", "1", "--p1",
                            "0.504", "--p2", "0.128", "--hkl", "200", "110", "111", "400"], "peak_shifts.json"),
    "occupation": (["kinetics", "occupation", "--gamma0-t", "1", "--gamma-ratio", "0.4"], "occupation.json"),
    "state-filling-no-trapping": (["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "0"],
                                  "state_filling.json"),
    "state-filling-ptrap-0.15": (["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "0.15"],
                                 "state_filling.json"),
    "state-filling-refined": (["kinetics", "state-filling", "--mean-excitations", "7.1", "--p-trap", "0.27",
                               "--trap-oscillator-strength", "0.3", "--stokes-shift-ev", "0.07"],
                              "state_filling.json"),
    "spin-xtb-cs4pbbr6": (["spin-relax", "examples/cs4pbbr6.extxyz", "--backend", "xtb"], "spin.json"),
}

PBSE_PROTOCOL = ("--potential schapotschnikow2010-pbse --temperatures 90:250:80 --anneal-k 300 --anneal-ps 3 "
                 "--equilibration-ps 5 --production-ps 20 --drift flag")

# run id -> (shell command, result file): hours of MD, run by hand in the background (never by --run);
# its run.json records the exact command and wall time
LONG_RUNS: dict[str, tuple[str, str]] = {
    "calibrate-8ml": ("nclattice build cdse-cds --core-diameter 3.0 --preset msd -o core3nm_8ml.extxyz && "
                      "nclattice calibrate core3nm_8ml.extxyz --temperatures 150:500:50 --anneal-k 300 "
                      "--anneal-ps 3 --equilibration-ps 3 --production-ps 6 --drift flag "
                      "--out docs/reproduction/calibrate-8ml --results runs-calibrate-8ml", "calibration.json"),
    "delta-t-8ml": ("nclattice build cdse-cds --core-diameter 3.0 --preset msd -o core3nm_8ml.extxyz && "
                    "nclattice delta-t core3nm_8ml.extxyz --t0 300 --delta-t 14 --anneal-k 300 --anneal-ps 3 "
                    "--equilibration-ps 5 "
                    "--production-ps 20 --sample-every-fs 50 --probe electron --q-range 0.5,12 "
                    "--out docs/reproduction/delta-t-8ml --results runs-delta-t-8ml", "delta_t.json"),
    "phonons-4ml": ("nclattice build cdse-cds --core-diameter 3.0 --preset phonons -o core3nm_4ml.extxyz && "
                    "nclattice phonons core3nm_4ml.extxyz --temperature 300 --equilibration-ps 10 --md-ps 40 "
                    "--window-ps 20 --out docs/reproduction/phonons-4ml --results runs-phonons-4ml", "phonons.json"),
    "pbse-6nm-dot": ("nclattice build pbse --diameter 6 -o pbse6nm.extxyz && nclattice calibrate pbse6nm.extxyz "
                     f"{PBSE_PROTOCOL} --out docs/reproduction/pbse-6nm-dot --results runs-pbse-6nm-dot",
                     "calibration.json"),
    "pbse-6nm-chain": ("nclattice build pbse --diameter 6 --attached chain -o pbse6nm_chain.extxyz && nclattice "
                       f"calibrate pbse6nm_chain.extxyz {PBSE_PROTOCOL} --out docs/reproduction/pbse-6nm-chain "
                       "--results runs-pbse-6nm-chain", "calibration.json"),
    "spin-cp2k-cs4pbbr6": ("nclattice spin-relax examples/cs4pbbr6.extxyz --backend cp2k "
                           "--out docs/reproduction/spin-cp2k-cs4pbbr6", "spin.json"),
    "spin-xtb-cs20pb8br36": ("nclattice build cspbbr3 --cells 2 --vacancies none --charge-balance trim -o "
                             "c2_trim.extxyz && nclattice spin-relax c2_trim.extxyz --backend xtb "
                             "--out docs/reproduction/spin-xtb-cs20pb8br36", "spin.json"),
}


@dataclass(frozen=True)
class Row:
    paper: str
    quantity: str
    published: str
    run: str | None  # a RUNS id, or None: needs a campaign item not run here yet
    value: Callable[[dict], str] | None = None
    note: str = ""
    command: str = ""  # for rows without a run: the command that will produce the number
    material: str = ""  # what was computed, where it is not the paper's material (MATERIAL)


GUZELTURK = "Guzelturk et al., Nat. Commun. 12, 1860 (2021)"
YUE = "Yue et al., J. Phys. Chem. Lett. 15, 7667 (2024)"
SHEN = "Shen et al., CsPbBr3 exciton polaron (preprint)"
VONK = "Vonk et al., Nat. Commun. 16 (2025)"
CDSE = "nclattice campaign examples/papers/cdse_cds.yaml"
MATERIAL = {GUZELTURK: "CdSe/CdS", YUE: "PbSe", SHEN: "CsPbBr3", VONK: "InP/ZnSe/ZnS"}  # each paper's crystals


def _shifts(d: dict) -> str:
    def word(hkl: str) -> str:
        shift = d[hkl]["shift_inv_angstrom"]
        return f"({hkl}) {'inward' if shift < 0 else 'outward'} ({shift:+.1e} Å⁻¹)"
    return ", ".join(word(hkl) for hkl in ("200", "110"))


def _sf(d: dict) -> str:
    n_bar = d["inputs"]["mean_excitations"]
    return (f"n̄_eff = {d['n_eff']:.2f}; gain at n̄ = {n_bar:g}: {d['gain_max']:.2f} A0, "
            f"largest for n̄ ≤ {n_bar:g}: {d['gain_max_up_to_mean']:.2f} A0")


def _auger(d: dict) -> str:
    windows = d["master_equation_time_constant_by_window_ps"]
    spread = f"{min(windows.values()):.0f}-{max(windows.values()):.0f} ps"
    return (f"{d['time_constant_ps']:.1f} ± {d['time_constant_stderr_ps']:.1f} ps (fit over 0-1 ns); "
            f"63 % rise {d['rise_time_63_ps']:.0f} ps; fits over 0.5-3 ns: {spread}")


def _auger_delta_t(d: dict) -> str:
    times, delta_t = d["times_ps"], d["delta_t_k"]
    at_1ns = delta_t[min(range(len(times)), key=lambda i: abs(times[i] - 1000.0))]
    e_x, n_atoms = d["inputs"]["exciton_energy_ev"], d["inputs"]["n_atoms"]
    return (f"{at_1ns:.1f} K at 1 ns, {d['delta_t_complete_k']:.1f} K when all Auger events are done "
            f"(E_X = {e_x:g} eV, {n_atoms:,} atoms, C = {d['heat_capacity_ev_per_k']:.2f} eV/K)")


def _directional_slopes(d: dict) -> dict[str, float]:
    return {k: v["slope_angstrom2_per_k"] for k, v in d["fit_directional_1d"].items()}


def _pbse(chain: dict) -> str:
    """Attached (chain, x = attachment axis) over individual: slopes d⟨u_n²⟩/dT per direction."""
    loaded = _load("pbse-6nm-dot")
    if loaded is None:
        return "chain only (the single dot has not been run)"
    dot, dot_record = loaded
    c, s = _directional_slopes(chain), _directional_slopes(dot)
    across = (c["[010]"] + c["[001]"]) / 2
    dot_mean = sum(s[k] for k in ("[100]", "[010]", "[001]")) / 3
    dot_111 = s["[111]"]
    fit_c, fit_s = chain["fit"]["diffraction_weighted"], dot["fit"]["diffraction_weighted"]
    return (f"slope of ⟨u_n²⟩(T), attached/individual: <100> along the chain ×{c['[100]'] / dot_mean:.3f}, "
            f"<100> across ×{across / dot_mean:.3f}, [111] ×{c['[111]'] / dot_111:.3f}; 3D ⟨u²⟩ slope "
            f"{fit_c['slope_angstrom2_per_k']:.3e} vs {fit_s['slope_angstrom2_per_k']:.3e} Å²/K (R² "
            f"{fit_c['r2']:.4f} / {fit_s['r2']:.4f}); {chain['structure']['atoms']:,} atoms each, "
            f"{'/'.join(f'{t:g}' for t in dot['temperatures_k'])} K; the dot alone took "
            f"{dot_record['wall_s']:.0f} s")


METHOD = {"xtb": "GFN2-xTB", "cp2k": "PBE/DZVP, CP2K"}


def _spin(d: dict) -> str:
    moved = d["displacement_summary"]
    biggest = max(moved, key=lambda el: moved[el]["max_angstrom"])
    structure, steps = d["structure"], d["steps"]
    return (f"{1000 * d['relaxation_energy_ev']:.0f} meV ({structure['formula']}, {structure['atoms']} atoms, "
            f"{METHOD[d['backend']]}); adiabatic gap {d['adiabatic_gap_ev']:.2f} eV, vertical "
            f"{d['vertical_gap_ev']:.2f} eV; largest triplet − singlet move "
            f"{moved[biggest]['max_angstrom']:.2f} Å ({biggest}); BFGS steps {steps['singlet']} + {steps['triplet']}")


def _trap(d: dict, tau: str) -> str:
    return (f"{d['suppression_factor']:.2f}× (τ_trap = {tau} ps, at 200 ps); "
            f"heating rise {d['time_constant_ps']:.1f} ps vs Auger alone {d['time_constant_auger_only_ps']:.1f} ps")


def _calibration(d: dict) -> str:
    fit = d["fit"]["diffraction_weighted"]
    protocol = d["md_protocol"]  # keyed by temperature, in the order the runs finished
    drifting = [protocol[f"{t:g}"]["site_drift"].get("n_drifting", 0) for t in d["temperatures_k"]]
    temps = "/".join(f"{t:g}" for t in d["temperatures_k"])
    return (f"b = {fit['slope_angstrom2_per_k']:.3e} ± {fit['slope_stderr']:.1e} Å²/K (diffraction-weighted), "
            f"R² = {fit['r2']:.4f} at {temps} K; atoms off their sites per temperature: "
            f"{'/'.join(str(n) for n in drifting)}")


def _delta_g(d: dict) -> str:
    peaks = d["peaks"]
    where = ", ".join(f"{p['r_peak_angstrom']:.2f}" for p in peaks.values())
    dips = sum(p["broadening"] for p in peaks.values())
    text = (f"dips at {where} Å (RDF route); dip with rises on both flanks at {dips} of {len(peaks)} peaks; "
            f"MD at {d['mean_temperature_k'][0]:.1f} and {d['mean_temperature_k'][1]:.1f} K")
    if "md_protocol" in d:  # results written since delta-t records its runs
        drifting = [p["site_drift"].get("n_drifting", 0) for p in d["md_protocol"].values()]
        text += f"; atoms off their sites: {'/'.join(str(n) for n in drifting)}"
    return text


def _phonons(d: dict) -> str:
    summary = d["lifetime_summary"]
    low = next((band for band in summary["trend"] if band["band_thz"][1] <= 0.5), None)
    text = (f"median {summary['median_lifetime_ps']:.2f} ps, {100 * summary['fraction_below_1ps']:.0f} % of modes "
            f"< 1 ps, {len(d['frequencies_thz'])} modes up to {max(d['frequencies_thz']):.1f} THz")
    if low:
        text += (f"; < 0.5 THz: median {low['median_lifetime_ps']:.1f} ps ({low['modes']} modes, "
                 f"{100 * low['resolved_fraction']:.0f} % resolved)")
    return text


TRAP_NOTE = ("differs in size, same direction. The paper's 4× is the pure Auger model over the measured ΔT, which "
             "its trapping model fits; here it is over nclattice's trapping model, in which every band-edge exciton "
             "traps at 1/τ_trap, leaves the Auger pool and deposits nothing (--trap-energy 0; the photon's excess "
             "energy is not counted in either model). That model's heating rises in 1.5-2.4 ps, while the "
             "measured ΔT at 340 nm rises in ≈ 20-23 ps (low-Q peaks; ΔG at 4.1 and 7.1 Å), like the Auger-only "
             "model here: so the paper's trapping equations (Supplementary Section F, not in the main text) differ "
             "from this reading. Not stated there: whether trapping removes an exciton or the whole NC from Auger, "
             "whether band-edge holes still trap (the 510 nm data say they do not), and what heat trapping deposits. "
             "A trap releasing 0.13 (τ_trap 3.5 ps) or 0.06 (6 ps) exciton energies would give 4×, with the heat "
             "still arriving within a few ps")


PBSE_NOTE = ("partly agrees: attachment lowers the <100> slopes, as measured, but lowers [111] as well (measured: "
             "higher). Reduced protocol, stated: the 6 nm dot (3,696 atoms, {100} facets 6.1 nm apart, polar {111} "
             "facets half filled) alone, and the same dot repeated along x as an infinite oriented-attached chain "
             "(3,696 atoms per cell); 90 K (the paper's base temperature), 170 and 250 K, each after a 3 ps anneal "
             "at 300 K and minimisation, 5 ps equilibration and 20 ps production (the campaign item: 5 "
             "temperatures, 20/100 ps). The slope of ⟨u_n²⟩ along a direction is the Δ⟨u_n²⟩ per kelvin of "
             "heating that the Bragg peaks of that direction see; single-dot 'individual' values average its "
             "three <100> axes. The ratios carry 3-8 % standard errors, the single dot's most: at 250 K 47 of its "
             "surface atoms (one by 1.9 Å) left their sites, against 20 in the chain, and its z slope lies 11 % "
             "above its x and y slopes, most likely from those jumps; against the x and y slopes alone the chain's "
             "[111] is still 4 % lower. At 3 nm and 300 K the same comparison gave 5 % lower along, 10 % across "
             "and 12 % lower "
             "for [111]. Suspected, not tested, for [111]: the measured dots keep ligands and attach through necks "
             "after partial ligand removal, while here the facets are bare and the contact is perfectly epitaxial. "
             "The Schapotschnikow et al. 2010 rigid-ion set gives about half the measured bulk ⟨u²⟩, so only "
             "ratios are compared")

SPIN_NOTE = ("differs by an order of magnitude, by size and method: in these small cubes every Cs sits on the "
             "surface and the triplet moves them by up to 1.6 Å, a surface-bound distortion, while the paper's "
             "exciton spreads over a 3 nm crystal whose interior holds it; GFN2-xTB, not the paper's PBE (on the "
             "11-atom cluster the two differ 2× and in the sign of the Cs move). The cubes are made neutral by "
             "Cs vacancies, like the paper's")

ROWS = [
    Row(GUZELTURK, "⟨u²⟩(T) of the 8 ML CdSe/CdS NC linear over 150-500 K", "linear (slope b)", "calibrate-8ml",
        _calibration,
        note="agrees (linear); reduced protocol, stated: 10,901 atoms at the paper's 150-500 K in 50 K steps, "
             "each with a 3 ps anneal at 300 K, minimisation, 3 ps equilibration and 6 ps production (the "
             "campaign item: 20/100 ps); Zhou 2013 Stillinger-Weber, not the paper's pair potential. The "
             "paper's slope is in its supplement, not the main text, so only linearity is compared. The off-site "
             "atoms are all surface "
             "atoms; their jumps are included in ⟨u²⟩"),
    Row(GUZELTURK, "ΔT at 510 nm, 2.1 mJ cm⁻² (quasi-equilibrium)", "≈ 13 K", "auger-510nm", _auger_delta_t,
        note="agrees, by the paper's own consistency check (its Auger model reproduces the measured amplitude), "
             "not by converting its data: the measured Δ⟨u²⟩ behind the 13 K is only plotted (Fig. 2b inset), so "
             "`nclattice calibrate --apply` cannot be run on it. Here ΔT = E_X ΔE / (3 N k_B): the Auger model's "
             "energy per NC at ⟨N⟩ = 21, the 10,901-atom 8 ML model NC of the calibration row, and the classical "
             "heat capacity an MD calibration samples. Assumed, not from the paper's main text: E_X = 2.0 eV (a "
             "3 nm CdSe core under a thick CdS shell has its first exciton near 600-620 nm); ΔT scales as "
             "6.9 K per eV of E_X. Not counted, as in the paper's model: the pump photon's excess energy over "
             "the gap (2.43 eV − E_X per exciton), which cooling would put in within a ps (≈ +3 K)"),
    Row(GUZELTURK, "ΔG(r) dips at the pair peaks, ΔT = 14 K at 300 K", "≈ 2.5-2.6, 4.1-4.3, 7.0-7.1 Å",
        "delta-t-8ml", _delta_g,
        note="agrees; reduced protocol, stated: 10,901 atoms, 5 ps equilibration and 20 ps production per "
             "temperature (the campaign item: 20/200 ps), frames every 50 fs, after a 3 ps anneal at 300 K and "
             "minimisation (both temperatures start from the same minimum; without the anneal about 265 surface "
             "atoms left their sites at each temperature, with it 88/95, all on the surface); Zhou 2013 "
             "Stillinger-Weber, not the paper's pair potential; electron weights. The F(Q) route's curves are in "
             "delta_g_fq.csv"),
    Row(GUZELTURK, "phonon lifetimes of the 4 ML NC at 300 K", "mostly < 1 ps; < 0.5 THz modes ~10 ps",
        "phonons-4ml", _phonons,
        note="partly agrees. Reduced protocol, stated: 3,401 atoms, all 10,203 modes (dense Hessian), 10 ps "
             "Langevin then 40 ps NVE, 20 ps correlation window (the campaign item: 20/100/40 ps); lifetimes from "
             "the Langevin friction kernel by a numerical Laplace transform, as in the paper. The slowest modes "
             "(< 0.5 THz) come out near 10 ps as published, but as lower bounds (longer than a third of the "
             "window). Most modes are not below 1 ps here (median 3-4 ps, 12 % below 1 ps). First suspect, not "
             "tested: the potential (Zhou 2013 Stillinger-Weber here, the paper's CdSe/CdS pair potential there) "
             "and its anharmonicity. 115 surface atoms (no anneal before the minimisation) left their sites "
             "during the MD"),
    Row(GUZELTURK, "Auger heating rise time, ⟨N⟩ = 21, τ_AR = 625 ps", "≈ 200 ps", "auger-510nm", _auger,
        note="differs 2×, not a bug: nclattice implements the paper's stated model (Auger events at "
             "N(N−1)/2τ_AR with τ_AR the biexciton lifetime, one exciton's energy to the lattice per event, "
             "Poisson ⟨N⟩; the Gillespie ensemble equals the exact master equation). The ≈ 200 ps is the "
             "paper's single-exponential fit of the measured ΔT(t), which it says this model reproduces; "
             "at ⟨N⟩ = 21 the model cannot rise that slowly: its 63 % rise time needs no fit window and lies "
             "near the deterministic 2(e − 1)τ_AR/⟨N⟩ = 102 ps, and fits over 0.5-3 ns windows give 75-107 ps. "
             "Its 63 % rise is 180 ps at ⟨N⟩ = 10 (1 mJ cm⁻²); at ⟨N⟩ = 21 the rise scales with τ_AR, so "
             "200 ps would need τ_AR ≈ 1.3 ns, twice the measured biexciton lifetime. The paper's equations (its "
             "Supplementary Section F) are not in the main text; counting the photon's excess energy as "
             "prompt heat would shorten the rise, not lengthen it"),
    Row(GUZELTURK, "340 nm: pure Auger model over hot-hole trapping, ΔT amplitude", "≈ 4×", "trapping-340nm-3.5ps",
        lambda d: _trap(d, "3.5"), note=TRAP_NOTE),
    Row(GUZELTURK, "340 nm: pure Auger model over hot-hole trapping, ΔT amplitude", "≈ 4×", "trapping-340nm-6ps",
        lambda d: _trap(d, "6"), note="the paper's upper τ_trap; same model and caveats as the row above"),
    Row(GUZELTURK, "localized disorder time constants (ΔG ratio; Q6 − Q3)", "≈ 3.5 ps; ≈ 6 ps", None,
        command="nclattice ued analyze <measured data> --disorder-peaks Q6 Q3",
        note="needs the measured UED series; the shipped series are synthetic"),
    Row(YUE, "⟨Δu²⟩ along <100> / <111>, attached vs individual", "attached: lower <100>, higher <111>",
        "pbse-6nm-chain", _pbse, note=PBSE_NOTE),
    Row(SHEN, "singlet → triplet relaxation energy, Cs200Pb125Br450 (5 vacancy models)", "56 meV (mean)", None,
        command="nclattice campaign examples/papers/cspbbr3.yaml (writes the CP2K inputs; run them with CP2K)",
        note="not run here: five 775-atom PBE/DZVP relaxations in two spin states. On this 2-core, 24 GB machine "
             "a 64-atom CsPbBr3 singlet at DZVP needed 16 GB, and the 11-atom Cs4PbBr6 took 99 min for both "
             "states: a cluster's job. The rows below give the same quantity at the xTB level for the clusters "
             "that fit here"),
    Row(SHEN, "gap of the relaxed states", "2.479 eV", None,
        command="nclattice campaign examples/papers/cspbbr3.yaml (CP2K)",
        note="as the row above: needs the 775-atom PBE relaxations"),
    Row(SHEN, "singlet → triplet relaxation energy at the paper's level, 11 atoms", "56 meV (Cs200Pb125Br450, PBE)",
        "spin-cp2k-cs4pbbr6", _spin, material="Cs4PbBr6 cluster (for CsPbBr3)",
        note="differs by size: the neutral Cs4PbBr6 cluster (one octahedron with four Cs) is the largest PBE "
             "relaxation of both states run here. PBE localises the triplet on one Br-Pb-Br axis: the two trans "
             "Br move out by 1.65 Å, the other four Br and the Cs move in (0.16 and 0.22 Å). Defaults: 5 Å "
             "vacuum, DZVP-MOLOPT-SR-GTH, GTH-PBE, UKS, fmax 0.05 eV/Å. The wall time includes a stop and "
             "resume from the checkpoints"),
    Row(SHEN, "singlet → triplet relaxation energy at the xTB level, 11 atoms", "56 meV (Cs200Pb125Br450, PBE)",
        "spin-xtb-cs4pbbr6", _spin, material="Cs4PbBr6 cluster (for CsPbBr3)",
        note="differs by size and method: on the same cluster GFN2-xTB relaxes half as much as PBE (row above) "
             "and keeps the octahedron symmetric (all six Br in by 0.05 Å, the Cs out by 0.65 Å): the two "
             "methods disagree on the sign of the Cs and axial Br displacements"),
    Row(SHEN, "singlet → triplet relaxation energy at the xTB level, 64 atoms", "56 meV (Cs200Pb125Br450, PBE)",
        "spin-xtb-cs20pb8br36", _spin, note=SPIN_NOTE),
    Row(SHEN, "(200) / (110) peak shifts, surface-biased random hole, 120 crystals 3-15 nm",
        "(200) inward, (110) outward", "random-hole-surface", lambda d: _shifts(d),
        note="signs agree (default restoring constants, Br weaker than Cs and Pb)"),
    Row(SHEN, "(110) shift, centrally localized hole", "never outward", "random-hole-centre", lambda d: _shifts(d),
        note="agrees for the default restoring constants; the paper scans them, this is one choice"),
    Row(SHEN, "occupation after the pulse, γ0·t = 1, γ1 = 0.4 γ0", "P0/P1/P2 = 0.368/0.504/0.128; mean 0.760",
        "occupation",
        lambda d: f"{d['p0']:.3f}/{d['p1']:.3f}/{d['p2']:.3f}; mean {d['mean_pairs']:.3f}", note="agrees"),
    Row(VONK, "state filling at n̄ = 7.1 without trapping", "n̄_eff = n̄; gain → A0", "state-filling-no-trapping",
        _sf, note="the no-trapping reference"),
    Row(VONK, "state filling at n̄ = 7.1, P_trap = 0.15 (simple model)",
        "n̄_eff ≈ 1.5; gain saturates at 0.25 A0", "state-filling-ptrap-0.15", _sf,
        note="differs; the published numbers are measurements (Figs. 1e, 5d), which the paper's simple model "
             "only 'qualitatively' matches at P_trap ≈ 15 %. nclattice implements its stated rules: P_cool(n) = "
             "(1 − P_trap)^n per excitation (85 % and 61 % for n = 1 and 3, as in the paper), a QD with a trapped "
             "carrier adds no band-edge bleach, g_e = 2, g_h = 4, Poisson n̄. With them n̄_eff = 1.5 at n̄ = 7.1 "
             "needs P_trap = 0.097 (--p-trap 0.097), within the 7.5-10.5 % the paper measures by pump-push-probe. "
             "The simple model has no Stokes shift, so gain needs more than half-inverted QDs on average; the "
             "paper reproduces the 0.25 A0 gain only with the adapted model (next row)"),
    Row(VONK, "refined model (30 % oscillator strength kept, 70 meV Stokes shift, P̄_trap ≈ 27 %)",
        "n̄_eff ≈ 1.5; gain saturates at 0.25 A0", "state-filling-refined", _sf,
        note="differs for want of one number. With every QD trapping (as here), bleach and gain fall as "
             "e^{−P n̄} at high n̄: the gain peaks at 0.24 A0 near n̄ = 3 and drops to 0.14 A0 at n̄ = 7.1, "
             "where the measured bleach and gain saturate instead. The paper's adapted model also has 'a fraction "
             "of QDs without trapping', which makes the curves saturate, but the main text does not give its "
             "value; this row has none. At the same mean P̄_trap = 0.27, an untrapped fraction of 0.4 "
             "(--untrapped-fraction 0.4 --p-trap 0.45) gives n̄_eff = 1.46 and gain 0.38 A0 at n̄ = 7.1. Also "
             "chosen here, not given in the main text: Gaussian lines of 0.1 eV FWHM (wider lines give less "
             "gain), emission x̄/2 against absorption 1 − x̄/2 of the band-edge filling x̄, and a QD with a "
             "trapped carrier keeping 30 % of a one-pair bleach and emission"),
]


def _load(run: str) -> tuple[dict, dict] | None:
    folder = RESULTS / run
    result, record = folder / {**RUNS, **LONG_RUNS}[run][1], folder / "run.json"
    if not (result.is_file() and record.is_file()):
        return None
    return json.loads(result.read_text(encoding="utf-8")), json.loads(record.read_text(encoding="utf-8"))


def _planned_command(run: str | None) -> str:
    if run in LONG_RUNS:
        return LONG_RUNS[run][0]
    return "nclattice " + shlex.join(RUNS[run][0]) if run else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = ["# Reproduction of the published numbers", "",
             "Generated by `scripts/reproduction_table.py` from the result files under `docs/reproduction/`; "
             "do not edit by hand. A row reads *not run yet* until its command has run and its result is "
             "committed. Wall times are of one run on a shared 2-core development machine (upper bounds).", "",
             "| paper | material | quantity | published | nclattice | command | wall time | note |",
             "|---|---|---|---|---|---|---|---|"]
    counts = {"computed": 0, "not run yet": 0}
    for row in ROWS:
        loaded = _load(row.run) if row.run else None
        if loaded is None:
            value, wall = "not run yet", ""
            command = row.command or _planned_command(row.run)
            counts["not run yet"] += 1
        else:
            result, record = loaded
            value, wall, command = row.value(result), f"{record['wall_s']:.0f} s", record["command"]
            counts["computed"] += 1
        lines.append("| " + " | ".join(_cell(c) for c in (row.paper, row.material or MATERIAL[row.paper],
                                                           row.quantity, row.published, value,
                                                           f"`{command}`" if command else "", wall, row.note))
                     + " |")
    lines += ["", f"{counts['computed']} rows computed, {counts['not run yet']} not run yet.", ""]
    return "\n".join(lines)


def run(ids: list[str]) -> None:
    nclattice = Path(sys.executable).parent / "nclattice"
    for run_id in ids or list(RUNS):
        if run_id not in RUNS:
            raise SystemExit(f"unknown run '{run_id}'; choose from {', '.join(RUNS)}")
        out = RESULTS / run_id
        argv = [*RUNS[run_id][0], "--out", str(out.relative_to(ROOT))]
        t0 = time.perf_counter()
        subprocess.run([str(nclattice), *argv], cwd=ROOT, check=True)
        for bulky in out.glob("*.npz"):  # arrays stay out of the repository: JSON and figures only
            bulky.unlink()
        record = {"command": "nclattice " + shlex.join(argv), "wall_s": round(time.perf_counter() - t0, 1)}
        (out / "run.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/reproduction.md is stale")
    parser.add_argument("--run", nargs="*", metavar="ID", help="run these rows' commands first (none: all)")
    args = parser.parse_args(argv)
    if args.run is not None:
        run(args.run)
    text = render()
    if args.check:
        current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.is_file() else ""
        if current != text:
            print(f"{DOCUMENT.name} is stale: run scripts/reproduction_table.py", file=sys.stderr)
            return 1
        print(f"{DOCUMENT.name} is up to date")
        return 0
    DOCUMENT.parent.mkdir(parents=True, exist_ok=True)
    DOCUMENT.write_text(text, encoding="utf-8")
    print(f"written {DOCUMENT.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reproduction table: every published number of the four source papers beside nclattice's value.

    python scripts/reproduction_table.py                 # write docs/reproduction.md from the JSONs
    python scripts/reproduction_table.py --check         # exit 1 if docs/reproduction.md is stale
    python scripts/reproduction_table.py --run [ID ...]  # run the cheap rows' commands, then write

Values come only from result JSONs committed under docs/reproduction/<run id>/ (written by the
commands listed in RUNS, with their wall time in run.json); a row whose result is not there
reads "not run yet". Nothing here computes or invents a number. The published values and
verdicts are the rows of nclattice/flows/published.py, which campaign reports read too.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from nclattice.flows.published import ROWS  # paper, quantity, published value, verdict: shared with campaign reports

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
    **{f"phonons-cdse2nm-{short}": (
        "nclattice build cdse --diameter 2 -o cdse2nm.extxyz && nclattice phonons cdse2nm.extxyz --potential "
        f"{name} --temperature 300 --equilibration-ps 10 --md-ps 40 --window-ps 20 --out "
        f"docs/reproduction/phonons-cdse2nm-{short} --results runs-phonons-cdse2nm", "phonons.json")
       for short, name in (("sw", "zhou2013-sw"), ("bop", "zhou2014-cdtese-bop"), ("lj", "cosseddu2017-cdse-lj"))},
    "spin-cp2k-cs4pbbr6": ("nclattice spin-relax examples/cs4pbbr6.extxyz --backend cp2k "
                           "--out docs/reproduction/spin-cp2k-cs4pbbr6", "spin.json"),
    "spin-xtb-cs20pb8br36": ("nclattice build cspbbr3 --cells 2 --vacancies none --charge-balance trim -o "
                             "c2_trim.extxyz && nclattice spin-relax c2_trim.extxyz --backend xtb "
                             "--out docs/reproduction/spin-xtb-cs20pb8br36", "spin.json"),
}


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


# published row id -> our value in words, from the run's result JSON (rows without one: a command only)
VALUES: dict[str, Callable[[dict], str]] = {
    "calibrate-8ml": _calibration,
    "auger-510nm-delta-t": _auger_delta_t,
    "delta-t-8ml": _delta_g,
    "phonons-4ml": _phonons,
    "phonons-cdse2nm-sw": _phonons,
    "phonons-cdse2nm-bop": _phonons,
    "phonons-cdse2nm-lj": _phonons,
    "auger-510nm-rise": _auger,
    "trapping-340nm-3.5ps": lambda d: _trap(d, "3.5"),
    "trapping-340nm-6ps": lambda d: _trap(d, "6"),
    "pbse-6nm-chain": _pbse,
    "spin-cp2k-cs4pbbr6": _spin,
    "spin-xtb-cs4pbbr6": _spin,
    "spin-xtb-cs20pb8br36": _spin,
    "random-hole-surface": lambda d: _shifts(d),
    "random-hole-centre": lambda d: _shifts(d),
    "occupation": lambda d: f"{d['p0']:.3f}/{d['p1']:.3f}/{d['p2']:.3f}; mean {d['mean_pairs']:.3f}",
    "state-filling-no-trapping": _sf,
    "state-filling-ptrap-0.15": _sf,
    "state-filling-refined": _sf,
}


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
            value, wall, command = VALUES[row.id](result), f"{record['wall_s']:.0f} s", record["command"]
            counts["computed"] += 1
        lines.append("| " + " | ".join(_cell(c) for c in (row.paper, row.material_name, row.quantity, row.published,
                                                           value,
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

"""Validate every shipped parameter set against measured bulk data; write docs/potentials.md.

    .venv/bin/python scripts/validate_potentials.py [--production-ps 20] [--out docs/potentials.md]
        [--only SET ...] [--phonons] [--table-only]

For each set: 0 K lattice constant and bulk modulus against measured values, a 300 K NVT run of
a periodic supercell (phase kept, speed), and per-element ⟨u_n²⟩ at 300 K against the quantum
Debye model with measured Debye temperatures; with --phonons also the harmonic phonons of the
supercell (DOS, highest frequency, harmonic ⟨u_n²⟩). Ratios are reported; no parameter is tuned.
The JSON of all numbers is written beside the table (docs/potentials.json); with --only, the
other sets keep their numbers from that JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from nclattice.potentials import load
from nclattice.tasks.debye import element_mass_amu, msd_1d_angstrom2
from nclattice.tasks.validation import BulkReference, validate

MADELUNG = "O. Madelung, Semiconductors: Data Handbook, 3rd ed., Springer (2004)"
REFERENCES = {
    "schapotschnikow2010-pbse": BulkReference(
        formula="PbSe", lattice="rocksalt", a_angstrom=6.124, spacegroup=225, repeat=(4, 4, 4),
        bulk_modulus_gpa=54.1, debye_temperatures_k={"Pb": 111.0, "Se": 205.0},
        sources=f"a: {MADELUNG}; B = (c11 + 2 c12)/3 with c11 = 123.7, c12 = 19.3 GPa (same handbook); "
                "Debye temperatures Pb 111 K, Se 205 K from neutron displacement parameters, Knight et al., "
                "Mater. Adv. (2022), doi 10.1039/d1ma01093j"),
    "branicio2009-inp-vashishta": BulkReference(
        formula="InP", lattice="zincblende", a_angstrom=5.8687, spacegroup=216, repeat=(4, 4, 4),
        bulk_modulus_gpa=71.1, debye_temperatures_k={"In": 425.0, "P": 425.0},
        sources=f"a, B = (c11 + 2 c12)/3 with c11 = 101.1, c12 = 56.1 GPa and the Debye temperature "
                f"≈ 425 K (one value for both elements: an approximation): {MADELUNG}"),
    "pascazio2022-cspbbr3": BulkReference(
        formula="CsPbBr3", lattice="perovskite", a_angstrom=5.874, spacegroup=221, repeat=(4, 4, 4),
        sources="a of the cubic high-temperature phase (above ≈ 130 °C), C. K. Møller, Nature 182, 1436 "
                "(1958); at 300 K bulk CsPbBr3 is orthorhombic (tilted octahedra), so a cubic cell that "
                "tilts in MD is the measured behaviour, not a failure; no measured B or Debye temperatures used"),
    "zhou2013-sw": BulkReference(
        formula="CdSe", lattice="wurtzite", a_angstrom=4.299, c_angstrom=7.010, spacegroup=186,
        repeat=(5, 3, 3), bulk_modulus_gpa=53.4, debye_temperatures_k={"Cd": 181.7, "Se": 181.7},
        sources=f"a, c and B (Voigt average of c11 = 74.6, c12 = 46.1, c13 = 39.4, c33 = 81.7 GPa): {MADELUNG}. "
                "⟨u_n²⟩: no direct measurement (diffraction displacement parameters of bulk CdSe) was found, so the "
                "comparison is a Debye-model estimate: the quantum Debye model with the heat-capacity Debye "
                "temperature Θ_D(0) = 181.7 K of the same handbook, one value for both elements (an approximation: "
                "it sets Se's ⟨u_n²⟩ 1.42× Cd's by the mass ratio alone, and a low-temperature calorimetric Θ weights "
                "the phonons differently from ⟨u²⟩); the handbook table was not re-read here (quoted as tabulated); "
                "it is below the calorimetric Θ_D(0) of CdS, 236 K, as the heavier anion leads one to expect "
                "(R. Pässler, phys. status solidi (b) (2010), doi 10.1002/pssb.200945158). "
                "Phonons: zone-centre optical modes of bulk wurtzite CdSe measured by infrared reflectivity and "
                "Raman scattering, TO 166-172 cm⁻¹ (5.0-5.2 THz) and LO 210-213 cm⁻¹ (6.3-6.4 THz) (R. Geick, "
                "C. H. Perry and S. S. Mitra, J. Appl. Phys. 37, 1994 (1966)); the LO branch is the top of the "
                "spectrum in the dispersion measured by inelastic neutron scattering (F. Widulle et al., Physica B "
                "263-264, 448 (1999)); the papers were not readable here, the numbers are those widely cited. The "
                "highest mode of a set is compared with LO 6.3 THz; sets without charges (SW, BOP) have no LO-TO "
                "splitting, so their top mode stands for both"),
}
# the other CdSe sets are compared with the same measured bulk wurtzite CdSe
REFERENCES["zhou2014-cdtese-bop"] = replace(REFERENCES["zhou2013-sw"], sources="as zhou2013-sw")
REFERENCES["cosseddu2017-cdse-lj"] = replace(REFERENCES["zhou2013-sw"], sources="as zhou2013-sw")
# measured top of the bulk phonon spectrum (zone-centre LO, THz) per compound, sources above
MEASURED_TOP_PHONON_THZ = {"CdSe": 6.3}


def add_debye_estimates(res: dict, ref: BulkReference, temperature_k: float = 300.0) -> dict:
    """Per element, the quantum Debye-model ⟨u_n²⟩ of the reference's Debye temperatures beside the MD
    value (tasks.debye, the function validate uses): lets --table-only add a reference without
    rerunning the MD."""
    for el, entry in res["md_300k"]["per_element"].items():
        theta = ref.debye_temperatures_k.get(el)
        if theta:
            estimate = msd_1d_angstrom2(element_mass_amu(el), theta, temperature_k)
            entry.update({"debye_u1d_angstrom2": estimate,
                          "ratio_md_to_measured": entry["md_u1d_angstrom2"] / estimate})
    res["reference"] = {**res["reference"], "debye_temperatures_k": dict(ref.debye_temperatures_k),
                        "sources": ref.sources}
    return res


def _phonon_cell(res: dict) -> str:
    ph = res.get("phonons")
    if ph is None:
        return "–"
    top = MEASURED_TOP_PHONON_THZ.get(res["reference"]["formula"])
    vs = f" vs LO {top:g} (×{ph['max_frequency_thz'] / top:.2f})" if top else ""
    text = f"max {ph['max_frequency_thz']:.2f}{vs}, median {ph['median_frequency_thz']:.2f} THz"
    return text + (f"; {ph['imaginary_modes']} imaginary" if ph["imaginary_modes"] else "")


def _row(name: str, res: dict) -> str:
    md = res["md_300k"]
    harmonic = (res.get("phonons") or {}).get("harmonic_u1d_angstrom2", {})
    ratios = "; ".join(f"{el} {v['md_u1d_angstrom2']:.4f}" + (
        f" vs {v['debye_u1d_angstrom2']:.4f} (×{v['ratio_md_to_measured']:.2f})" if "debye_u1d_angstrom2" in v
        else "") + (f" [harmonic {harmonic[el]:.4f}]" if el in harmonic else "") for el, v in md["per_element"].items())
    ref = res["reference"]
    b_ref = f"{ref['bulk_modulus_gpa']:.1f}" if ref["bulk_modulus_gpa"] else "–"
    b_ratio = f" (×{res['bulk_modulus_ratio']:.2f})" if "bulk_modulus_ratio" in res else ""
    phase = (f"{'yes' if md['phase_kept'] else 'no'} (SG {md['spacegroup_time_averaged']}, "
             f"max site dev. {md['max_site_deviation_angstrom']:.2f} Å)")
    c = (f"; c {res['c_angstrom']:.3f} vs {ref['c_angstrom']:.3f} (×{res['c_ratio']:.3f})" if "c_angstrom" in res
         else "")
    a = f"{res['a_angstrom']:.3f} vs {ref['a_angstrom']:.3f} (×{res['a_ratio']:.3f}){c}"
    return (f"| {name} | {ref['formula']} | {a} "
            f"| {res['bulk_modulus_gpa']:.1f} vs {b_ref}{b_ratio} | {phase} | {md['atom_steps_per_s']:.3g} "
            f"({md['atoms']} atoms) | {ratios} | {_phonon_cell(res)} |")


def _dos_figure(results: dict, path: Path) -> None:
    """Phonon DOS of every set that has one, one panel per bulk compound."""
    from nclattice.results import pyplot, save_figure

    with_dos = {name: res for name, res in results.items() if res.get("phonons")}
    if not with_dos:
        return
    plt = pyplot()
    formulas = sorted({res["reference"]["formula"] for res in with_dos.values()})
    fig, axes = plt.subplots(len(formulas), 1, figsize=(5.5, 2.6 * len(formulas)), squeeze=False)
    for ax, formula in zip(axes[:, 0], formulas, strict=True):
        for name, res in with_dos.items():
            if res["reference"]["formula"] == formula:
                ax.plot(res["phonons"]["dos_grid_thz"], res["phonons"]["dos_per_thz"], lw=1, label=name)
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("modes per THz")
        ax.set_title(f"bulk {formula}: harmonic phonon DOS of the supercell", fontsize=9)
        ax.legend(fontsize=7)
    fig.set_layout_engine("tight")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--production-ps", type=float, default=20.0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "potentials.md"))
    parser.add_argument("--only", nargs="*", help="validate only these sets (the others keep their numbers)")
    parser.add_argument("--phonons", action="store_true", help="also the harmonic phonons of the supercell")
    parser.add_argument("--table-only", action="store_true", help="run nothing: rewrite the table from the JSON")
    args = parser.parse_args()
    out = Path(args.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").is_file() else {}
    results = {}
    for name, ref in REFERENCES.items():
        if args.table_only or (args.only and name not in args.only):
            if name in previous:
                results[name] = add_debye_estimates(previous[name], ref)
            continue
        print(f"validating {name} ...", flush=True)
        results[name] = validate(load(name), ref, production_ps=args.production_ps, phonons=args.phonons)
        print(_row(name, results[name]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    _dos_figure(results, out.with_name(out.stem + "_dos.png"))
    lines = [
        "# Shipped interatomic potentials: validation against measured bulk data",
        "",
        "Generated by `.venv/bin/python scripts/validate_potentials.py` (numbers in `docs/potentials.json`).",
        "a, c: 0 K lattice constants of the set vs measured (room temperature); B: Birch-Murnaghan bulk modulus "
        "(GPa) vs measured; phase: space group of the time-averaged structure of a periodic supercell after "
        f"{args.production_ps:g} ps NVT at 300 K (5 ps equilibration, Langevin, 2 fs); speed: atom-steps per "
        "second, one thread, this machine; ⟨u_n²⟩: one-dimensional mean-square displacement per element at "
        "300 K (Å²) from that run vs the quantum Debye model with the Debye temperature of the sources (ratio "
        "MD/reference; a direct measurement only where the sources say the Debye temperature was refined from "
        "measured displacement parameters, PbSe; for InP and CdSe it is a heat-capacity Debye temperature, so "
        "the reference is a Debye-model estimate), and in brackets the classical harmonic value of the same "
        "supercell; phonons: harmonic modes of that supercell at the 0 K lattice constant (its Γ point), highest "
        "(vs the measured zone-centre LO phonon where given) and median frequency (DOS of each set in "
        f"`docs/{out.stem}_dos.png`; – : not computed). Parameters are never tuned to these numbers.",
        "",
        "| set | bulk | a, c (Å) | B (GPa) | phase kept at 300 K | speed (atom-steps/s) "
        "| ⟨u_n²⟩ 300 K, MD vs reference | phonons |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *[_row(name, res) for name, res in results.items()],
        "",
        "Sources of the measured values:",
        "",
        *[f"- {name}: {REFERENCES[name].sources}." for name in results],
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"written {out}")


if __name__ == "__main__":
    main()

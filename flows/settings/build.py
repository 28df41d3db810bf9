"""Settings of a nanocrystal recipe (`nclattice build`, a campaign's ``build:``); the recipe -> builder
mapping is structures/recipes.py."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import FiniteFloat, field_validator, model_validator

from .base import Settings, opt

MAX_BUILD_ATOMS = 2_000_000  # beyond this, building and every analysis exhaust a workstation's memory



class BuildSettings(Settings):
    """One nanocrystal recipe; which options apply depends on ``kind`` (anything else is an error)."""

    kind: Literal["cdse", "cdse-cds", "pbse", "cspbbr3", "inp-znse-zns"] = opt(..., "nanocrystal family")
    diameter_nm: FiniteFloat | None = opt(None, "diameter in nm (cdse; pbse: {100} facet distance)",
                                          alias="diameter", gt=0)
    core_diameter_nm: FiniteFloat | None = opt(None, "core diameter in nm (core/shell kinds)",
                                               alias="core-diameter", gt=0)
    shell_ml: list[int] | None = opt(None, "shell monolayers (cdse-cds: one value; inp-znse-zns: ZnSe ZnS)",
                                     nargs="+")
    preset: Literal["msd", "phonons"] | None = opt(
        None, "cdse-cds shell of the CdSe/CdS UED study: msd = 8 ML, phonons = 4 ML")
    attached: Literal["none", "dimer", "chain", "square"] | None = opt(None, "pbse oriented attachment along <100>")
    facet_ratio: FiniteFloat | None = opt(None, "pbse h111/h100 (default 0.866)", gt=0)
    polar_facets: Literal["half", "full"] | None = opt(
        None, "pbse outer {111} layers: half = every other row kept (dipole-free, stoichiometric; "
        "default), full = as cut (polar, unstable in MD)")
    cells: int | None = opt(None, "cspbbr3 cube edge in PbBr6 octahedra (5 -> Cs200Pb125Br450)", ge=1)
    vacancies: Literal["tetra", "box", "facet4", "none"] | None = opt(None, "cspbbr3 Cs-vacancy pattern")
    phase: Literal["cubic", "orthorhombic"] | None = opt(None, "cspbbr3 phase (default cubic)")
    lattice_constant_angstrom: FiniteFloat | None = opt(None, "lattice constant in Å (pbse, cspbbr3)",
                                                        alias="lattice-constant", gt=0, le=50)
    shape: Literal["cube", "superellipsoid", "octahedron", "sphere"] | None = opt(
        None, "cspbbr3: cube (default) or superellipsoid; inp-znse-zns: octahedron = {111} facets with the "
        "sphere's volume (default; a stable bare core) or sphere (the earlier cut; its bare core reconstructs in MD)")
    size_nm: FiniteFloat | None = opt(None, "cspbbr3 superellipsoid edge length L in nm", alias="size", gt=0)
    exponent: FiniteFloat | None = opt(None, "cspbbr3 superellipsoid exponent p (default 5)", gt=0)
    charge_balance: Literal["report", "require", "trim"] = opt(
        "report", "report the net formal charge, require zero, or trim surface atoms to zero")

    OPTIONS_BY_KIND: ClassVar[dict[str, set[str]]] = {
        "cdse": {"diameter_nm"},
        "cdse-cds": {"core_diameter_nm", "shell_ml", "preset"},
        "pbse": {"diameter_nm", "attached", "facet_ratio", "polar_facets", "lattice_constant_angstrom"},
        "cspbbr3": {"cells", "vacancies", "phase", "lattice_constant_angstrom", "shape", "size_nm", "exponent"},
        "inp-znse-zns": {"core_diameter_nm", "shell_ml", "shape"},
    }

    @field_validator("shell_ml", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return [v] if isinstance(v, (int, float, str)) else v

    @model_validator(mode="after")
    def _applies(self) -> Self:
        given = {k for k in self.model_fields_set if getattr(self, k) is not None} - {"kind", "charge_balance"}
        stray = given - self.OPTIONS_BY_KIND[self.kind]
        if stray:
            raise ValueError(f"{', '.join('--' + self.option_name(s) for s in sorted(stray))} does not apply to "
                             f"'{self.kind}'")
        from ...structures.recipes import estimated_atoms

        name, params = self.builder()
        atoms = estimated_atoms(name, params)
        if atoms > MAX_BUILD_ATOMS:
            raise ValueError(f"this {self.kind} would hold about {atoms:.2g} atoms, more than the "
                             f"{MAX_BUILD_ATOMS:,} this tool builds; choose a smaller size")
        return self

    def builder(self) -> tuple[str, dict[str, Any]]:
        """The builder name and its keyword arguments (structures.build(name, **params))."""
        from ...structures.recipes import builder_call

        return builder_call(self)

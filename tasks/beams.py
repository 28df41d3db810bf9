"""Default beams and Bragg peaks of the experiments the project models, in one place.

No imports: the settings models (import-light) read these as well as the physics.
"""

# X-ray photons of the CsPbBr3 XFEL study (Shen et al.) and MeV electrons of the CdSe/CdS UED study
# (Guzelturk et al.), in keV
DEFAULT_ENERGY_KEV = {"xray": 13.6, "electron": 3700.0}

# the pseudo-cubic CsPbBr3 peaks whose intensity changes the XFEL study reports
DEFAULT_HKL = ("200", "110", "111", "400")

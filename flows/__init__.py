"""Compositions of the tasks into capabilities (calibration, ΔT, phonons, spin relaxation,
diffraction, UED analysis, kinetics), their settings models, the registry and campaigns.

Importing this package changes nothing in the process (no environment variables, no Prefect):
Prefect is configured and imported only where a flow really runs under it (flows/deployments.py,
campaigns).
"""

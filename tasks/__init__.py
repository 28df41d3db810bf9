"""Science kernels: plain typed functions (arrays and small dataclasses in and out)."""

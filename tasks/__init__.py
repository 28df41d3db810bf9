"""Science kernels: plain typed functions (arrays and small dataclasses in and out)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def lazy_prefect_tasks(namespace: dict[str, Any], tasks: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that wraps kernels as Prefect tasks on first access.

    ``tasks`` maps the task's attribute name to the kernel's name in ``namespace``; Prefect
    is imported only when a wrapper is first used (it takes seconds to import).
    """

    def __getattr__(name: str) -> Any:
        if name in tasks:
            from prefect import task

            wrapped = task(namespace[tasks[name]], name=tasks[name])
            namespace[name] = wrapped
            return wrapped
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    return __getattr__

"""Names a package exports but imports only when first used, so that importing the package stays cheap
(`artlens --help` must not load numpy, SQLAlchemy or SciPy)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, namespace: dict[str, Any], where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: a name in `where` (name -> module) is imported on first use
    and kept in `namespace` (the package's globals), so later lookups cost nothing."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        namespace[name] = value
        return value

    return __getattr__

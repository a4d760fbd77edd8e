"""Print the requirements that pyproject.toml declares, one per line, for ``pip install -r``.

The Dockerfile installs these (and TensorFlow) in a layer of their own, before it
copies the project's code, so that a code change does not reinstall them.

    python3 pyproject_deps.py PYPROJECT [EXTRA ...]
"""
from __future__ import annotations

import sys
import tomllib


def requirements(pyproject_path: str, extras: list[str]) -> list[str]:
    """The project's dependencies plus those of the named optional groups."""
    with open(pyproject_path, "rb") as fh:
        project = tomllib.load(fh)["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"{pyproject_path}: no optional-dependencies group {', '.join(unknown)} "
                         f"(groups: {', '.join(sorted(optional))})")
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        reqs.extend(optional[extra])
    return reqs


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print("\n".join(requirements(sys.argv[1], sys.argv[2:])))

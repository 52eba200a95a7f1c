"""`releases` installed the way users install it, for the benchmarks that time whole commands.

`make install` makes an editable (development) install: its import hook is loaded by every
Python process the virtualenv starts (`site` imports `__editable___releases_*_finder`, ~20 ms
here, visible with `python -X importtime -c pass`). `pipx install .` and `pip install .` make a
regular install instead: the package copied into site-packages, compiled, and a `releases`
console script. This module makes such an install of a checkout: a new virtualenv, `pip
install --no-deps CHECKOUT` into it, and the dependencies (typer, gitpython, ...) taken from
this virtualenv through a `.pth` line, which adds the directory to sys.path without running
the editable install's hook.
"""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
from pathlib import Path


def install(checkout: Path, into: Path) -> Path:
    """A regular install of `checkout` in a new virtualenv at `into`; its `releases` script."""
    pip = [sys.executable, "-m", "pip", "--python", str(into / "bin" / "python")]
    steps = [
        [_base_python(), "-m", "venv", "--without-pip", str(into)],
        # This virtualenv's pip installs into the new one; the build backend (setuptools) is
        # fetched as for `make install` (pip's cache, else the index).
        [*pip, "install", "--quiet", "--no-deps", str(checkout)],
    ]
    for step in steps:
        done = subprocess.run(step, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(step)} failed: {done.stderr.decode().strip()}")
    purelib = sysconfig.get_path("purelib", vars={"base": str(into), "platbase": str(into)})
    dependencies = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "releases-bench-dependencies.pth").write_text("\n".join(dependencies) + "\n")
    script = into / "bin" / "releases"
    if not script.exists():
        raise SystemExit(f"{script} was not made by pip install {checkout}")
    return script


def _base_python() -> str:
    """The interpreter this virtualenv was made from (same version, no site-packages of ours)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return str(candidate) if candidate.exists() else sys.executable

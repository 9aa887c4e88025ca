"""The Docker image holds every package that pyproject installs (the image could not be built
here, no Docker engine; a package missing from its COPY lines makes ``pip install .`` leave out a
domain whose entry point the kernel then fails to load)."""

from __future__ import annotations

import re
import tomllib

from tests.servers import ROOT


def test_the_image_copies_every_package_pyproject_installs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert packages <= copied, f"Dockerfile does not copy {sorted(packages - copied)}"


def test_the_image_compiles_the_matching_kernels_at_build_time() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "choso match warm-up" in dockerfile

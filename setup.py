"""Map the top-level folders onto the `berth` import package.

The repository keeps `core/`, `plugins/`, `cli/`, `proto/` and `testing/` at
the top (see DESIGN.md); they install as `berth.core`, `berth.plugins.*`, ...
`berth` itself is an implicit namespace package so nothing else collides.
"""
from setuptools import find_packages, setup

ROOTS = {
    "core": "berth.core",
    "plugins": "berth.plugins",
    "cli": "berth.cli",
    "proto": "berth.proto",
    "testing": "berth.testing",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={name: ["py.typed", "*.proto", "*.json", "**/*.proto", "**/*.json"] for name in packages},
    include_package_data=True,
)

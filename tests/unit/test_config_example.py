"""config.toml.example must be exactly what `berthd config default` prints,
so every option it lists exists, with its real default and a comment."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib

from berth.cli.daemon import default_config_text
from berth.core import config as cfg
from berth.core._loader import collect

REPO = pathlib.Path(__file__).resolve().parents[2]


def _default_output() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "berth.cli.daemon", "config", "default"],
        capture_output=True, text=True, check=True,
    )
    return proc.stdout


def test_example_matches_config_default() -> None:
    # Built-in plugins only: a third-party plugin installed in this venv
    # (scripts/up.sh installs the example one) adds its own section.
    example = (REPO / "config.toml.example").read_text()
    expected = default_config_text(collect(entry_points=False))
    assert example == expected, "regenerate with: .venv/bin/berthd config default > config.toml.example"


def test_config_default_command_prints_the_builtin_sections() -> None:
    text = _default_output()
    assert text.startswith("# berth daemon configuration")
    assert "io.containerd.metadata.v1.lmdb" in tomllib.loads(text)["plugins"]


def test_example_loads_as_a_valid_config() -> None:
    text = (REPO / "config.toml.example").read_text()
    config = cfg.loads(text, file="config.toml.example")
    assert config.root == "/var/lib/berth"
    assert "io.containerd.metadata.v1.lmdb" in tomllib.loads(text)["plugins"]


def test_every_core_key_has_a_comment() -> None:
    text = (REPO / "config.toml.example").read_text()
    for key in cfg.FIELD_DOCS:
        assert f"# {cfg.FIELD_DOCS[key].splitlines()[0]}" in text, key

"""config.toml.example must be exactly what `berthd config default` prints,
so every option it lists exists, with its real default and a comment."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import tomllib

from berth.core import config as cfg

REPO = pathlib.Path(__file__).resolve().parents[2]


def _default_output() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "berth.cli.daemon", "config", "default"],
        capture_output=True, text=True, check=True,
    )
    return proc.stdout


def test_example_matches_config_default() -> None:
    example = (REPO / "config.toml.example").read_text()
    assert example == _default_output(), "regenerate with: .venv/bin/berthd config default > config.toml.example"


def test_example_loads_as_a_valid_config() -> None:
    text = (REPO / "config.toml.example").read_text()
    config = cfg.loads(text, file="config.toml.example")
    assert config.root == "/var/lib/berth"
    assert "io.containerd.metadata.v1.lmdb" in tomllib.loads(text)["plugins"]


def test_every_core_key_has_a_comment() -> None:
    text = (REPO / "config.toml.example").read_text()
    for key in cfg.FIELD_DOCS:
        assert f"# {cfg.FIELD_DOCS[key].splitlines()[0]}" in text, key

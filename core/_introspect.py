"""The core's Introspector: plugin outcomes and the persisted server uuid."""
from __future__ import annotations

import os
import pathlib
import uuid
from typing import TYPE_CHECKING, final

from berth.core.introspection import Introspector, PluginInfo

if TYPE_CHECKING:
    from berth.core._loader import Loader

__all__ = ["CoreIntrospector", "UUID_DIR"]

UUID_DIR = "io.containerd.service.v1.introspection-service"


@final
class CoreIntrospector(Introspector):
    def __init__(self, loader: "Loader", root: pathlib.Path) -> None:
        self._loader = loader
        self._uuid = _load_uuid(root / UUID_DIR / "uuid")

    def plugins(self) -> list[PluginInfo]:
        return self._loader.plugins()

    def server_uuid(self) -> str:
        return self._uuid


def _load_uuid(path: pathlib.Path) -> str:
    """Read the uuid, or create it once (written to a temp file, then renamed)."""
    try:
        text = path.read_text().strip()
        return str(uuid.UUID(text))
    except (FileNotFoundError, ValueError):
        pass
    os.makedirs(path.parent, mode=0o711, exist_ok=True)
    value = str(uuid.uuid4())
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(value)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return value

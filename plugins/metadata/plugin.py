"""Registration of the LMDB metadata plugin (``io.containerd.metadata.v1.lmdb``)."""
from __future__ import annotations

import dataclasses
import os
from typing import final

from berth.core.namespaces import NamespaceStore
from berth.core.plugin import InitContext, Registration, hookimpl

from .db import MetaDB
from .namespaces import LmdbNamespaceStore

__all__ = ["Config", "MetadataPlugin"]

TYPE = "io.containerd.metadata.v1"


@dataclasses.dataclass(kw_only=True)
class Config:
    map_size: int = dataclasses.field(
        default=16 * 1024**3,
        metadata={"doc": "LMDB map size in bytes: address space reserved up front; the file grows as used."},
    )

    def __post_init__(self) -> None:
        if self.map_size < 1024 * 1024:
            raise ValueError(f"map_size must be at least 1048576 bytes (found {self.map_size})")


@final
class MetadataPlugin(LmdbNamespaceStore):
    """The metadata instance: the namespace store and the opened database."""

    def __init__(self, db: MetaDB, exchange: object) -> None:
        super().__init__(db, exchange)
        self.db = db

    def close(self) -> None:
        self.db.close()


async def init(ctx: InitContext) -> MetadataPlugin:
    os.makedirs(ctx.root, mode=0o711, exist_ok=True)
    path = ctx.root / "meta.lmdb"
    db = MetaDB(path, map_size=ctx.config.map_size)
    ctx.meta.exports["path"] = str(path)
    return MetadataPlugin(db, ctx.events)


@hookimpl
def berth_register_plugins() -> list[Registration]:
    return [
        Registration(
            type=TYPE,
            id="lmdb",
            init=init,
            config=Config,
            provides=(NamespaceStore,),
        )
    ]

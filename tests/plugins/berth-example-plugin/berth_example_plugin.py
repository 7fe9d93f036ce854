"""An example third-party berth plugin: ``io.example.greeter.v1.hello``.

It reads its ``greeting`` from ``[plugins."io.example.greeter.v1.hello"]``,
shows it in ``berth plugins ls -d`` (exports) and provides a ``Greeter`` on
the service bus for other plugins (``ctx.get(Greeter, "hello")``).
"""
from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable

from berth.core.plugin import InitContext, Registration, hookimpl


@runtime_checkable
class Greeter(Protocol):
    def greet(self, name: str) -> str: ...


@dataclasses.dataclass(kw_only=True)
class Config:
    greeting: str = dataclasses.field(default="hello", metadata={"doc": "Word to greet with."})


class ConfiguredGreeter(Greeter):
    def __init__(self, greeting: str) -> None:
        self.greeting = greeting

    def greet(self, name: str) -> str:
        return f"{self.greeting}, {name}"


async def init(ctx: InitContext) -> ConfiguredGreeter:
    ctx.meta.exports["greeting"] = ctx.config.greeting
    return ConfiguredGreeter(ctx.config.greeting)


@hookimpl
def berth_register_plugins() -> list[Registration]:
    return [
        Registration(
            type="io.example.greeter.v1",
            id="hello",
            init=init,
            config=Config,
            provides=(Greeter,),
        )
    ]

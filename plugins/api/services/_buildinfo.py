"""berth's version and git revision (shared by the daemon and the CLI; no heavy imports)."""
from __future__ import annotations

import functools
import pathlib

__all__ = ["version", "revision"]

# The source tree's root (an editable install runs from a git checkout).
_TREE = pathlib.Path(__file__).resolve().parents[3]


@functools.cache
def version() -> str:
    """The installed distribution's version, e.g. ``0.1.0`` (``unknown`` if not installed)."""
    from importlib import metadata

    try:
        return metadata.version("berth")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def revision(tree: pathlib.Path = _TREE) -> str:
    """The git commit the code runs from, or ``""`` when it is not a git checkout.

    Reads ``.git/HEAD`` and the ref it names (loose or packed) without running
    git, so it costs a few file reads.
    """
    git = tree / ".git"
    try:
        if git.is_file():  # a worktree: "gitdir: <path>"
            text = git.read_text().strip()
            if text.startswith("gitdir:"):
                git = (tree / text.removeprefix("gitdir:").strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if _is_sha(head) else ""
        ref = head.removeprefix("ref:").strip()
        for base in (git, _common_dir(git)):
            loose = base / ref
            if loose.is_file():
                sha = loose.read_text().strip()
                return sha if _is_sha(sha) else ""
            packed = base / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    sha, _, name = line.partition(" ")
                    if name == ref and _is_sha(sha):
                        return sha
    except OSError:
        pass
    return ""


def _common_dir(git: pathlib.Path) -> pathlib.Path:
    common = git / "commondir"
    if common.is_file():
        return (git / common.read_text().strip()).resolve()
    return git


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)

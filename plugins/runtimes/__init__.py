"""Runtimes: the runc-style shim and berth's own OCI runtime (``runc``)."""

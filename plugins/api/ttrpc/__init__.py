"""ttrpc, the RPC protocol of containerd shims: trio and blocking sides.

``server``/``client`` are the trio server and client (the daemon side);
``blocking_server``/``blocking_client`` use only the standard library (and
protobuf), for the shim, which must start fast. This package imports
nothing itself.
"""

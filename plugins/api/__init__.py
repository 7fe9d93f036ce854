"""The daemon's API transports: gRPC (containerd-compatible) and ttrpc.

Importing this package imports nothing heavy: the CLI reaches the blocking
gRPC client through it and must not pay for trio.
"""

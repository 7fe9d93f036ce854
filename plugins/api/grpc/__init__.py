"""gRPC over HTTP/2, written on h2: a trio server and a blocking client.

``berth.plugins.api.grpc.server`` holds the trio server, ``.client`` the
blocking client (no trio), ``.plugin`` the plugin registration. This package
imports nothing itself, so ``import berth.plugins.api.grpc.client`` stays cheap.
"""

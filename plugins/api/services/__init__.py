"""containerd-compatible API services (``io.containerd.grpc.v1.*``) as plugins.

Each module adapts one protobuf service to the bus: it decodes nothing itself
(the transport hands it messages), calls a core interface, and maps the
result back. Registrations live in :mod:`.plugin`.
"""

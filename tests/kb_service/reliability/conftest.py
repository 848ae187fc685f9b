from tests.factories.controlplane import clock, control_plane

__all__ = ["clock", "control_plane"]

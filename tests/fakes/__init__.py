"""Loopback fakes of services that cannot run inside the test suite; each speaks the real wire protocol."""

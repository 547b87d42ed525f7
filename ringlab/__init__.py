"""ringlab: a distributed multi-host traffic test orchestrator for AF_PACKET and zero-copy labs."""

__version__ = "0.1.0"

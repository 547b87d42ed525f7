"""Reaching agents: gRPC clients, inventories, SSH tunnels, the built-in lab, certificates."""

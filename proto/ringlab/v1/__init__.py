"""Generated gRPC contract, version 1 (from agent.proto; regenerate with scripts/gen-proto)."""

API_VERSION = 1

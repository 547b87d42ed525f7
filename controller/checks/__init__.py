"""Before traffic: probing hosts and preflight findings (pure)."""

"""After traffic: contention diagnosis, comparisons and thresholds, change points (pure)."""

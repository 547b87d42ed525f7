"""Terminal views: run tables, probe view, trend tables, width-aware table fitting."""

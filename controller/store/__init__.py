"""Runs kept: the result model, the versioned SQLite store, imports of peer tools' output."""

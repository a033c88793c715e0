"""Where results live: the SQLite review store and atomic file writes."""

"""Reviews to verdicts: panel majority, head-to-head, jury, what a page shows."""

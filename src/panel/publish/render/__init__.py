"""Renderers: Markdown drafts and HTML pages from panels and comparisons."""

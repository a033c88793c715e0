"""Reviews to readers: static site, comparison files, editor workflow, web app."""

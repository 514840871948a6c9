"""Stage 2: extract the article and its metadata from HTML (widget blocks removed by CSS selectors on the
lxml tree, then trafilatura)."""

"""Console panes, one module each."""

"""Command groups of the `crosspost` CLI, one module per feature, registered in crosspost.cli."""

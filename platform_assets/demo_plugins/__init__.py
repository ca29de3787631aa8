"""Plugin sources of the demo catalog, written against the public SDK (`tributary`) only."""

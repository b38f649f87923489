"""Everything Argus knows about verl."""

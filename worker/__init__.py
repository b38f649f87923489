"""Worker agent: finds the head through the record, supervises one raylet, rejoins."""

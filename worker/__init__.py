"""The worker agent: finds the head through the shared FS record, joins, and rejoins."""

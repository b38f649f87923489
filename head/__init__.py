"""Head agent: supervises the Ray head and publishes the head record."""

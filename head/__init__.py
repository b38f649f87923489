"""The head agent: supervises the Ray head and publishes the head record on the shared FS."""

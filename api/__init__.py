"""The REST API (FastAPI) over the Argus core."""

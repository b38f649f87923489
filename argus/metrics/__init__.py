"""Prometheus metrics: the server's (from the DB at scrape time) and the worker node exporter's."""

"""Argus core: settings, errors, task states, the store, services, scheduler, Ray adapter, CLI."""

__version__ = "0.1.0"

"""The ``argus`` command line."""

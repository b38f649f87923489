"""The control plane: the scheduler loop and its side effects (admit/apply, submit, reconcile, loans).

It reads snapshots, asks :mod:`argus.scheduling` what to do and writes the outcome to the
database and Ray. Services and API routers never import it (import-linter contracts).
"""

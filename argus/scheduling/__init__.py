"""Scheduling rules, pure: planner, placement, quota, fair share, preemption, rebalancing, policy.

Nothing here does I/O: no database, no Ray, no services, no control loop (import-linter
contracts in pyproject.toml keep it so). The control package feeds it snapshots and applies
its decisions.
"""

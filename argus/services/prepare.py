"""Server-side checks and compilation of a task spec, shared by submit and the scheduler.

Everything a user can get wrong is checked here before a task is queued: the priority
class, the code and data paths the cluster must see, the verl code path by name, Argus's
own overrides, and the verl overrides against the tree's own hydra config.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
from pathlib import Path

from argus.services.paths import allowed_roots, check_path, check_spec_paths
from argus.verl import check as verl_check
from argus.verl import overrides as verl_overrides
from argus.verl.interpreters import server_ray_version
from argus.verl.trees import TreeEntry, describe, discover_trees, inspect_tree
from argus.errors import InvalidSpec
from argus.scheduling.policy import grace_seconds
from argus.services.policy import PolicySource
from argus.settings import Settings, resolved
from taskspec import (
    CompileContext,
    CompileError,
    CustomTask,
    JobRequest,
    SpecIssue,
    VerlTask,
    VerlTree,
    compile_task,
)
from taskspec.compile import VERL_DRIVER_CPUS, argus_overrides


def _invalid(source: str, issues: list[SpecIssue]) -> InvalidSpec:
    lines = [f"{source}: {i.path}: {i.message}" if i.path else f"{source}: {i.message}" for i in issues]
    return InvalidSpec(
        "\n".join(lines), details=[{"path": i.path, "message": i.message} for i in issues]
    )


class Preparer:
    """Resolves verl code paths and compiles specs with the server's settings."""

    def __init__(self, settings: Settings, policy: PolicySource | None = None):
        self.settings = settings
        self.policy = policy or PolicySource(settings)

    @property
    def shared_root(self) -> Path:
        return resolved(self.settings.shared_root or self.settings.state_dir / "shared")

    @property
    def run_root(self) -> Path:
        """Where each task's attempts get their working directories: ``<run root>/<task id>``."""
        return self.settings.checkpoint_root.parent / "runs"

    def trees(self) -> dict[str, TreeEntry]:
        return discover_trees(self.shared_root, self.settings.verl_trees)

    def tree_for(self, code: str) -> VerlTree:
        """A named code path from the settings, or a directory holding a verl source tree; its
        layout read and its interpreter checked (ValueError says what is wrong)."""
        trees = self.trees()
        if code in trees:
            return inspect_tree(trees[code])
        if "/" in code:
            for entry in trees.values():
                if os.path.realpath(entry.path) == os.path.realpath(code):
                    return inspect_tree(entry)
            python = self.settings.verl_default_python
            python = python if os.path.isabs(python) else shutil.which(python) or python
            return inspect_tree(TreeEntry(code, code, python, "settings"))
        hint = difflib.get_close_matches(code, list(trees), n=1)
        known = ", ".join(sorted(trees)) or "none configured (set ARGUS_VERL_TREES)"
        tip = f"did you mean '{hint[0]}'? " if hint else ""
        raise ValueError(f"'{code}' is not a verl code path this server knows; {tip}known: {known}")

    def cpus_per_node(self, spec: CustomTask | VerlTask) -> float:
        """CPUs per node admission counts: for verl what the tree's layout really reserves (its
        GPU bundles' CPUs, TaskRunner and driver), never less than ``resources.cpus``."""
        gpus = spec.resources.gpus_per_node
        if not isinstance(spec, VerlTask) or gpus.shared or gpus.count < 1:
            return spec.resources.cpus
        try:
            layout = self.tree_for(spec.verl.code).layout
        except (ValueError, OSError) as exc:
            raise _invalid("task", [SpecIssue("verl.code", str(exc))]) from exc
        return max(spec.resources.cpus, layout.cpus_per_node(int(gpus.count), VERL_DRIVER_CPUS))

    def describe_trees(self) -> dict:
        """Every known tree with its interpreter, layout and status (``argus verl trees``)."""
        return {"ray_version": server_ray_version(),
                "items": [describe(entry) for _name, entry in sorted(self.trees().items())]}

    def roots_for(self, owner: str, team: str | None) -> list[Path]:
        trees = [entry.path for entry in self.trees().values()]
        return allowed_roots(self.shared_root, owner, team, [*self.settings.shared_paths, *trees])

    def path_issues(self, spec: CustomTask | VerlTask, owner: str | None,
                    team: str | None) -> list[SpecIssue]:
        """The spec's paths checked as they resolve now (submit, admission, resubmit): a symlink
        swapped since submit must not point a task into another workspace.

        First against the roots that need no look at the verl trees (nearly every path lies in
        a workspace or <shared>/code); only when one is outside them, against every root: the
        same answer, without listing the trees on every submit."""
        if owner is None:
            return []
        near = allowed_roots(self.shared_root, owner, team, list(self.settings.shared_paths))
        if not check_spec_paths(spec, near):
            return []
        return check_spec_paths(spec, self.roots_for(owner, team))

    def check(self, spec: CustomTask | VerlTask, source: str = "task.yaml", *,
              owner: str | None = None, team: str | None = None) -> JobRequest:
        """Raise InvalidSpec with every problem found; return a preview of the job request.

        With an ``owner`` every referenced path must lie inside the owner's allowed roots; a path
        outside them is never looked at on disk."""
        issues: list[SpecIssue] = []
        classes = [c.name for c in self.policy.current().classes]
        if spec.priority not in classes:
            close = difflib.get_close_matches(spec.priority, classes, n=1)
            tip = f"did you mean '{close[0]}'? " if close else ""
            issues.append(SpecIssue("priority", f"'{spec.priority}' is not a priority class; {tip}"
                                    f"use one of: {', '.join(classes)}"))
        issues += self.path_issues(spec, owner, team)
        refused = {issue.path for issue in issues}
        tree = None
        if isinstance(spec, CustomTask) and "code" not in refused:
            if not Path(spec.code).is_absolute() or not Path(spec.code).is_dir():
                issues.append(SpecIssue("code", f"directory '{spec.code}' does not exist where the "
                                        "cluster can see it; use an absolute path on the shared filesystem"))
        elif isinstance(spec, VerlTask) and "verl.code" not in refused:
            try:
                tree = self.tree_for(spec.verl.code)
            except (ValueError, OSError) as exc:
                issues.append(SpecIssue("verl.code", str(exc)))
        if isinstance(spec, VerlTask) and tree is not None:
            issues += self._sealed(spec, tree, owner, team)
        if issues:
            raise _invalid(source, issues)
        try:
            where = str(self.settings.checkpoint_root / f"ID-{spec.name}")  # ID: set when queued
            request = self.compile(spec, task_id=0, attempt=1, checkpoint_dir=where, tree=tree,
                                   run_dir=str(self.run_root / "ID"))
        except CompileError as exc:
            raise _invalid(source, [SpecIssue(exc.path, exc.message)]) from exc
        if isinstance(spec, VerlTask) and tree is not None:
            ctx = CompileContext(task_id=0, attempt=1, checkpoint_dir=where, verl_tree=tree)
            problems, values = verl_check.compose_task(tree, spec.verl.workload, list(spec.verl.overrides),
                                                       argus_overrides(spec, ctx, tree))
            if problems:
                raise _invalid(source, problems)
            request = dataclasses.replace(request, verl_config=values)
        return request

    def _sealed(self, spec: VerlTask, tree: VerlTree, owner: str | None, team: str | None) -> list[SpecIssue]:
        """Overrides that would undo what Argus set or admitted, and paths outside the owner's."""
        sealed = verl_overrides.seal(tree.layout, spec.verl.workload, list(spec.verl.overrides), tree.path)
        issues = list(sealed.issues)
        if owner is not None:
            roots = self.roots_for(owner, team)
            issues += [i for i in (check_path(f, v, roots) for f, v in sealed.paths) if i is not None]
        model = verl_overrides.model_issue(spec.verl.model, tree.path)
        issues += [model] if model else []
        return issues + verl_overrides.env_issues(tree.layout, spec.env)

    def compile(
        self,
        spec: CustomTask | VerlTask,
        *,
        task_id: int,
        attempt: int,
        checkpoint_dir: str,
        tree: VerlTree | None = None,
        argv: list[str] | None = None,
        job_prefix: str = "argus",
        run_dir: str | None = None,
    ) -> JobRequest:
        """The job request; ``argv`` (stored at the first attempt) keeps every attempt's command.

        ``job_prefix``: ``argus-<installation id>``, so that the submission id is unique on a Ray
        cluster that several Argus installations share."""
        if isinstance(spec, VerlTask) and tree is None:
            tree = self.tree_for(spec.verl.code)
        ctx = CompileContext(
            task_id=task_id,
            attempt=attempt,
            checkpoint_dir=checkpoint_dir,
            stop_wait_s=grace_seconds(self.policy.current(), spec.priority),
            worker_resource=self.settings.worker_resource,
            verl_tree=tree,
            job_prefix=job_prefix,
            run_dir=run_dir or str(self.run_root / str(task_id)),
        )
        return compile_task(spec, ctx, argv)

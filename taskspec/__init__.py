"""The task spec: pure (pydantic + YAML). Parsing, errors, GPU strings, compiling to a Ray job."""

from taskspec.compile import CompileContext, JobRequest, compile_task, entrypoint_for
from taskspec.errors import CompileError, SpecError, SpecIssue
from taskspec.gpu import GpuRequest, format_gpus, parse_gpus
from taskspec.model import CustomTask, TaskSpec, VerlTask, resolve_relative_paths
from taskspec.verl import VerlLayout, VerlTree, WorkloadLayout
from taskspec.parse import load_spec, load_spec_data, read_json, spec_json_schema

__all__ = [
    "CompileContext", "CompileError", "CustomTask", "GpuRequest", "JobRequest", "SpecError",
    "SpecIssue", "TaskSpec", "VerlTask", "VerlTree", "compile_task", "entrypoint_for",
    "format_gpus", "load_spec", "load_spec_data", "parse_gpus", "read_json", "resolve_relative_paths",
    "spec_json_schema", "VerlLayout", "WorkloadLayout",
]

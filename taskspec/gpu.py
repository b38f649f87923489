"""GPU resource strings, cube-studio style: ``8``, ``2(V100)``, ``2（V100）``, ``0.5(vgpu)``,
``1(npu,910B)``, ``amd``, ``-1``. See docs/gpu-strings.md for the grammar and the Ray mapping.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

VENDORS = ("nvidia", "amd", "intel", "npu")
KNOWN_MODELS = {
    "nvidia": ("H100", "H200", "H800", "H20", "B200", "GB200", "A100", "A800", "A10", "A30",
               "A40", "L40S", "L40", "L20", "L4", "V100", "T4", "P100", "RTX4090", "RTX3090"),
    "amd": ("MI300X", "MI250X", "MI210", "MI100"),
    "intel": ("GAUDI2", "GAUDI3", "MAX1550", "MAX1100"),
    "npu": ("910B", "910C", "910A", "310P"),
}
MODEL_VENDOR = {m: v for v, models in KNOWN_MODELS.items() for m in models}
ANY_MODEL = {"VGPU", "ANY", "GPU"}
MAX_PER_NODE = 64
FRACTION_DIGITS = 4  # Ray keeps resource amounts to 1/10000
ACCELERATOR_LABEL_AMOUNT = 0.001
_FORM = re.compile(r"^\s*(?P<count>[-+]?[0-9]*\.?[0-9]+)?\s*(?:\((?P<inner>[^()]*)\))?\s*$")


@dataclass(frozen=True)
class GpuRequest:
    """GPUs wanted on each node. ``count`` 0 means none; ``shared`` is the ``-1`` form."""

    count: float = 0.0
    vendor: str = "nvidia"
    model: str | None = None
    shared: bool = False

    @property
    def fraction(self) -> bool:
        return 0 < self.count < 1

    def __str__(self) -> str:
        return format_gpus(self)

    @property
    def ray_resource(self) -> str:
        """Ray's resource name for this device: ``GPU`` (NVIDIA, AMD ROCm, Intel Max), ``HPU``
        (Intel Gaudi) or ``NPU`` (Ascend), as Ray's own accelerator managers name them."""
        if self.vendor == "npu":
            return "NPU"
        if self.model and self.model.startswith("GAUDI"):
            return "HPU"
        return "GPU"

    def to_ray(self) -> tuple[float, dict[str, float]]:
        """(``num_gpus``, custom resources) for one node's share, as a Ray driver asks for it.

        A model becomes ``accelerator_type:<MODEL>: 0.001`` (Ray's convention for a label). A
        fraction is only accounting: Ray does not isolate a GPU's memory or compute. ``-1``
        and ``0`` reserve nothing. See docs/gpu-strings.md.
        """
        if self.shared or self.count == 0:
            return 0.0, {}
        extra: dict[str, float] = {}
        gpus = self.count
        if self.ray_resource != "GPU":
            extra[self.ray_resource] = self.count
            gpus = 0.0
        if self.model:
            extra[f"accelerator_type:{self.model}"] = ACCELERATOR_LABEL_AMOUNT
        return gpus, extra


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"'{text}' is not a GPU count; write a number such as 8 or 0.5")
    if value == -1:
        return -1.0
    if value < 0:
        raise ValueError(f"'{text}' is negative; use a positive count, or -1 for shared GPUs")
    if value > 1 and not value.is_integer():
        raise ValueError(f"'{text}' mixes whole and partial GPUs; use a whole number, or a "
                         "fraction below 1 such as 0.5")
    if value > MAX_PER_NODE:
        raise ValueError(f"'{text}' GPUs on one node is more than any node has (max {MAX_PER_NODE})")
    if round(value, FRACTION_DIGITS) != value:
        raise ValueError(f"'{text}' is finer than Ray can count; use at most "
                         f"{FRACTION_DIGITS} decimals, such as 0.25")
    return value + 0.0 if value else 0.0  # no -0.0


def _model(name: str) -> tuple[str | None, str | None]:
    """(vendor, model) for a model name; an unknown name raises with a close match."""
    upper = name.strip().upper().replace(" ", "")
    if upper in ANY_MODEL:
        return None, None
    if upper.lower() in VENDORS:
        return upper.lower(), None
    if upper in MODEL_VENDOR:
        return MODEL_VENDOR[upper], upper
    close = difflib.get_close_matches(upper, list(MODEL_VENDOR) + [v.upper() for v in VENDORS], n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known models: {', '.join(MODEL_VENDOR)}"
    raise ValueError(f"'{name.strip()}' is not a GPU model Argus knows{hint}")


def parse_gpus(value: object) -> GpuRequest:
    """Parse a GPU string or number strictly; ``ValueError`` says what is wrong and the fix."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a GPU count; write a number such as 8 or a string such as '8(H100)'")
    if isinstance(value, (int, float)):
        count = _number(str(value))
        return GpuRequest(shared=True) if count == -1 else GpuRequest(count=count)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a GPU string such as '8(H100)'")
    text = value.replace("（", "(").replace("）", ")").strip()
    if text.lower() in VENDORS:
        return GpuRequest(count=1.0, vendor=text.lower())
    match = _FORM.match(text)
    if not match or (match.group("count") is None and match.group("inner") is None):
        raise ValueError(f"'{value}' is not a GPU string; write N, N(MODEL), N(VENDOR,MODEL), "
                         "a fraction such as 0.5(vgpu), or -1 for shared")
    count = _number(match.group("count")) if match.group("count") else 1.0
    if count == -1:
        if match.group("inner") is not None:
            raise ValueError(f"'{value}': -1 (shared, no reservation) takes no model")
        return GpuRequest(shared=True)
    vendor, model = "nvidia", None
    inner = match.group("inner")
    parts = inner.split(",") if inner is not None else []
    if any(not p.strip() for p in parts):
        raise ValueError(f"'{value}' has an empty part in its parentheses; write N, N(MODEL) "
                         "or N(VENDOR,MODEL), such as 1(H100) or 1(npu,910B)")
    if len(parts) > 2:
        raise ValueError(f"'{value}': at most a vendor and a model in the parentheses, like 1(npu,910B)")
    for part in parts:
        part_vendor, part_model = _model(part)
        if part_vendor and part_model is None:
            vendor = part_vendor
        elif part_model:
            if len(parts) == 2 and part_vendor != vendor:
                raise ValueError(f"'{value}': {part_model} is a {part_vendor} model, not {vendor}")
            vendor, model = part_vendor or vendor, part_model
    if count == 0 and parts:
        raise ValueError(f"'{value}': zero GPUs takes no model; write 0")
    return GpuRequest(count=count, vendor=vendor, model=model)


def format_gpus(req: GpuRequest) -> str:
    """The canonical string of a request (``parse_gpus(format_gpus(r)) == r``)."""
    if req.shared:
        return "-1"
    count = f"{req.count:.{FRACTION_DIGITS}f}".rstrip("0").rstrip(".")
    inner = [req.vendor] if req.vendor != "nvidia" else []
    if req.model:
        inner.append(req.model)
    if req.fraction and not inner:
        inner = ["vgpu"]
    return f"{count}({','.join(inner)})" if inner else count

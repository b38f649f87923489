"""GPU resource strings: grammar, errors with fixes, the Ray mapping, and property tests."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskspec.gpu import GpuRequest, KNOWN_MODELS, format_gpus, parse_gpus


@pytest.mark.parametrize("text,expected", [
    ("8", GpuRequest(8)),
    (8, GpuRequest(8)),
    ("2(V100)", GpuRequest(2, model="V100")),
    ("2（V100）", GpuRequest(2, model="V100")),
    ("8(h100)", GpuRequest(8, model="H100")),
    ("0.5(vgpu)", GpuRequest(0.5)),
    ("0.5", GpuRequest(0.5)),
    ("1(npu,910B)", GpuRequest(1, vendor="npu", model="910B")),
    ("amd", GpuRequest(1, vendor="amd")),
    ("intel", GpuRequest(1, vendor="intel")),
    ("2(amd,MI300X)", GpuRequest(2, vendor="amd", model="MI300X")),
    ("-1", GpuRequest(shared=True)),
    ("0", GpuRequest(0)),
    (0.25, GpuRequest(0.25)),
    (-1, GpuRequest(shared=True)),
    ("2(amd)", GpuRequest(2, vendor="amd")),
    ("1(intel)", GpuRequest(1, vendor="intel")),
    ("npu", GpuRequest(1, vendor="npu")),
    ("(910b)", GpuRequest(1, vendor="npu", model="910B")),
    (" 4 ( A100 ) ", GpuRequest(4, model="A100")),
    ("2(gaudi2)", GpuRequest(2, vendor="intel", model="GAUDI2")),
    ("8.0", GpuRequest(8)),
])
def test_grammar(text, expected):
    assert parse_gpus(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("8(H10O)", "did you mean 'H100'?"),
    ("1.5", "whole number"),
    ("-2", "negative"),
    ("2(npu,H100)", "H100 is a nvidia model"),
    ("-1(H100)", "takes no model"),
    ("8(", "not a GPU string"),
    (True, "not a GPU count"),
    ("1(a,b,c)", "at most a vendor and a model"),
    ("65", "max 64"),
    (float("nan"), "not a GPU count"),
    (float("inf"), "not a GPU count"),
    (0.00001, "at most 4 decimals"),
    ("0(H100)", "zero GPUs takes no model"),
    (None, "not a GPU count"),
    (["8"], "not a GPU string"),
    ("eight", "not a GPU string"),
])
def test_errors_say_what_to_do(text, expected):
    with pytest.raises(ValueError) as info:
        parse_gpus(text)
    assert expected in str(info.value)


def test_the_did_you_mean_message_is_exact():
    with pytest.raises(ValueError) as info:
        parse_gpus("8(H10O)")
    assert str(info.value) == "'H10O' is not a GPU model Argus knows; did you mean 'H100'?"


@pytest.mark.parametrize("text,expected", [
    ("8(H100)", (8, {"accelerator_type:H100": 0.001})),
    ("8", (8, {})),
    ("2(amd,MI300X)", (2, {"accelerator_type:MI300X": 0.001})),
    ("intel", (1, {})),
    ("2(intel,GAUDI2)", (0, {"HPU": 2, "accelerator_type:GAUDI2": 0.001})),
    ("1(npu,910B)", (0, {"NPU": 1, "accelerator_type:910B": 0.001})),
    ("0.5", (0.5, {})),
    ("-1", (0, {})),
    ("0", (0, {})),
])
def test_ray_mapping(text, expected):
    assert parse_gpus(text).to_ray() == expected


def test_fraction_and_shared_flags():
    assert parse_gpus("0.5(vgpu)").fraction and not parse_gpus("1").fraction
    assert parse_gpus("-1").shared and parse_gpus("-1").count == 0


vendor_models = st.sampled_from([(v, m) for v, ms in KNOWN_MODELS.items() for m in (None, *ms)])
counts = st.one_of(st.integers(1, 64).map(float), st.integers(1, 9999).map(lambda n: n / 10000))
requests = st.one_of(
    st.just(GpuRequest(shared=True)),
    st.just(GpuRequest()),
    st.tuples(counts, vendor_models).map(lambda c: GpuRequest(c[0], vendor=c[1][0], model=c[1][1])),
)


@given(requests)
def test_format_then_parse_round_trips(req):
    assert parse_gpus(format_gpus(req)) == req
    assert parse_gpus(format_gpus(req).lower()) == req


@given(requests)
def test_numbers_and_strings_agree(req):
    if req.model is None and req.vendor == "nvidia":
        assert parse_gpus(-1 if req.shared else req.count) == req


garbage = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="0123456789.-+()（）,abcdefghnpuvAHIMX ", max_size=16),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
)


@given(garbage)
def test_garbage_only_ever_raises_value_error(value):
    try:
        req = parse_gpus(value)
    except ValueError:
        return
    assert req.shared or 0 <= req.count <= 64

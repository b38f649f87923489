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
])
def test_errors_say_what_to_do(text, expected):
    with pytest.raises(ValueError) as info:
        parse_gpus(text)
    assert expected in str(info.value)


def test_ray_mapping():
    assert parse_gpus("8(H100)").to_ray() == (8, {"accelerator_type:H100": 0.001})
    assert parse_gpus("1(npu,910B)").to_ray() == (0.0, {"NPU": 1, "accelerator_type:910B": 0.001})
    assert parse_gpus("0.5").to_ray() == (0.5, {})
    assert parse_gpus("-1").to_ray() == (0.0, {})


requests = st.one_of(
    st.just(GpuRequest(shared=True)),
    st.builds(GpuRequest, count=st.sampled_from([0.25, 0.5, 0.75]), vendor=st.just("nvidia")),
    st.sampled_from([(v, m) for v, ms in KNOWN_MODELS.items() for m in (None, *ms)]).flatmap(
        lambda vm: st.builds(GpuRequest, count=st.integers(1, 16).map(float), vendor=st.just(vm[0]),
                             model=st.just(vm[1]))),
)


@given(requests)
def test_format_then_parse_round_trips(req):
    assert parse_gpus(format_gpus(req)) == req


@given(st.text(max_size=20))
def test_garbage_only_ever_raises_value_error(text):
    try:
        parse_gpus(text)
    except ValueError:
        pass

"""easynlu.backends.device: device and dtype choice, explicit, checked, and explained when refused."""

import warnings

import pytest
import torch

import easynlu
from easynlu.backends import device as devices


def test_device_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    mps = torch.backends.mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mps, "is_available", lambda: True)
    assert devices.choose_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.choose_device() == "mps"
    monkeypatch.setattr(mps, "is_available", lambda: False)
    assert devices.choose_device() == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_device_explicit_cuda_without_cuda_says_what_to_do(device):
    with pytest.raises(easynlu.DeviceError, match="sees 0 CUDA device.*device='cpu'"):
        devices.choose_device(device)


def test_device_unknown_device_refused():
    with pytest.raises(easynlu.DeviceError, match="not a device torch knows.*'cpu'"):
        devices.choose_device("gpu0")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_device_mps_without_mps_refused():
    with pytest.raises(easynlu.DeviceError, match="MPS is not available.*device='cpu'"):
        devices.choose_device("mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_bad_device_surfaces_at_first_predict_not_as_a_torch_error(tiny_bert):
    pipe = easynlu.load(str(tiny_bert), device="cuda")  # load() imports no torch, so no check yet
    with pytest.raises(easynlu.DeviceError, match="CUDA"):
        pipe.predict("x")


@pytest.mark.parametrize(
    "dtype, device, expected",
    [
        (None, "cpu", "float32"),
        (None, "cuda", "float16"),
        (None, "cuda:1", "float16"),
        (None, "mps", "float32"),
        ("fp32", "cpu", "float32"),
        (torch.float16, "cuda", "float16"),
        ("bf16", "cuda", "bfloat16"),
    ],
)
def test_device_dtype_defaults_and_aliases(dtype, device, expected):
    assert devices.choose_dtype(dtype, device) == expected


def test_device_float16_on_cpu_refused():
    with pytest.raises(easynlu.DeviceError, match="float16.*CPU.*'float32' or 'bfloat16'"):
        devices.choose_dtype("float16", "cpu")


def test_device_unknown_dtype_refused():
    with pytest.raises(easynlu.DeviceError, match="int8.*use 'float32'"):
        devices.choose_dtype("int8", "cpu")


@pytest.mark.parametrize("amx", [True, False])
def test_device_bfloat16_on_cpu_needs_amx(monkeypatch, amx):
    monkeypatch.setattr(devices, "_cpu_has_amx", lambda: amx)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = devices.choose_dtype("bfloat16", "cpu")
    assert chosen == ("bfloat16" if amx else "float32")
    assert any("AMX" in str(w.message) for w in caught) == (not amx)

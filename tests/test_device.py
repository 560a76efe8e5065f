"""easynlu.backends.device: device and dtype choice, explicit, checked, and explained when refused."""

import warnings

import numpy as np
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


@pytest.fixture
def cpu(monkeypatch):
    """Pretend the CPU's /proc/cpuinfo flags are ``cpu(flags)`` (None: unreadable), warning afresh."""
    def pretend(flags):
        monkeypatch.setattr(devices, "cpu_flags", lambda: None if flags is None else frozenset(flags))
        monkeypatch.setattr(devices, "_warned_slow_bf16", False)
    return pretend


def chosen_and_warnings(dtype="bfloat16", device="cpu"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chosen = devices.choose_dtype(dtype, device)
    return chosen, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("flags", [{"avx512f", "avx512_bf16"}, {"amx_bf16", "amx_tile"}, {"asimd", "bf16"}])
def test_device_bfloat16_on_a_cpu_with_bf16_instructions_is_silent(cpu, flags):
    cpu(flags)
    assert chosen_and_warnings() == ("bfloat16", [])


@pytest.mark.parametrize("flags, says", [({"avx2", "avx512f"}, "no avx512_bf16 or amx_bf16"),
                                         (None, "cannot read this CPU's flags")])
def test_device_bfloat16_on_a_cpu_without_bf16_is_honoured_with_one_warning(cpu, flags, says):
    cpu(flags)
    chosen, warned = chosen_and_warnings("bf16")
    assert chosen == "bfloat16"  # honoured, not switched to float32
    assert len(warned) == 1 and says in warned[0] and "dtype='float32'" in warned[0] and "slower" in warned[0]
    assert chosen_and_warnings("bf16") == ("bfloat16", [])  # once per process


def test_device_bfloat16_warning_points_at_the_users_line(cpu, tiny_bert):
    cpu({"avx2"})
    pipe = easynlu.load(str(tiny_bert), dtype="bfloat16")
    with pytest.warns(RuntimeWarning, match="bfloat16") as caught:
        vectors = pipe.embed(["x"], progress=False)
    assert [w.filename for w in caught if "bfloat16" in str(w.message)] == [__file__]
    assert pipe._parts()[0].backend.dtype == "bfloat16" and vectors.dtype == "float32"  # honoured


def test_device_bfloat16_elsewhere_than_the_cpu_never_reads_the_cpu(cpu):
    cpu(None)
    assert chosen_and_warnings("bfloat16", "cuda") == ("bfloat16", [])
    assert chosen_and_warnings(None, "cpu") == ("float32", [])


def test_device_cpu_flags_are_read_once_from_proc_cpuinfo(monkeypatch, tmp_path):
    import builtins

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    real_open, opened = builtins.open, []

    def fake_open(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            opened.append(path)
            return real_open(info, *args, **kwargs)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    devices.cpu_flags.cache_clear()
    try:
        assert devices.cpu_flags() == {"fpu", "avx2", "avx512_bf16"}
        assert devices.cpu_flags() == {"fpu", "avx2", "avx512_bf16"} and len(opened) == 1
        monkeypatch.setattr(builtins, "open", lambda *a, **k: (_ for _ in ()).throw(FileNotFoundError(a[0])))
        devices.cpu_flags.cache_clear()
        assert devices.cpu_flags() is None  # not Linux: nothing known
    finally:
        monkeypatch.undo()
        devices.cpu_flags.cache_clear()


def test_device_choose_dtype_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys; from easynlu.backends.device import choose_dtype; choose_dtype('bf16', 'cpu'); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)


def test_device_bfloat16_on_the_cpu_runs_eager_attention_close_to_float32(minilm_dir):
    from easynlu.backends import transformer

    assert [transformer.attention(*p) for p in [("cpu", "bfloat16"), ("cpu", "float32"), ("cuda", "bfloat16"),
                                                 ("cuda", "float16")]] == ["eager", "sdpa", "sdpa", "sdpa"]
    texts = ["I love NLP.", "Embeddings are vectors of numbers.", " ".join(["A longer sentence about cats."] * 8)]
    exact = easynlu.load(str(minilm_dir), backend="torch", dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # CPUs without bf16 instructions warn
        half = easynlu.load(str(minilm_dir), backend="torch", dtype="bfloat16")
        got = half.embed(texts, progress=False)
    model = half._parts()[0].backend.model
    assert model.config._attn_implementation == "eager"
    from easynlu.backends.cpu_bf16 import PackedLinear, _available

    if _available():  # oneDNN-packed linears, the FFN's GELU fused into its first one
        layer = model.encoder.layer[0]
        assert isinstance(layer.intermediate.dense, PackedLinear) and layer.intermediate.dense.attr == "gelu"
        assert isinstance(layer.attention.self.query, PackedLinear)
        assert isinstance(layer.intermediate.intermediate_act_fn, torch.nn.Identity)
        assert not any(type(m) is torch.nn.Linear for m in model.modules())
    want = exact.embed(texts, progress=False)
    assert got.dtype == "float32" and (got * want).sum(axis=1).min() > 0.9995  # unit vectors


def test_device_packed_bf16_linear_equals_linear_and_is_skipped_where_unavailable(monkeypatch):
    from easynlu.backends import cpu_bf16

    if not cpu_bf16._available():
        pytest.skip("this torch build has no oneDNN bfloat16 linear")
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 80).to(torch.bfloat16)
    x = torch.randn(4, 7, 48).to(torch.bfloat16)
    with torch.inference_mode():
        for gelu in (False, True):
            want = linear(x).float()
            want = torch.nn.functional.gelu(want) if gelu else want
            got = cpu_bf16.PackedLinear(linear, gelu=gelu)(x)
            assert got.dtype == torch.bfloat16 and got.shape == (4, 7, 80)
            torch.testing.assert_close(got.float(), want, atol=0.05, rtol=0.02)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8).to(torch.bfloat16), torch.nn.Linear(8, 8))  # fp32: kept
    assert cpu_bf16.pack(model) == 1 and type(model[1]) is torch.nn.Linear
    monkeypatch.setattr(cpu_bf16, "_available", lambda: False)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8).to(torch.bfloat16))
    assert cpu_bf16.pack(model) == 0 and type(model[0]) is torch.nn.Linear


# -- how bfloat16 linears run, per CPU flag (issue 25) ---------------------------------------------
@pytest.mark.parametrize("flags, kind", [
    ({"avx2", "avx512f", "avx512_bf16"}, "packed"),              # Zen 4/5, Cooper Lake: measured packed faster
    ({"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}, "plain"),  # Sapphire Rapids and later: plain nn.Linear
    ({"avx2"}, "packed"), (None, "packed"),                        # as before (pack() itself bails where it can't)
])
def test_device_bf16_linears_are_chosen_by_the_cpus_flags(cpu, flags, kind):
    cpu(flags)
    assert devices.bf16_linears() == kind
    assert devices.bf16_linears(None if flags is None else frozenset(flags)) == kind


def test_device_bf16_model_gets_the_linears_its_cpu_flags_choose(cpu, tiny_bert):
    from easynlu.backends import cpu_bf16
    from easynlu.backends.transformer import load
    from easynlu.compute import Part, encode
    from easynlu.options import Options

    texts = ["I love NLP.", "Linears in bfloat16 are packed or plain, by the CPU's flags.", "Short."]

    def loaded(dtype, flags):
        cpu(flags)
        backend = load(str(tiny_bert), "cpu", dtype)
        kinds = {type(m).__name__ for m in backend.model.modules()}
        return kinds, encode(texts, [Part("v", "embed", backend)], "document", Options()).vectors["v"]

    plain_kinds, plain = loaded("bfloat16", {"avx512_bf16", "amx_bf16"})
    packed_kinds, packed = loaded("bfloat16", {"avx512_bf16"})
    want = loaded("float32", {"avx512_bf16"})[1]
    assert "PackedLinear" not in plain_kinds and "Linear" in plain_kinds
    if cpu_bf16._available():  # torch has oneDNN's bf16 ops on this CPU
        assert "PackedLinear" in packed_kinds and "Linear" not in packed_kinds
    for got in (plain, packed):
        cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        assert cos.min() > 0.999

"""Issue 25's targets for the CPU family cpu.py runs on (AMX, avx512_bf16 or AVX2), from its rows.

Each target is judged within one run against the peer on the same CPU; the targets of the other
families are listed as SKIP, naming the CPU they need, so a report says what could not be checked.
"""

from __future__ import annotations

import warnings

EXACT_COS = 0.9999
# the fp32 rows of every other stack, and the OpenVINO runtime rows
FP32_PEERS = ("raw.sentence", "st.default", "st.onnx", "fastembed.onnx", "ort.loop", "ov.direct_f32")
OV_DIRECT = ("ov.direct", "ov.direct_bf16")
EASYNLU_FP32 = ("easynlu.default", "easynlu.torch", "easynlu.onnx")


def bf16_warns() -> bool:
    """Whether easynlu warns (or refuses) when asked for dtype='bfloat16' on this CPU."""
    from easynlu.backends import device

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            device.choose_dtype("bfloat16", "cpu")
        except Exception:  # noqa: BLE001 - a refusal counts
            return True
    return bool(caught)


def family_targets(rows: dict, family: str, cpu: str) -> list[dict]:
    """PASS/FAIL/SKIP rows: {"what", "measured", "limit", "status"} for issue 25's targets."""
    out: list[dict] = []

    def add(fam: str, what: str, measured: str, limit: str, ok: bool | None) -> None:
        if fam not in (family, "every CPU"):
            measured, ok = f"not checked: needs an {fam} CPU (this is {cpu}, {family})", None
        out.append({"what": f"[{fam}] {what}", "measured": measured, "limit": limit,
                    "status": "SKIP" if ok is None else "PASS" if ok else "FAIL"})

    def per_s(key: str) -> float | None:
        return rows.get(key, {}).get("per_s")

    bf16, fp32 = per_s("easynlu.torch_bf16"), per_s("easynlu.torch")
    ov = {k: per_s(k) for k in OV_DIRECT if per_s(k)}
    ov_best = max(ov, key=lambda k: ov[k] or 0) if ov else None

    def vs_ov(fam: str) -> None:
        if bf16 and ov_best:
            r = bf16 / (ov[ov_best] or 1)
            add(fam, "easynlu bf16 vs OpenVINO direct (its fastest row)",
                f"{r:.2f}x ({ov_best}, {rows[ov_best].get('note', '')})", ">= 1.0x", r >= 1.0)
        else:
            add(fam, "easynlu bf16 vs OpenVINO direct", "not measured", ">= 1.0x", None)

    def vs_fp32(fam: str, limit: float) -> None:
        if bf16 and fp32:
            r = bf16 / fp32
            cos = rows["easynlu.torch_bf16"].get("min_cos", float("nan"))
            add(fam, "easynlu bf16 vs easynlu torch fp32", f"{r:.2f}x (min cos {cos:.5f})", f">= {limit}x",
                r >= limit)
        else:
            add(fam, "easynlu bf16 vs easynlu torch fp32", "not measured", f">= {limit}x", None)

    vs_ov("AMX")
    vs_fp32("AMX", 2.7)
    first = rows.get("easynlu.torch_bf16", {}).get("first_x_warm")
    add("AMX", "easynlu bf16 first pass over the texts vs a warm pass",
        "not measured (one round)" if first is None else f"{first:.2f}x", "<= 1.15x",
        None if first is None else first <= 1.15)
    vs_fp32("avx512_bf16", 1.9)
    vs_ov("avx512_bf16")
    warned = bf16_warns() if family == "AVX2" else None
    add("AVX2", "dtype='bfloat16' refused or warned as slow", "warned" if warned else "not warned", "warned",
        warned)
    ours = {k: per_s(k) for k in EASYNLU_FP32 if per_s(k)}
    peers = {k: per_s(k) for k in FP32_PEERS if per_s(k)}
    if rows.get("ov.direct", {}).get("note", "").endswith("f32") and per_s("ov.direct"):
        peers["ov.direct"] = per_s("ov.direct")
    if ours and peers:
        best, peer = max(ours, key=lambda k: ours[k] or 0), max(peers, key=lambda k: peers[k] or 0)
        r = (ours[best] or 0) / (peers[peer] or 1)
        add("AVX2", "easynlu's fastest fp32 vs every fp32 peer", f"{r:.2f}x ({best} vs {peer}; peers measured: "
            f"{', '.join(sorted(peers))})", ">= 1.0x", r >= 1.0)
    else:
        add("AVX2", "easynlu's fastest fp32 vs every fp32 peer", "not measured", ">= 1.0x", None)
    int8 = rows.get("easynlu.onnx_int8", {})
    others = {k: r["per_s"] for k, r in rows.items() if "per_s" in r and k != "easynlu.onnx_int8"}
    if int8.get("per_s") and others:
        best = max(others, key=lambda k: others[k])
        r = int8["per_s"] / others[best]
        quality = (f"min cos {int8.get('min_cos', float('nan')):.4f}, mean {int8.get('mean_cos', float('nan')):.5f}"
                   f", STS-B dev Spearman {_spearman(int8)} vs fp32 {_spearman(rows.get('easynlu.torch', {}))}")
        add("every CPU", "int8 is the fastest stack measured", f"{r:.2f}x the next ({best}); {quality}", ">= 1.0x",
            r >= 1.0)
    else:
        add("every CPU", "int8 is the fastest stack measured", "not measured", ">= 1.0x", None)
    return out


def _spearman(row: dict) -> str:
    value = row.get("sts_spearman")
    return "?" if value is None else f"{value:.4f}"

"""CPU contenders (issues 13 and 25): MiniLM sentence vectors on this machine's cores, one run.

    bash benchmarks/venvs.sh                 # once: the venvs of the ST ONNX/OpenVINO, fastembed and OpenVINO
                                             # rows, and the STS-B dev file
    python benchmarks/cpu.py                 # 2,048 sentences, 3 rounds, cold figures (~6-9 min)
    python benchmarks/cpu.py --n 256 --rounds 2 --no-cold     # a quick look
    python benchmarks/cpu.py --write         # also rewrite this script's section of RESULTS.md

Every contender runs in its own process (``worker.py serve``), in the dev venv or in its own venv
($EASYNLU_BENCH_VENVS, default ~/.cache/easynlu-bench/venvs), on the same sentences of
benchmarks/corpus.py. Each loads, warms up on 64 sentences, then times its encode call alone, once
per round; rounds visit the contenders in a rotating order and the median is kept, because the
machine is shared and noisy. Each row's vectors are checked against the PyTorch raw loop's
(benchmarks/raw.py) by min cosine. A row that cannot run (a missing venv, a load() keyword that
easynlu does not have yet) prints why and is skipped. The ONNX rows that take a file (the plain
onnxruntime loop, fastembed) share one export: easynlu's own (easynlu.backends.export.ensure) when
it exists, else a ``torch.onnx.export(dynamo=True)`` made once into the bench cache; the OpenVINO
runtime rows (ovloop.py) read the same file. Each row also gets its STS-B dev Spearman (stsb.py) and
its first pass × warm (round 1 against the later rounds' median). The CPU's flags name its family
(AMX, avx512_bf16, AVX2), and issue 25's targets for that family are printed PASS/FAIL
(cpu_targets.py); the other families' are SKIP.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np  # noqa: E402
import stsb  # noqa: E402
from contenders import LABELS, easynlu_token_budget  # noqa: E402
from cpu_targets import family_targets  # noqa: E402
from machine import cpu_info  # noqa: E402
from models import CACHE, minilm_path  # noqa: E402

VENVS = Path(os.environ.get("EASYNLU_BENCH_VENVS", Path.home() / ".cache" / "easynlu-bench" / "venvs"))
# (contender key, venv name or None for the dev venv), in table order
ROWS = [
    ("raw.sentence", None),
    ("st.default", None),
    ("st.onnx", "st-onnx"),
    ("st.openvino", "st-openvino"),
    ("fastembed.onnx", "fastembed"),
    ("ort.loop", None),
    ("ov.direct", "openvino"),
    ("ov.direct_bf16", "openvino"),
    ("ov.direct_f32", "openvino"),
    ("easynlu.default", None),
    ("easynlu.torch", None),
    ("easynlu.torch_bf16", None),
    ("easynlu.onnx", None),
    ("easynlu.onnx_int8", None),
]
ONNX_FP32 = ("st.onnx", "fastembed.onnx", "ort.loop")  # the fp32 ONNX-based contenders
EXACT_COS = 0.9999  # "min cosine to fp32 >= 0.9999": settings that count as exact
FASTEMBED_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "special_tokens_map.json")
OTHER_SCRIPTS = "<!-- other benchmark scripts: kept when run.py rewrites this file -->"
SECTION = "## CPU contenders"
COLD_TEXT = "I love NLP"
# the rows whose STS-B dev Spearman is measured (3,000 sentences each): fp32, bf16, int8, OpenVINO direct
STS_ROWS = ("raw.sentence", "easynlu.torch", "easynlu.torch_bf16", "easynlu.onnx_int8", "ov.direct")


def log(*args: object) -> None:
    print(*args, flush=True)


# -- setup --------------------------------------------------------------------------------------
def machine() -> dict:
    return {**cpu_info(), "load_average_start": os.getloadavg()}


def venv_python(name: str | None) -> Path | None:
    """The venv's python, or None when the venv is missing or incomplete."""
    if name is None:
        return Path(sys.executable)
    python = VENVS / name / "bin" / "python"
    return python if python.is_file() and (VENVS / name / ".ok").is_file() else None


def venv_versions(name: str) -> str:
    """The key packages of a venv, from the lock its setup wrote."""
    lock = VENVS / name / "requirements.lock"
    keep = ("sentence-transformers", "transformers", "optimum", "optimum-onnx", "optimum-intel", "openvino",
            "onnxruntime", "fastembed")
    if not lock.is_file():
        return "?"
    pins = dict(line.strip().split("==", 1) for line in lock.read_text().splitlines() if "==" in line)
    return ", ".join(f"{k} {pins[k]}" for k in keep if k in pins)


def model_copy(model_dir: Path, cache: Path) -> Path:
    """A directory of symlinks to MiniLM's files, for contenders that write beside the model
    (sentence-transformers' ONNX/OpenVINO exports): nothing lands in the installed package."""
    target = cache / "minilm_links"
    if not target.is_dir():
        tmp = cache / f"minilm_links.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(model_dir, tmp, copy_function=os.symlink)
        tmp.rename(target)
    return target


def fastembed_dir(onnx_dir: Path, model_dir: Path, cache: Path) -> Path:
    """model.onnx of the shared export beside MiniLM's tokenizer files, as fastembed reads them."""
    target = cache / f"fastembed_{onnx_dir.name}"
    target.mkdir(parents=True, exist_ok=True)
    for f in onnx_dir.iterdir():
        if f.name.startswith("model.onnx") and not (target / f.name).exists():
            os.symlink(f.resolve(), target / f.name)
    for name in FASTEMBED_FILES:
        if (model_dir / name).exists() and not (target / name).exists():
            shutil.copy(model_dir / name, target / name)
    return target


def prepare_onnx(model_dir: Path, cache: Path) -> tuple[Path | None, str]:
    """The shared export (in a subprocess: its torch import stays out of this coordinator)."""
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); import ortloop; from pathlib import Path; "
            "d, who = ortloop.export(sys.argv[2], Path(sys.argv[3])); print(json.dumps([str(d), who]))")
    proc = subprocess.run([sys.executable, "-c", code, str(HERE), str(model_dir), str(cache)], capture_output=True,
                          text=True, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    if proc.returncode != 0 or not lines:
        return None, f"export failed: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    path, who = json.loads(lines[-1])
    return Path(path), who


# -- contenders served by worker.py in their own processes -----------------------------------------
class Served:
    """One contender in a ``worker.py serve`` process: ready line, then one reply per ``run``."""

    def __init__(self, key: str, python: Path, model_dir: Path, onnx_dir: str, texts_file: Path, out: Path,
                 budget: int, log_dir: Path):
        self.key, self.out = key, out
        self.stderr = open(log_dir / f"{key}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(python), str(HERE / "worker.py"), "serve", key, str(model_dir), onnx_dir, str(texts_file),
             str(out), str(budget)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=str(HERE),
            env=dict(os.environ), bufsize=1)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                try:
                    self.lines.put(json.loads(line))
                except json.JSONDecodeError:
                    pass
        self.lines.put(None)  # the process ended

    def reply(self, timeout: float) -> dict:
        try:
            got = self.lines.get(timeout=timeout)
        except queue.Empty:
            return {"skip": f"no answer within {timeout:.0f} s"}
        if got is None:
            self.stderr.flush()
            tail = Path(self.stderr.name).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            return {"skip": f"worker exited ({self.proc.wait()}): {' '.join(tail)}"}
        return got

    def run(self, timeout: float = 900) -> dict:
        return self.ask("run", timeout)

    def ask(self, line: str, timeout: float = 900) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.reply(timeout)

    def stop(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.stderr.close()


def speed(texts_file: Path, n: int, rounds: int, model_dir: Path, links: Path, onnx_dir: Path | None,
          fe_dir: Path | None, budget: int, work: Path, only: set[str] | None,
          gold: tuple[np.ndarray, list[str], list[str]] | None = None) -> dict:
    rows: dict[str, dict] = {}
    served: dict[str, Served] = {}
    for key, venv in ROWS:
        if only and key not in only and key != "raw.sentence":
            continue
        python = venv_python(venv)
        if python is None:
            rows[key] = {"skip": f"venv {venv} missing: create it with `bash benchmarks/venvs.sh {venv}`"}
            continue
        onnx = fe_dir if key == "fastembed.onnx" else onnx_dir if key.startswith(("ort.", "ov.")) else None
        if (key == "fastembed.onnx" or key.startswith(("ort.", "ov."))) and onnx is None:
            rows[key] = {"skip": "no ONNX export of MiniLM (see the export line above)"}
            continue
        path = links if key.startswith("st.") else model_dir
        served[key] = Served(key, python, path, str(onnx or ""), texts_file, work / f"{key}.npy", budget, work)
    for key, s in served.items():  # set up in parallel (untimed); wait for each
        t = time.perf_counter()
        ready = s.reply(timeout=900)
        if "skip" in ready:
            rows[key] = {"skip": ready["skip"]}
            s.stop()
            log(f"  {key:20s} not available: {ready['skip']}")
        else:
            rows[key] = {"setup_s": ready["setup_s"], "times_s": [], "note": ready.get("note", "")}
            venv = dict(ROWS)[key]
            if venv:
                rows[key]["versions"] = venv_versions(venv)
            log(f"  {key:20s} ready (set up in {ready['setup_s']:.1f} s, waited {time.perf_counter() - t:.1f} s)")
    live = [k for k in served if "skip" not in rows[k]]
    for r in range(rounds):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for key in order:
            if "skip" in rows[key]:
                continue
            got = served[key].run()
            if "skip" in got:
                rows[key] = {"skip": got["skip"]}
                log(f"  round {r + 1} {key:20s} failed: {got['skip']}")
                continue
            rows[key]["times_s"].append(got["seconds"])
            if got.get("padding"):
                rows[key]["padding"] = 1 - got["padding"][0] / got["padding"][1]
            log(f"  round {r + 1} {key:20s} {got['seconds']:7.3f} s")
    if gold is not None:
        sts_texts = work / "sts.json"
        sts_texts.write_text(json.dumps(gold[1] + gold[2]), encoding="utf-8")
        for key in live:
            if "skip" not in rows[key] and key in STS_ROWS:
                served[key].ask(f"sts {sts_texts} {work / (key + '.sts.npy')}")
    for s in served.values():
        s.stop()

    ref = np.load(work / "raw.sentence.npy") if (work / "raw.sentence.npy").exists() else None
    for key, row in rows.items():
        if "skip" in row:
            continue
        row["median_s"] = statistics.median(row["times_s"])
        if len(row["times_s"]) > 1:  # round 1 is each process's first pass over the texts
            row["first_x_warm"] = row["times_s"][0] / statistics.median(row["times_s"][1:])
        if gold is not None and (work / f"{key}.sts.npy").exists():
            row["sts_spearman"] = stsb.score(np.load(work / f"{key}.sts.npy"), gold[0])
        row["per_s"] = n / row["median_s"]
        vectors = np.load(work / f"{key}.npy")
        if ref is not None and key != "raw.sentence":
            cos = (vectors * ref).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(ref, axis=1))
            row["min_cos"], row["mean_cos"] = float(cos.min()), float(cos.mean())
    for row in rows.values():
        if "per_s" in row:
            for base, name in (("raw.sentence", "x_raw"), ("st.default", "x_st")):
                if "per_s" in rows.get(base, {}):
                    row[name] = row["per_s"] / rows[base]["per_s"]
    return rows



def sts_b_dev() -> tuple[np.ndarray, list[str], list[str]] | None:
    """(gold scores, first sentences, second sentences) of STS-B dev, or None where its wheel cannot be had."""
    try:
        dev = stsb.read("dev")
    except Exception as err:  # noqa: BLE001  (no package registry)
        log(f"STS-B dev: not used ({type(err).__name__}: {err})")
        return None
    log(f"STS-B dev: {len(dev)} pairs from {stsb.wheel()}")
    return dev["score"].to_numpy(), dev["text_a"].tolist(), dev["text_b"].tolist()


# -- cold figures -----------------------------------------------------------------------------------
def _worker(args: list[str], timeout: float = 600) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "worker.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(HERE), env=dict(os.environ))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines()[-1:]
        raise RuntimeError(f"worker {args[0]} failed ({proc.returncode}): {' '.join(tail)}")
    return json.loads(lines[-1])


def cold_cli(backend: str, runs: int) -> dict:
    """Wall time of ``easynlu predict "I love NLP"`` processes with EASYNLU_BACKEND=backend."""
    cli = Path(sys.executable).with_name("easynlu")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "easynlu"]
    # As on a user's machine, the first run writes easynlu's bytecode and the measured runs read it
    # (some machines set PYTHONDONTWRITEBYTECODE, and then every run would compile easynlu again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"EASYNLU_BACKEND": backend}
    check = ("import sys; from easynlu.cli import main; code = main(['predict', sys.argv[1]]); "
             "print('HEAVY', [m for m in ('torch', 'transformers') if m in sys.modules], file=sys.stderr); "
             "sys.exit(code)")
    warm = subprocess.run([sys.executable, "-c", check, COLD_TEXT], capture_output=True, text=True, env=env,
                          timeout=900)  # also exports once, if needed
    if warm.returncode != 0:
        return {"skip": f"exit {warm.returncode}: {' '.join(warm.stderr.strip().splitlines()[-1:])}"}
    heavy = next((line[6:] for line in warm.stderr.splitlines() if line.startswith("HEAVY ")), "?")
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run([*command, "predict", COLD_TEXT], capture_output=True, text=True, env=env, timeout=300)
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            return {"skip": f"exit {proc.returncode}: {' '.join(proc.stderr.strip().splitlines()[-1:])}"}
    return {"runs_s": times, "median_s": statistics.median(times), "heavy_modules": heavy}


def cold(model_dir: Path, texts_file: Path, onnx_ok: bool, cli_runs: int) -> dict:
    out: dict = {}
    runs = [_worker(["import"])["import_s"] for _ in range(7)]
    out["import"] = {"runs_s": runs, "median_s": statistics.median(runs)}
    log(f"  import easynlu: median {out['import']['median_s']:.3f} s of 7")
    for backend in ("onnx", "torch"):
        if backend == "onnx" and not onnx_ok:
            out["cli_onnx"] = {"skip": "easynlu has no backend='onnx' yet (its row was skipped)"}
        else:
            out[f"cli_{backend}"] = cold_cli(backend, cli_runs if backend == "onnx" else 3)
        r = out[f"cli_{backend}"]
        log(f"  cold `easynlu predict \"{COLD_TEXT}\"`, EASYNLU_BACKEND={backend}: "
            + (f"not available: {r['skip']}" if "skip" in r else
               f"median {r['median_s']:.2f} s of {len(r['runs_s'])} (heavy modules: {r['heavy_modules']})"))
    for backend in ("onnx", "torch"):
        try:
            r = _worker(["embed_rss", json.dumps({"backend": backend}), str(model_dir), str(texts_file)])
        except RuntimeError as error:
            if backend == "onnx":
                out["rss_onnx"] = {"skip": str(error)}
                log(f"  peak RSS embed(), backend={backend}: not available: {error}")
                continue
            r = _worker(["embed_rss", "{}", str(model_dir), str(texts_file)])  # today's default: torch
            r["note"] = "load() defaults (no backend keyword yet)"
        out[f"rss_{backend}"] = r
        log(f"  peak RSS embed() of {r['rows']} sentences, backend={backend}: {r['peak_rss_bytes'] / 2**20:.0f} MiB "
            f"(heavy modules: {r['heavy_modules']})")
    return out


# -- targets and report -------------------------------------------------------------------------------
def targets(rows: dict, cold_figs: dict | None) -> list[dict]:
    out: list[dict] = []

    def add(what: str, measured: str, limit: str, ok: bool | None) -> None:
        out.append({"what": what, "measured": measured, "limit": limit,
                    "status": "SKIP" if ok is None else "PASS" if ok else "FAIL"})

    def per_s(key: str) -> float | None:
        return rows.get(key, {}).get("per_s")

    onnx, raw, st = per_s("easynlu.onnx"), per_s("raw.sentence"), per_s("st.default")
    if onnx and raw and st:
        add("backend='onnx' fp32 vs PyTorch raw loop", f"{onnx / raw:.2f}x", ">= 1.3x", onnx / raw >= 1.3)
        add("backend='onnx' fp32 vs ST default encode", f"{onnx / st:.2f}x", ">= 1.8x", onnx / st >= 1.8)
    else:
        add("backend='onnx' fp32 vs raw loop / ST default", "easynlu.onnx not measured", ">= 1.3x / 1.8x", None)
    exact = {k: r for k, r in rows.items() if k.startswith("easynlu.") and "per_s" in r
             and r.get("min_cos", 0) >= EXACT_COS}
    fp32_key = next((k for k in ("easynlu.torch", "easynlu.default") if per_s(k)), None)
    ov = per_s("st.openvino")
    if exact and fp32_key:
        best = max(exact, key=lambda k: exact[k]["per_s"])
        note = f"{best}, min cos {exact[best]['min_cos']:.5f}"
        if ov:
            r = exact[best]["per_s"] / ov
            add("fastest easynlu setting with min cos >= 0.9999 vs ST OpenVINO (defaults)", f"{r:.2f}x ({note})",
                ">= 1.0x", r >= 1.0)
        else:
            add("fastest exact easynlu setting vs ST OpenVINO", "st.openvino not measured", ">= 1.0x", None)
        r = exact[best]["per_s"] / rows[fp32_key]["per_s"]
        add(f"fastest easynlu setting with min cos >= 0.9999 vs easynlu fp32 ({fp32_key})", f"{r:.2f}x ({note})",
            ">= 1.9x", r >= 1.9)
    else:
        add("fastest exact easynlu setting vs ST OpenVINO / easynlu fp32", "no easynlu row measured",
            ">= 1.0x / 1.9x", None)
    others = {k: per_s(k) for k in ONNX_FP32 if per_s(k)}
    if onnx and others:
        best = max(others, key=lambda k: others[k] or 0)
        r = onnx / (others[best] or 1)
        add("backend='onnx' fp32 vs every fp32 ONNX contender", f"{r:.2f}x the best ({best}; measured: "
            f"{', '.join(sorted(others))})", ">= 1.0x", r >= 1.0)
    else:
        add("backend='onnx' fp32 vs every fp32 ONNX contender", "not measured", ">= 1.0x", None)
    if cold_figs:
        c = cold_figs.get("cli_onnx", {})
        if "median_s" in c:
            add(f'cold `easynlu predict "{COLD_TEXT}"`, ONNX, cached export (median of {len(c["runs_s"])})',
                f"{c['median_s']:.2f} s", "<= 1.0 s", c["median_s"] <= 1.0)
        else:
            add(f'cold `easynlu predict "{COLD_TEXT}"`, ONNX', c.get("skip", "not measured"), "<= 1.0 s", None)
        i = cold_figs["import"]["median_s"]
        add("import easynlu (median of 7)", f"{i:.3f} s", "<= 0.1 s", i <= 0.1)
        a, b = cold_figs.get("rss_onnx", {}), cold_figs.get("rss_torch", {})
        if "peak_rss_bytes" in a and "peak_rss_bytes" in b:
            r = a["peak_rss_bytes"] / b["peak_rss_bytes"]
            add("peak RSS of embed() on the sentences, ONNX vs torch",
                f"{r:.2f}x ({a['peak_rss_bytes'] / 2**20:.0f} vs {b['peak_rss_bytes'] / 2**20:.0f} MiB)",
                "<= 0.6x", r <= 0.6)
        else:
            add("peak RSS of embed(), ONNX vs torch", a.get("skip", "not measured"), "<= 0.6x", None)
    int8 = rows.get("easynlu.onnx_int8", {})
    if onnx and int8.get("per_s"):
        r = int8["per_s"] / onnx
        add("quantize='int8' vs backend='onnx' fp32", f"{r:.2f}x (min cos {int8.get('min_cos', float('nan')):.4f}, "
            f"mean {int8.get('mean_cos', float('nan')):.4f})", ">= 2.5x", r >= 2.5)
    else:
        add("quantize='int8' vs backend='onnx' fp32", "not measured", ">= 2.5x", None)
    add("30% duplicates vs no deduplication", "not measured here (the deduplication benchmark's)", ">= 1.35x", None)
    return out


def _fmt(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec`` (a trailing × is kept), or an empty cell."""
    if value is None:
        return ""
    return format(value, spec.rstrip("×")) + ("×" if spec.endswith("×") else "")


def table(result: dict) -> str:
    rows, n = result["rows"], result["n"]
    lines = [f"{n} sentences of benchmarks/corpus.py (sha256 `{result['corpus_sha256'][:16]}…`), all-MiniLM-L6-v2, "
             f"{result['machine']['cores']} cores ({result['machine']['cpu']}; avx512_bf16 "
             f"{'yes' if result['machine']['avx512_bf16'] else 'no'}, amx_bf16 "
             f"{'yes' if result['machine']['amx_bf16'] else 'no'}), median of {result['rounds']} rounds, "
             f"each contender in its own process. ONNX file for the plain loop and fastembed: {result['onnx_export']}.",
             f"CPU flags: {' '.join(result['machine'].get('flags', [])) or '?'} (family for issue 25's targets: "
             f"{result['machine'].get('family', '?')}).",
             "", "| contender | venv | sentences/s | × raw loop | × ST default | min cos vs raw | mean cos | "
             "STS-B dev Spearman | first pass × warm | padding |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, venv in ROWS:
        row = rows.get(key)
        if row is None:
            continue
        if "skip" in row:
            lines.append(f"| {LABELS[key]} | {venv or 'dev'} | not available: {row['skip']} | | | | | | | |")
            continue
        note = f" ({row['note']})" if row.get("note") else ""
        lines.append(f"| {LABELS[key]}{note} | {venv or 'dev'} | {row['per_s']:.1f} | {_fmt(row.get('x_raw'), '.2f×')} "
                     f"| {_fmt(row.get('x_st'), '.2f×')} | {_fmt(row.get('min_cos'), '.7f')} "
                     f"| {_fmt(row.get('mean_cos'), '.7f')} | {_fmt(row.get('sts_spearman'), '.4f')} "
                     f"| {_fmt(row.get('first_x_warm'), '.2f×')} "
                     f"| {'' if 'padding' not in row else format(100 * row['padding'], '.1f') + '%'} |")
    versions = {venv: rows[k]["versions"] for k, venv in ROWS if venv and "versions" in rows.get(k, {})}
    if versions:
        lines += [""] + [f"- venv {venv}: {v}" for venv, v in versions.items()]
    cold_figs = result.get("cold")
    if cold_figs:
        lines += ["", f"- `import easynlu`: median {cold_figs['import']['median_s']:.3f} s of 7."]
        for backend in ("onnx", "torch"):
            c = cold_figs.get(f"cli_{backend}", {})
            lines.append(f"- cold `easynlu predict \"{COLD_TEXT}\"` with EASYNLU_BACKEND={backend}: "
                         + (f"not available ({c.get('skip')})" if "median_s" not in c else
                            f"median {c['median_s']:.2f} s of {len(c['runs_s'])} "
                            f"(runs {', '.join(f'{x:.2f}' for x in c['runs_s'])}; "
                            f"modules loaded: {c['heavy_modules']})"))
        for backend in ("onnx", "torch"):
            r = cold_figs.get(f"rss_{backend}", {})
            lines.append(f"- peak RSS of `embed()` on {n} sentences, backend={backend}: "
                         + (f"not available ({r.get('skip')})" if "peak_rss_bytes" not in r else
                            f"{r['peak_rss_bytes'] / 2**20:.0f} MiB" + (f" ({r['note']})" if r.get("note") else "")))
    lines += ["", "| target (issue 13, section 4) | measured | limit | status |", "|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['measured']} | {t['limit']} | **{t['status']}** |" for t in result["targets"]]
    m = result["machine"]
    lines += ["", f"| target (issue 25) on {m['cpu']} ({m.get('family', '?')}) | measured | limit | status |",
              "|---|---|---|---|"]
    lines += [f"| {t['what']} | {t['measured']} | {t['limit']} | **{t['status']}** |"
              for t in result.get("targets25", [])]
    return "\n".join(lines) + "\n"


def write_section(text: str, path: Path) -> None:
    """Put this script's section below run.py's marker, replacing an earlier one."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if OTHER_SCRIPTS not in old:
        old = old.rstrip("\n") + "\n\n" + OTHER_SCRIPTS + "\n"
    head, tail = old.split(OTHER_SCRIPTS, 1)
    start = tail.find(SECTION)
    if start >= 0:
        end = tail.find("\n## ", start + len(SECTION))
        tail = tail[:start] + (tail[end + 1:] if end >= 0 else "")
    tail = tail.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    path.write_text(head + OTHER_SCRIPTS + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2048, help="sentences (default 2048, the corpus)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, median kept (default 3)")
    parser.add_argument("--only", default=None, help="comma-separated contender keys (the raw loop always runs): "
                                                     + ", ".join(k for k, _ in ROWS))
    parser.add_argument("--no-cold", action="store_true", help="skip import time, cold CLI start and peak RSS")
    parser.add_argument("--no-sts", action="store_true", help="skip the STS-B dev Spearman of the rows in STS_ROWS")
    parser.add_argument("--cli-runs", type=int, default=5, help="cold ONNX CLI processes (median; default 5)")
    parser.add_argument("--json", default=str(HERE / "results" / "cpu.json"), help="where to write the figures")
    parser.add_argument("--write", action="store_true", help="rewrite the '## CPU contenders' section of RESULTS.md")
    args = parser.parse_args(argv)
    only = {k.strip() for k in args.only.split(",")} if args.only else None
    unknown = (only or set()) - {k for k, _ in ROWS}
    if unknown:
        parser.error(f"unknown contender(s) {sorted(unknown)}")

    wall = time.perf_counter()
    import corpus as corpus_mod

    info = machine()
    corpus = corpus_mod.build()
    texts = corpus["sentences"][: args.n]
    model_dir = minilm_path()
    cache = CACHE / "cpu"
    cache.mkdir(parents=True, exist_ok=True)
    log(f"CPU contenders on {info['cpu']} (flags {' '.join(info['flags'])}: {info['family']}), {info['cores']} cores, "
        f"{len(texts)} sentences, {args.rounds} rounds; venvs in {VENVS}")
    t = time.perf_counter()
    onnx_dir, who = prepare_onnx(model_dir, cache)
    log(f"ONNX export: {onnx_dir} ({who}, {time.perf_counter() - t:.1f} s)")
    fe_dir = fastembed_dir(onnx_dir, model_dir, cache) if onnx_dir else None
    links = model_copy(model_dir, cache)
    budget = easynlu_token_budget()
    with tempfile.TemporaryDirectory(prefix="easynlu-cpu-") as tmp:
        work = Path(tmp)
        texts_file = work / "texts.json"
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
        log("\n== speed (each contender in its own process) ==")
        gold = None if args.no_sts else sts_b_dev()
        rows = speed(texts_file, len(texts), args.rounds, model_dir, links, onnx_dir, fe_dir, budget, work, only,
                     gold)
        cold_figs = None
        if not args.no_cold:
            log("\n== cold figures (fresh processes) ==")
            cold_figs = cold(model_dir, texts_file, "per_s" in rows.get("easynlu.onnx", {}), args.cli_runs)
    info["load_average_end"] = os.getloadavg()
    result = {"machine": info, "n": len(texts), "rounds": args.rounds, "corpus_sha256": corpus["sha256"],
              "onnx_export": f"{who}" if onnx_dir else who, "token_budget": budget, "rows": rows, "cold": cold_figs}
    result["targets"] = targets(rows, cold_figs)
    result["targets25"] = family_targets(rows, info["family"], info["cpu"])
    result["wall_s"] = time.perf_counter() - wall
    text = table(result)
    log("\n" + text)
    log(f"load average {tuple(round(x, 2) for x in info['load_average_start'])} at start, "
        f"{tuple(round(x, 2) for x in info['load_average_end'])} at end; {result['wall_s'] / 60:.1f} min in all")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
    log(f"JSON: {out}")
    if args.write:
        start, end = info["load_average_start"][0], info["load_average_end"][0]
        section = (f"{SECTION} (`python benchmarks/cpu.py`, {info['date']}; load average {start:.2f} at start, "
                   f"{end:.2f} at end, on 2 cores: the machine is shared, compare ratios within one run)\n\n" + text)
        write_section(section, HERE / "RESULTS.md")
        log(f"Markdown: {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

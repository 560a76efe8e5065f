#!/usr/bin/env bash
# The GPU check (issue 26) in one call: install easynlu from this working tree, run the gpu tests, run the
# GPU benchmark, and write the results to OUTDIR. Meant to finish in under 8 minutes on one H100.
#
#   bash tools/gpu_wheels.sh                 # once, where pip can reach an index: tools/gpu_carry/ (git-ignored)
#   bash tools/gpu_check.sh OUTDIR           # on the GPU machine (no network needed)
#   bash tools/gpu_check.sh OUTDIR --cpu     # here: the gpu tests skip, the benchmark runs a tiny shape on the CPU
#
# OUTDIR gets: env.txt (versions, nvidia-smi), gpu-tests.xml (JUnit, with each precision test's min cosines
# as properties), gpu-tests.txt, gpu-bench.json, gpu-bench.txt, summary.json. Exit status 0 when the tests
# passed (or skipped) and the benchmark ran; missed speed targets are reported, not failed.
# PYTHON picks the interpreter (default python3); TEST_TIMEOUT and BENCH_TIMEOUT bound the two steps (s).
set -uo pipefail
OUT="${1:?usage: tools/gpu_check.sh OUTDIR [--cpu]}"
MODE="${2:-}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/tools/gpu_carry"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
cd "$ROOT" || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
START=$(date +%s)
step() { echo "== $* (at $(( $(date +%s) - START )) s)"; }

step "environment"
{
    "$PY" -V
    if command -v nvidia-smi >/dev/null; then nvidia-smi 2>&1 | head -20; else echo "no nvidia-smi"; fi
    "$PY" - <<'EOF'
import importlib
for name in ("torch", "transformers", "sentence_transformers", "tokenizers", "pandas", "numpy", "pyarrow", "pytest"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as err:  # noqa: BLE001
        print(name, "MISSING", err)
import torch
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

step "wheels the image lacks (tools/gpu_carry/wheels)"
TAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELS=("$CARRY"/wheels/*.whl)
if [ ! -e "${WHEELS[0]}" ]; then
    echo "no wheels in $CARRY/wheels: skipped (run tools/gpu_wheels.sh first where the image lacks packages)"
elif ls "$CARRY"/wheels/*-cp3*.whl 2>/dev/null | grep -qv -- "-$TAG-"; then
    echo "the wheels are for another Python than this $TAG: skipped (GPU_PYTHON=X.Y bash tools/gpu_wheels.sh)"
else
    SITE="${TMPDIR:-/tmp}/easynlu-gpu-site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "${WHEELS[@]}" \
        && export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" && echo "installed into $SITE: ${WHEELS[*]##*/}"
fi

step "easynlu from this working tree"
if "$PY" -c "import easynlu, sys; sys.exit(not easynlu.__file__.startswith('$ROOT/'))" 2>/dev/null; then
    echo "already installed from $ROOT"
elif [ "$MODE" != "--cpu" ] && "$PY" -m pip install -q --no-deps --no-build-isolation --no-index -e . ; then
    echo "pip install --no-deps -e . done"
else
    export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    echo "using PYTHONPATH=$ROOT"
fi
"$PY" -c "import easynlu, sentencex, platformdirs; print('easynlu', easynlu.__version__, 'from', easynlu.__file__)"

step "gpu tests"
timeout "${TEST_TIMEOUT:-210}" "$PY" -m pytest -p no:cacheprovider -m gpu tests/test_gpu.py -rA -o junit_family=xunit1 \
    --junitxml="$OUT/gpu-tests.xml" 2>&1 | tee "$OUT/gpu-tests.txt"
TESTS_RC=${PIPESTATUS[0]}

step "GPU benchmark"
BENCH_ARGS=(--json "$OUT/gpu-bench.json")
[ "$MODE" = "--cpu" ] && BENCH_ARGS+=(--cpu-smoke) || BENCH_ARGS+=(--reps 3)
[ -f "$CARRY/corpus.json" ] && BENCH_ARGS+=(--corpus "$CARRY/corpus.json")
timeout "${BENCH_TIMEOUT:-200}" "$PY" benchmarks/gpu.py "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT/gpu-bench.txt"
BENCH_RC=${PIPESTATUS[0]}

step "summary"
"$PY" - "$OUT" "$TESTS_RC" "$BENCH_RC" "$(( $(date +%s) - START ))" <<'EOF'
import json, os, sys
import xml.etree.ElementTree as ET

out, tests_rc, bench_rc, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
summary = {"tests_exit": tests_rc, "bench_exit": bench_rc, "seconds": seconds, "tests": {}, "min_cosine": {}}
xml = os.path.join(out, "gpu-tests.xml")
if os.path.exists(xml):
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        summary["tests"][outcome] = summary["tests"].get(outcome, 0) + 1
        for prop in case.iter("property"):
            summary["min_cosine"][f"{case.get('name')}:{prop.get('name')}"] = float(prop.get("value"))
bench = os.path.join(out, "gpu-bench.json")
if os.path.exists(bench):
    results = json.load(open(bench))
    summary["machine"] = results.get("machine")
    summary["targets"] = {k: v["targets"] for k, v in results.get("configs", {}).items()}
    summary["targets_passed"], summary["bench_correct"] = results.get("targets_passed"), results.get("correct")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(json.dumps({k: v for k, v in summary.items() if k != "min_cosine"}, indent=1))
if summary["min_cosine"]:
    print("lowest min cosine:", min(summary["min_cosine"].items(), key=lambda kv: kv[1]))
EOF
echo "results in $OUT"
[ "$TESTS_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]

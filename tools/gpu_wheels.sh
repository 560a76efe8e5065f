#!/usr/bin/env bash
# Prepare, on a machine with a package index, what tools/gpu_check.sh needs on a GPU machine without network:
#   tools/gpu_carry/wheels/   wheels of easynlu's dependencies the GPU image lacks (sentencex, platformdirs)
#   tools/gpu_carry/corpus.json   the CPU benchmarks' corpus (benchmarks/corpus.py), built here
# tools/gpu_carry/ is git-ignored; it is well under 1 MiB. Run from anywhere, with the dev venv active:
#   bash tools/gpu_wheels.sh            # wheels for the GPU image's Python, 3.12
#   GPU_PYTHON=3.11 bash tools/gpu_wheels.sh
# The versions are the ones installed here (so the GPU run uses what CI tests), else the newest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/tools/gpu_carry"
PYVER="${GPU_PYTHON:-3.12}"
PACKAGES=(sentencex platformdirs)

cd "$ROOT"
mkdir -p "$DEST/wheels"
rm -f "$DEST"/wheels/*.whl
specs=()
for name in "${PACKAGES[@]}"; do
    version="$(python3 -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')"
    specs+=("$name${version:+==$version}")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any \
    -d "$DEST/wheels" "${specs[@]}"
python3 - "$DEST/corpus.json" <<'EOF'
import json, sys
sys.path.insert(0, "benchmarks")
import corpus
c = corpus.build()
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"sentences": c["sentences"], "documents": c["documents"], "sha256": c["sha256"]}, f, ensure_ascii=False)
print("corpus", c["sha256"][:16], len(c["sentences"]), "sentences")
EOF
ls -la "$DEST" "$DEST/wheels"
du -sh "$DEST"

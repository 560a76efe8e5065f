#!/usr/bin/env bash
# Creates the virtualenvs of the contenders that benchmarks/cpu.py runs outside the dev venv,
# because their installs need other versions (optimum-onnx pins transformers < 5).
#
#   bash benchmarks/venvs.sh                 # all of them
#   bash benchmarks/venvs.sh st-onnx         # one: st-onnx, st-openvino, fastembed, openvino or infinity
#
# They live outside the repo: $EASYNLU_BENCH_VENVS, default ~/.cache/easynlu-bench/venvs.
# torch==2.13.0 is installed first in the venvs that need torch: without it pip would pull a
# multi-GB CUDA build. A venv that is already complete (marker file .ok) is left as it is.
set -euo pipefail

VENVS="${EASYNLU_BENCH_VENVS:-${HOME}/.cache/easynlu-bench/venvs}"
PYTHON="${PYTHON:-python3}"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# name -> what to install after torch ("-" for no torch)
declare -A TORCH=([st-onnx]="torch==2.13.0" [st-openvino]="torch==2.13.0" [fastembed]="-" [openvino]="-"
                  [infinity]="torch==2.13.0")
declare -A PACKAGES=(
    [st-onnx]="sentence-transformers[onnx]"
    [st-openvino]="sentence-transformers[openvino]"
    [fastembed]="fastembed"
    [openvino]="openvino tokenizers numpy"
    [infinity]="infinity-emb[server,torch]"  # benchmarks/serve.py's contender server
)
# the import that must work in the finished venv
declare -A CHECK=(
    [st-onnx]="import sentence_transformers, optimum.onnxruntime, onnxruntime"
    [st-openvino]="import sentence_transformers, optimum.intel, openvino"
    [fastembed]="import fastembed, onnxruntime, tokenizers"
    [openvino]="import openvino, tokenizers, numpy"
    [infinity]="import infinity_emb, infinity_emb.infinity_server, sentence_transformers"
)

make_venv() {
    local name="$1" dir="${VENVS}/$1"
    if [ -f "${dir}/.ok" ]; then
        echo "==> ${name}: ready (${dir})"
        return 0
    fi
    echo "==> ${name}: creating ${dir}"
    rm -rf "${dir}"
    "${PYTHON}" -m venv "${dir}"
    local pip="${dir}/bin/python -m pip"
    ${pip} install -q --upgrade pip
    local constraint=()
    if [ "${TORCH[$name]}" != "-" ]; then
        ${pip} install -q "${TORCH[$name]}"
        # keep that torch: a dependency asking for torchvision would otherwise swap in a CUDA build
        echo "${TORCH[$name]}" > "${dir}/torch-constraint.txt"
        constraint=(-c "${dir}/torch-constraint.txt")
    fi
    # shellcheck disable=SC2086
    ${pip} install -q "${constraint[@]}" ${PACKAGES[$name]}
    if ! "${dir}/bin/python" -c "${CHECK[$name]}" 2>/dev/null; then
        # the openvino extra may pull a CUDA torchvision that breaks `import transformers`
        if "${dir}/bin/python" -m pip show -q torchvision >/dev/null 2>&1; then
            echo "    removing torchvision (it breaks imports beside torch 2.13.0 CPU)"
            ${pip} uninstall -q -y torchvision
        fi
    fi
    "${dir}/bin/python" -c "${CHECK[$name]}"
    "${dir}/bin/python" -m pip freeze > "${dir}/requirements.lock"
    touch "${dir}/.ok"
    echo "==> ${name}: ready ($(grep -i -E '^(sentence-transformers|transformers|optimum[-a-z]*|onnxruntime|openvino|fastembed|infinity-emb|torch)==' \
        "${dir}/requirements.lock" | tr '\n' ' '))"
}

names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    names=(st-onnx st-openvino fastembed openvino infinity)
fi
mkdir -p "${VENVS}"
for name in "${names[@]}"; do
    if [ -z "${PACKAGES[$name]+x}" ]; then
        echo "unknown venv '${name}': choose from ${!PACKAGES[*]}" >&2
        exit 2
    fi
    make_venv "${name}"
done

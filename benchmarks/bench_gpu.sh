#!/usr/bin/env bash
# The method's benchmark (bench_method.py) on a GPU with Keras' PyTorch backend: for a lent GPU
# machine, which has PyTorch but no TensorFlow and no network.
#
#   bash benchmarks/bench_gpu.sh OUT [TRAIN] [TEST] [PROFILE]      (default 300 73 full)
#
# Run from the repository root.  Keras and the two small packages it needs that such a machine
# lacks travel as wheels in .whl/ (ignored by git; fetched here, where pip reaches PyPI, with the
# device tool's README's `pip download` line for Python 3.12 and manylinux x86-64: keras, namex,
# optree); they are installed into /tmp/site when .whl/ exists.  PYTHON picks the interpreter
# (default python3, the one holding PyTorch there).  Prints the device, then bench_method's figures;
# OUT/bm/bench.json is updated after every stage, so a run stopped at its time limit still says how
# far it got.  A 300-patient `full` training took 71 min on 2 CPU cores (docs/measurements.md).
set -euo pipefail
out=${1:?usage: bash benchmarks/bench_gpu.sh OUT [TRAIN] [TEST] [PROFILE]}
train=${2:-300}; test=${3:-73}; profile=${4:-full}
py=${PYTHON:-python3}
if [[ -d .whl ]]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-} KERAS_BACKEND=${KERAS_BACKEND:-torch} PYTHONUNBUFFERED=1
"$py" - <<'EOF'
import keras, torch
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU: PyTorch runs on the CPU"
print(f"Keras {keras.__version__} on {keras.backend.backend()}, PyTorch {torch.__version__}: {gpu}")
EOF
mkdir -p "$out"
"$py" benchmarks/bench_method.py --profile "$profile" --train "$train" --test "$test" --no-seg-ablation \
  --out "$out/bm"

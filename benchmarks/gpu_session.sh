#!/usr/bin/env bash
# One prepared session on a lent GPU machine (see docs/performance.md): the CUDA tests and GPU speed
# against MACE, eager and compiled, within DEADLINE seconds.
#
#   bash benchmarks/gpu_session.sh            # on the GPU machine, from the repository root
#
# The machine has CUDA PyTorch (>= 2.11, what the compiled path needs) but neither ase, matscipy nor
# mace-torch: their wheels (Python 3.12, manylinux x86-64) are expected in .whl/ (see the download
# command in docs/performance.md) and are installed into /tmp/site. Results go to $OUT (default
# /tmp/gpu_out): bench.jsonl (one JSON record per benchmark) and cuda_tests.txt. The console log is
# the record of the session.
#
# Rows, in order of value (a row is skipped once BENCH_UNTIL seconds have passed):
#   3BPA small, both dtypes: eager and compiled (inductor) interleaved with MACE;
#   3BPA small float32: compiled with CUDA graphs (mode reduce-overhead);
#   3BPA small float32: Langevin MD steps through ICTPCalculator, eager and compiled, then with CUDA
#     graphs (bench_md.py);
#   box1k small float32: eager and compiled against MACE.
set -u
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/gpu_out}
DEADLINE=${DEADLINE:-540}        # seconds from the start
BENCH_UNTIL=${BENCH_UNTIL:-380}  # benchmarks stop being started after this many seconds
ROW_LIMIT=${ROW_LIMIT:-150}      # seconds per benchmark process (a cold inductor compile included)
mkdir -p "$OUT"
T0=$(date +%s)
now() { echo $(( $(date +%s) - T0 )); }
log() { echo "[$(now) s] $*"; }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD:$PWD/benchmarks
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, torch.cuda.get_device_name())"
lscpu | grep -E "Model name|^CPU\(s\)"

# 1. GPU speed: one process per row; JSON records to bench.jsonl.
row() {  # row SCRIPT ARGS...
    if [ "$(now)" -ge "$BENCH_UNTIL" ]; then log "skipped (time): $*"; return; fi
    log "$*"
    timeout "$ROW_LIMIT" python3 "benchmarks/$1" "${@:2}" > "$OUT/row.txt" 2>&1
    grep -v "^{" "$OUT/row.txt" | grep -v -i "warn\|cuequivariance" | tail -n 25
    tail -n 1 "$OUT/row.txt" | grep "^{" >> "$OUT/bench.jsonl"
}
row bench_model.py --device cuda --compare mace --system 3bpa --dtype float32 --size small --compile inductor --repeats 50 --warmup 5
row bench_model.py --device cuda --compare mace --system 3bpa --dtype float64 --size small --compile inductor --repeats 50 --warmup 5
row bench_model.py --device cuda --system 3bpa --dtype float32 --size small --compile inductor --compile-mode reduce-overhead --repeats 50 --warmup 5
row bench_md.py --device cuda --system 3bpa --dtype float32 --size small --skin 0.5 --compile inductor --steps 100 --warmup 10
row bench_md.py --device cuda --system 3bpa --dtype float32 --size small --skin 0.5 --compile inductor --compile-mode reduce-overhead --steps 100 --warmup 10
row bench_model.py --device cuda --compare mace --system box1k --dtype float32 --size small --compile inductor --repeats 20 --warmup 3
rm -f "$OUT/row.txt"

# 2. The CUDA tests (eager and compiled path on the GPU against the CPU).
log "CUDA tests"
timeout $(( DEADLINE - $(now) - 10 )) python3 -m pytest -q -rs -p no:cacheprovider --runslow -k "cuda" tests \
    > "$OUT/cuda_tests.txt" 2>&1
tail -n 15 "$OUT/cuda_tests.txt"
log "done"

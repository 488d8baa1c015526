#!/usr/bin/env bash
# One prepared session on a lent GPU machine (see docs/performance.md): the CUDA tests, GPU speed
# against MACE, and a chunk of the 3BPA training campaign, within DEADLINE seconds.
#
#   bash benchmarks/gpu_session.sh            # on the GPU machine, from the repository root
#
# The machine has CUDA PyTorch but neither ase, matscipy nor mace-torch: their wheels (Python 3.12,
# manylinux x86-64) are expected in .whl/ (see the download command in docs/performance.md) and
# are installed into /tmp/site. Results go to $OUT (default /tmp/gpu_out): bench.jsonl (one JSON
# record per benchmark), cuda_tests.txt, campaign_gpu.out and campaign.tar (the campaign folder
# after the chunk, to resume from on the CPU). The console log is the record of the session.
set -u
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/gpu_out}
DEADLINE=${DEADLINE:-520}        # seconds from the start; the campaign chunk ends ~45 s before it
BENCH_UNTIL=${BENCH_UNTIL:-250}  # benchmarks stop being started after this many seconds
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

# 1. GPU speed against MACE: one process per row, both models interleaved on the same graph.
bench() {
    if [ "$(now)" -ge "$BENCH_UNTIL" ]; then log "skipped (time): $*"; return; fi
    log "bench_model.py $*"
    timeout 90 python3 benchmarks/bench_model.py --device cuda --compare mace "$@" > "$OUT/row.txt" 2>&1
    grep -v "^{" "$OUT/row.txt" | grep -v -i "warn\|cuequivariance"
    tail -n 1 "$OUT/row.txt" | grep "^{" >> "$OUT/bench.jsonl"
}
bench --system 3bpa --dtype float64 --size small --repeats 50 --warmup 5
bench --system 3bpa --dtype float32 --size small --repeats 50 --warmup 5
bench --system box1k --dtype float32 --size small --repeats 20 --warmup 3
bench --system box1k --dtype float64 --size small --repeats 20 --warmup 3
bench --system box8k --dtype float32 --size small --repeats 10 --warmup 2
bench --system box1k --dtype float32 --size paper --repeats 10 --warmup 2
bench --system box8k --dtype float32 --size paper --repeats 5 --warmup 2
rm -f "$OUT/row.txt"
if [ "$(now)" -lt "$BENCH_UNTIL" ]; then
    log "bench_run.py (the shipped model, MD on the GPU)"
    timeout 90 python3 benchmarks/bench_run.py --device cuda --steps 300 --repeats 100 2>&1 | grep -v -i warn | tail -n 6
fi

# 2. The campaign chunk (background) and the CUDA tests beside it.
budget=$(( DEADLINE - $(now) - 45 ))
log "campaign chunk on the GPU, --max-time $budget"
( taskset -c 0-3 python3 -c "from ictp_calc.cli import main; main()" train models/training/3bpa/campaign.toml \
      --resume --max-time "$budget" --device cuda --set training.checkpoint_every=1 --no-progress \
      > "$OUT/campaign_gpu.out" 2>&1
  tar cf "$OUT/campaign.tar" models/training/3bpa ) &
campaign=$!
log "CUDA tests"
timeout $(( DEADLINE - $(now) - 60 )) taskset -c 4-15 python3 -m pytest -q -rs -p no:cacheprovider -k "cuda" tests \
    > "$OUT/cuda_tests.txt" 2>&1
tail -n 15 "$OUT/cuda_tests.txt"
wait $campaign
log "campaign chunk ended"
tail -n 8 "$OUT/campaign_gpu.out"
log "done"

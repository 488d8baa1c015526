#!/usr/bin/env bash
# The 3BPA training campaign (issue 9): resume it in the background, and commit its state.
#
#   tools/campaign.sh start [MAX_TIME]   resume on core 0, one thread (default budget 2h40m);
#                                        output in models/training/3bpa/, console in campaign.out
#   tools/campaign.sh commit             commit the campaign state; amends the previous commit
#                                        when that is a checkpoint-only commit of this session
#   tools/campaign.sh status             last epochs of the log and whether it is running
#
# Run from the repository root with the virtual environment active. The first chunk of a new
# campaign runs without --resume (start it by hand: ictp-md train models/training/3bpa/campaign.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=models/training/3bpa
MESSAGE="3BPA campaign checkpoint"

case "${1:-}" in
start)
    budget="${2:-2h40m}"
    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE nohup taskset -c 0 \
        ictp-md train "$DIR/campaign.toml" --resume --max-time "$budget" --no-progress \
        >> "$DIR/campaign.out" 2>&1 &
    echo "campaign resumed (pid $!, budget $budget); console: $DIR/campaign.out"
    ;;
commit)
    git add "$DIR"
    if git diff --cached --quiet -- "$DIR"; then echo "nothing new to commit"; exit 0; fi
    head_files=$(git show --name-only --format= HEAD | grep -v "^$DIR/" || true)
    head_age=$(( $(date +%s) - $(git log -1 --format=%ct HEAD) ))
    if [ "$(git log -1 --format=%s HEAD)" = "$MESSAGE" ] && [ -z "$head_files" ] && [ "$head_age" -lt 14400 ]; then
        git commit -q --amend --no-edit -- "$DIR" && echo "amended the checkpoint commit"
    else
        git commit -q -m "$MESSAGE" -- "$DIR" && echo "committed a new checkpoint"
    fi
    ;;
status)
    tail -n 3 "$DIR/log.jsonl" | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(f\"epoch {r['epoch']}: valid E {r['valid_energy_rmse']:.2f} meV, F {r['valid_forces_rmse']:.2f} meV/A, lr {r['lr']:.2e}, {r['elapsed'] / 3600:.2f} h\")"
    pgrep -f "train $DIR/campaign.toml" > /dev/null && echo "running" || echo "not running"
    ;;
*)
    sed -n '2,12p' "$0"; exit 2
    ;;
esac

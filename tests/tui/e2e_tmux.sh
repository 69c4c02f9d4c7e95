#!/usr/bin/env bash
# End to end in a real terminal (tmux, 120×35): launch the console, start quoting, wait for
# fills, flatten with confirmation, see a flat position, quit, and check the exit summary.
#
#   tests/tui/e2e_tmux.sh            # LAUNCH overrides the command, e.g. LAUNCH='tradetui run --speed 10 --json'
#                                    # EXPECT: a regex the painted console must also show
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
LAUNCH=${LAUNCH:-"$(dirname "$PY")/tradetui run --no-start --speed 10 --seed 3 --json"}
LIMIT_S=${LIMIT_S:-30}
SESSION="tradetui-e2e-$$"
OUT=$(mktemp)
# A private tmux server, so the window size is ours and no user session is touched (and no
# COLUMNS/LINES from the caller, e.g. a pytest worker, which Textual would take as the size).
TMUX_CMD=(tmux -L "$SESSION" -f /dev/null)

cleanup() { "${TMUX_CMD[@]}" kill-server 2>/dev/null || true; rm -f "$OUT"; }
trap cleanup EXIT

screen() { "${TMUX_CMD[@]}" capture-pane -p -t "$SESSION"; }
keys() { "${TMUX_CMD[@]}" send-keys -t "$SESSION" "$@"; }

wait_for() {  # wait_for REGEX WHAT: poll the screen until REGEX matches
    local deadline=$((SECONDS + LIMIT_S))
    until screen | grep -Eq -- "$1"; do
        if ((SECONDS >= deadline)); then
            echo "e2e: timed out waiting for $2" >&2
            screen >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "e2e: $2"
}

"${TMUX_CMD[@]}" new-session -d -s "$SESSION" -x 120 -y 35 \
    "unset COLUMNS LINES; TERM=xterm-256color $LAUNCH > $OUT; echo EXIT=\$? >> $OUT; sleep 60"

wait_for "Why this quote" "console painted"
if [[ -n "${EXPECT:-}" ]]; then
    wait_for "$EXPECT" "console shows $EXPECT"
fi
keys s
wait_for " RUNNING " "engine running"
wait_for "volume +[1-9]" "fills on screen"
keys f
wait_for "Flatten the position\?" "flatten asks to confirm"
keys y
wait_for " STOPPED " "engine stopped after flatten"
wait_for "size +0\.000( |$)" "position flat"
keys q
sleep 0.5
if screen | grep -q "Stop and quit?"; then
    keys y
fi
deadline=$((SECONDS + LIMIT_S))
until grep -q "^EXIT=" "$OUT"; do
    if ((SECONDS >= deadline)); then echo "e2e: console did not exit" >&2; exit 1; fi
    sleep 0.2
done
grep -q "^EXIT=0" "$OUT" || { echo "e2e: non-zero exit" >&2; cat "$OUT" >&2; exit 1; }
grep -q '"position_base": 0.0' "$OUT" || { echo "e2e: summary not flat" >&2; cat "$OUT" >&2; exit 1; }
echo "e2e: quit with a flat position"

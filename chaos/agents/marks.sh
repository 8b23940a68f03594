#!/bin/sh
# A task program for the command backend in the chaos suite. It appends timestamped marks to
# $CHAOS_MARKS (one short line per write, O_APPEND, so lines from concurrent runs never mix):
#   start|beat|end|term <task_id> <attempt> <epoch ms> <pgid>
# PROBLEM_ID chooses the run: chaos-<steps>x<seconds per step>[-quiet] (quiet: nothing on stdout
# after the first line, like an agent blocked in a long `kubectl wait`).
# It records its process group in $CHAOS_PIDS so the suite can kill what a dead worker left.
now() { date +%s%3N; }
M="$CHAOS_MARKS"
spec=${PROBLEM_ID#chaos-}
spec=${spec%-quiet}
steps=${spec%%x*}
step=${spec#*x}
: > "$CHAOS_PIDS/$$"
echo "start $TASK_ID $ATTEMPT $(now) $$" >> "$M"
trap 'echo "term $TASK_ID $ATTEMPT $(now) $$" >> "$M"; rm -f "$CHAOS_PIDS/$$"; exit 143' TERM
echo "task $TASK_ID attempt $ATTEMPT started on $WORKER_ID"
i=0
while [ "$i" -lt "$steps" ]; do
  sleep "$step"
  i=$((i + 1))
  echo "beat $TASK_ID $ATTEMPT $(now) $$" >> "$M"
  case "$PROBLEM_ID" in
    *-quiet) ;;
    *) echo "step $i of $steps" ;;
  esac
done
printf '{"task_id": "%s", "attempt": %s, "steps": %s}' "$TASK_ID" "$ATTEMPT" "$steps" > "$RESULT_FILE"
echo "end $TASK_ID $ATTEMPT $(now) $$" >> "$M"
rm -f "$CHAOS_PIDS/$$"

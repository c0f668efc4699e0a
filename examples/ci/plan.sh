#!/bin/sh
# Plan a layout against a committed topology snapshot and write the markdown plan for a pull request comment.
# Usage: plan.sh LAYOUT SNAPSHOT OUT.md
# Exit: 0 no changes, 2 changes (the markdown is in OUT.md either way), 1 error (the message is in OUT.md too).
# SHARDFORM is how to run shardform (default: npx shardform).
set -u
layout=$1
snapshot=$2
out=$3
${SHARDFORM:-npx shardform} plan "$layout" --topo "file:$snapshot" --format markdown --detailed-exitcode >"$out" 2>"$out.err"
code=$?
if [ "$code" -eq 1 ]; then
  { echo "### shardform plan failed for $layout"; echo; echo '```'; cat "$out.err"; echo '```'; } >"$out"
fi
rm -f "$out.err"
exit "$code"

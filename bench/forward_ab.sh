#!/usr/bin/env bash
# Two builds of the `forward_timing` example side by side, alternating, for before/after figures of a
# kernel change on one machine (VMs drift by tens of percent between minutes, so the two take turns and
# the order swaps every turn):
#   cargo build --profile profiling -p beit --example forward_timing   # in each checkout, copied aside
#   bench/forward_ab.sh OLD_BINARY NEW_BINARY [TURNS] [RUNS]
# Prints per turn and configuration (float32, q8, bf16 at batch 1 and 8) the median images/s of RUNS
# forwards of each, then per configuration the median of the turns and their ratio NEW / OLD. The model
# is BEiT-base with random weights (`forward_timing`'s `random`), so nothing is downloaded.
set -euo pipefail
old=$1 new=$2 turns=${3:-6} runs=${4:-4}
log=$(mktemp)
for turn in $(seq 1 "$turns"); do
  for cfg in "1 f32" "8 f32" "1 q8" "8 q8" "1 bf16" "8 bf16"; do
    read -r batch dtype <<<"$cfg"
    extra=()
    [ "$dtype" != f32 ] && extra=("$dtype")
    if [ $((turn % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
    for which in $order; do
      bin=$old
      [ "$which" = new ] && bin=$new
      ips=$("$bin" "$batch" "$runs" random "${extra[@]}" 2>&1 | grep -o '[0-9.]* images/s' | awk '{print $1}' |
        sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
      echo "$turn $dtype b$batch $which $ips" | tee -a "$log"
    done
  done
done
awk '{k = $2 " " $3; v[k, $4, ++n[k, $4]] = $5} END {
  for (k in n) { split(k, p, SUBSEP); keys[p[1]] = 1 }
  for (k in keys) {
    line = k
    for (w = 0; w < 2; w++) {
      who = w ? "new" : "old"; c = n[k, who]
      for (i = 1; i <= c; i++) a[i] = v[k, who, i]
      for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      m[who] = (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
      line = line sprintf("  %s %.2f", who, m[who])
    }
    printf "%s  new/old %.3f\n", line, m["new"] / m["old"]
  }
}' "$log" | sort
rm -f "$log"

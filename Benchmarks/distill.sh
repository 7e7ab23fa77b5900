#!/usr/bin/env bash
# Distillation on IMDB, end to end (issue 30): a teacher (Pipelines/imdb-best.json, a bidirectional
# GRU 128) labels the 22,500 training reviews and the 50,000 unlabeled ones with its probabilities; a
# small student (one direction, GRU 64) learns from them, against the same student on the hard labels
# alone. Both select their epoch on the same 2,500 held-out reviews and are tested once on IMDB's test
# split. Finished steps are skipped when run again. Figures: runs/imdb-student/report.md and
# runs/imdb-student-distilled/report.md.
#
#   Benchmarks/distill.sh        (RNNKIT_DATA: the directory holding aclImdb_v1.tar.gz; THREADS, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${RNNKIT_DATA:-data}
threads=${THREADS:-2}
out=runs/distill
bin=.build/release
swift build -c release --product prep >/dev/null
swift build -c release --product train >/dev/null
swift build -c release --product classify >/dev/null
mkdir -p "$out/data"

[ -f "$out/data/unsup.jsonl" ] || python3 Benchmarks/imdb-distill-data.py split "$data/aclImdb_v1.tar.gz" "$out/data"
[ -f "$out/teacher-data/manifest.json" ] || "$bin/prep" jsonl --train "$out/data/train.jsonl" \
  --validation "$out/data/validation.jsonl" --test "$out/data/test.jsonl" --text-field text --label-field label \
  --recipe imdb-best --name imdb --out "$out/teacher-data" --quiet
[ -f "$out/teacher/model.rnnk" ] || "$bin/train" --shards "$out/teacher-data" --recipe imdb-best \
  --out "$out/teacher" --threads "$threads" --quiet | tee "$out/teacher.log"
if [ ! -f "$out/data/distill-train.jsonl" ]; then
  "$bin/classify" --model "$out/teacher/model.rnnk" --jsonl --id-field id --output jsonl --threads "$threads" \
    "$out/data/train.jsonl" "$out/data/unsup.jsonl" > "$out/data/teacher.jsonl"
  python3 Benchmarks/imdb-distill-data.py merge "$out/data" "$out/data/teacher.jsonl"
fi
"$bin/train" sweep Pipelines/imdb-student.json --threads "$threads"
"$bin/train" sweep Pipelines/imdb-student-distilled.json --threads "$threads"

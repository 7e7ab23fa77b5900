#!/usr/bin/env python3
"""The data of the IMDB distillation demo (Benchmarks/distill.sh), as JSON lines.

  Benchmarks/imdb-distill-data.py split aclImdb_v1.tar.gz DIR
      writes DIR/train.jsonl (22,500 labeled reviews), DIR/validation.jsonl (the other 2,500: 1,250 of
      each class, drawn with seed 1, never trained on by teacher or student), DIR/test.jsonl (25,000) and
      DIR/unsup.jsonl (the 50,000 unlabeled reviews); each line {"id", "text", "label"} (no label in unsup).
  Benchmarks/imdb-distill-data.py merge DIR TEACHER.jsonl
      writes DIR/distill-train.jsonl: train and unsup with the teacher's probabilities ("soft": [neg, pos],
      from `classify --output jsonl` of the teacher on both) and a hard label (the true one for train, the
      teacher's for unsup).
"""
import json
import random
import sys
import tarfile


def split(archive_path, out):
    rows = {"train": [], "test": [], "unsup": []}
    with tarfile.open(archive_path) as archive:
        for member in archive:
            parts = member.name.split("/")
            if not (member.isfile() and len(parts) == 4 and parts[3].endswith(".txt")):
                continue
            part, label = parts[1], parts[2]
            if label not in ("pos", "neg", "unsup"):
                continue
            text = archive.extractfile(member).read().decode("utf-8")
            row = {"id": f"{part}/{label}/{parts[3]}", "text": text}
            if label != "unsup":
                row["label"] = label
            rows["unsup" if label == "unsup" else part].append(row)
    for name in rows:
        rows[name].sort(key=lambda row: row["id"])
    rng = random.Random(1)
    held = set()
    for label in ("neg", "pos"):
        ids = [row["id"] for row in rows["train"] if row["label"] == label]
        held.update(rng.sample(ids, 1250))
    files = {
        "train": [row for row in rows["train"] if row["id"] not in held],
        "validation": [row for row in rows["train"] if row["id"] in held],
        "test": rows["test"],
        "unsup": rows["unsup"],
    }
    for name, lines in files.items():
        with open(f"{out}/{name}.jsonl", "w", encoding="utf-8") as f:
            for row in lines:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{out}/{name}.jsonl: {len(lines)} reviews")


def merge(out, teacher_path):
    teacher = {}
    with open(teacher_path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            teacher[row["id"]] = row
    count = 0
    with open(f"{out}/distill-train.jsonl", "w", encoding="utf-8") as f:
        for name in ("train", "unsup"):
            with open(f"{out}/{name}.jsonl", encoding="utf-8") as source:
                for line in source:
                    row = json.loads(line)
                    taught = teacher[row["id"]]
                    p = taught["probabilities"]
                    row["soft"] = [p["neg"], p["pos"]]
                    row.setdefault("label", taught["label"])
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
    print(f"{out}/distill-train.jsonl: {count} reviews with the teacher's probabilities")


if __name__ == "__main__":
    if sys.argv[1:2] == ["split"]:
        split(*sys.argv[2:])
    elif sys.argv[1:2] == ["merge"]:
        merge(*sys.argv[2:])
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""Writes a roster CSV for import benchmarks: email, name, role, external_id and one enum attribute (timeline).

Usage: bench/generate-import.py ROWS > file.csv
"""
import random
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
rng = random.Random(42)
timelines = ["fixed", "fomo", "stragglers", "otot"]
out = sys.stdout
out.write("email,name,role,external_id,timeline\r\n")
for i in range(rows):
    role = "editor" if i % 50 == 0 else ""
    out.write(f"student{i}@example.edu,\"Student {i}, Test\",{role},S{1000000 + i},{rng.choice(timelines)}\r\n")

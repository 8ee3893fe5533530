#!/usr/bin/env python3
"""Where a server's memory is: group a copy of /proc/PID/smaps (take it right after
bench/lists.py's L1-L5, e.g. `cp /proc/$(pgrep -n gatehouse)/smaps /tmp/s`) into file
mappings by file and anonymous mappings by size class — glibc's per-arena 64 MiB heaps
(SQLite and libpq allocate there), mimalloc's arenas (the Rust heap), thread stacks.

Usage: bench/smaps.py SMAPS_COPY
"""
import sys, re, collections
maps, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if m:
        cur = dict(start=int(m.group(1), 16), end=int(m.group(2), 16), perm=m.group(3), name=m.group(4).strip(), rss=0, anon=0)
        maps.append(cur)
    elif line.startswith("Rss:"):
        cur["rss"] = int(line.split()[1])
    elif line.startswith("Anonymous:"):
        cur["anon"] = int(line.split()[1])
groups = collections.defaultdict(lambda: [0, 0, 0])
for m in maps:
    size = (m["end"] - m["start"]) // 1024
    if m["name"].startswith("/"):
        key = "file " + m["name"].rsplit("/", 1)[1]
    elif m["name"]:
        key = m["name"]
    else:
        if size == 65536 or (size < 65536 and size > 60000): key = "anon 64MiB-class (glibc arena heap)"
        elif size >= 1048576: key = "anon >=1GiB (mimalloc arena)"
        elif size >= 8000 and size <= 8200: key = "anon ~8MiB (thread stack)"
        elif size >= 2040 and size <= 2060: key = "anon ~2MiB (thread stack)"
        else: key = "anon other (%s)" % ("big" if size > 4096 else "small")
    g = groups[key]; g[0] += m["rss"]; g[1] += m["anon"]; g[2] += 1
tot = sum(g[0] for g in groups.values())
for k, (rss, anon, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
    if rss >= 64:
        print(f"{rss/1024:7.1f} MiB rss  {anon/1024:6.1f} anon  {n:4d} maps  {k}")
print(f"{tot/1024:7.1f} MiB total")

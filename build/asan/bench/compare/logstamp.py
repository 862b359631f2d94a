#!/usr/bin/env python3
"""bench/compare.sh helper: follow sshd's -E log (which has no timestamps)
and write "EPOCH LINE" for each "Failed password" line as soon as it is
readable (polled every 2 ms), so the block delay can also be measured from
the moment the failure reaches the log.  Exits after LIMIT seconds.

	logstamp.py LOG OUT LIMIT
"""
import sys
import time

log, out, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.time() + limit
with open(log, "r", errors="replace") as f, open(out, "a") as o:
    f.seek(0, 2)
    buf = ""
    while time.time() < end:
        chunk = f.read()
        if not chunk:
            time.sleep(0.002)
            continue
        now = time.time()
        buf += chunk
        *lines, buf = buf.split("\n")
        for line in lines:
            if "Failed password" in line:
                o.write("%.6f %s\n" % (now, line))
        o.flush()

#!/usr/bin/env python3
"""Regenerate the seed corpora in tests/fuzz/corpus/ from the
table-driven test data (tests/data/*.txt) and a few hand-written cases.
Run from the repository root; the corpora are committed, so this is only
needed when the data files grow.  Crash reproducers found by `make fuzz`
are added by hand (corpus/<target>/crash-<what>) and never regenerated."""
import hashlib, os, re, struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, data, name=None):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    name = name or "seed-" + hashlib.sha1(data).hexdigest()[:12]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def unescape(s):
    out = ""
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            c = s[i + 1]
            if c == "x":
                out += chr(int(s[i + 2:i + 4], 16)); i += 4; continue
            out += {"s": " ", "t": "\t", "n": "\n", "r": "\r", "e": "\x1b", "\\": "\\"}.get(c, c)
            i += 2; continue
        out += s[i]; i += 1
    return out


# --- config: 0x01 + argument lines, 0x00 + file --------------------------
conf_lines = []
for line in open(os.path.join(ROOT, "tests/data/config.txt"), encoding="latin-1"):
    m = re.match(r"^(OK|ERR) ?(.*?)(?: => .*)?$", line.rstrip("\n"))
    if m:
        conf_lines.append(m.group(2))
for l in conf_lines:
    put("config", "\x01" + l)
put("config", "\x00" + open(os.path.join(ROOT, "pam_module/vpsguard.conf"), encoding="latin-1").read(), "seed-shipped-conf")
put("config", "\x00" + "\n".join(l for l in conf_lines[:60]) + "\n", "seed-many-lines")
put("config", "\x00maxretry = 3\n\x00bantime = 1h\n", "seed-nul-in-file")
put("config", "\x00" + "a" * 5000 + "\n", "seed-long-line")
put("config", "\x01ignoreip=" + ",".join("10.%d.0.0/16" % i for i in range(70)), "seed-ignoreip-too-many")

# --- addr: rhost [\n SSH_CONNECTION] -----------------------------------------
for line in open(os.path.join(ROOT, "tests/data/addr.txt"), encoding="latin-1"):
    f = line.split()
    if not f or f[0].startswith("#"):
        continue
    kind = f[0]
    if kind in ("addr", "cidr", "list") or kind.startswith("key"):
        if len(f) > 1:
            put("addr", unescape(f[1]) if f[1] != '""' else "")
    elif kind == "match" and len(f) > 2:
        put("addr", unescape(f[1]))
    elif kind == "source" and len(f) > 2:
        rh = "" if f[1] == '""' else unescape(f[1])
        if f[2] == "-":
            put("addr", rh)
        else:
            put("addr", rh + "\n" + unescape(f[2]))
for s in ["fe80::1%eth0", "::ffff:192.0.2.7", "a" * 1024, "host\nname", "\x1b[31m198.51.100.1",
          "evil.example\n203.0.113.9 4242 192.0.2.1 22", "1.2.3.4/33", "2001:db8::/129",
          "::ffff:0:0/104", "fe80::1%" + "e" * 300]:
    put("addr", s)

# --- duration ---------------------------------------------------------------
for s in ["0", "90", "90s", "10m", "1h", "7d", "5w", "1h30m", "1w2d3h4m5s", "315360000",
          "315360001", "18446744073709551616", "1h1h", "30m1h", "1h30", "", "h", "10x",
          "99999999999999999999w", "520w"]:
    put("duration", s)

# --- state ------------------------------------------------------------------
MAG = "pam_vpsguard-state 1\n"
put("state", MAG + "# key ban_count flags banned_at banned_until last_success\n"
    "203.0.113.7 2 0 1763760000 1763846400 0\n2001:db8:66::/64 1 1 1763760000 1763763600 0\n"
    "name:00112233445566778899aabbccddeeff 3 0 1 2 3\nend 3\n", "seed-valid")
put("state", MAG + "end 0\n", "seed-empty")
put("state", MAG + "203.0.113.7 2 0 1763760000 1763846400 0\n", "seed-truncated")
put("state", MAG + "203.0.113.7 2 0 1763760000 1763846400 0\nend 2\n", "seed-bad-count")
put("state", MAG + "203.0.113.7 99999999999 0 1 2 3\nend 1\n", "seed-count-overflow")
put("state", MAG + "203.0.113.7 1 0 -1 2 3\nend 1\n", "seed-negative")
put("state", MAG + "x" * 300 + "\nend 0\n", "seed-long-line")
put("state", "pam_vpsguard-state 2\nend 0\n", "seed-other-version")

# --- table: 0x00 + raw file, 0x01 + entries of a valid 64-entry table --------
HDR, ENT, N = 4096, 64, 64
MUTEX = 40
def hdr(magic=0x56504754, version=1, hdr_size=HDR, ent=ENT, n=N, mutex=MUTEX, fsize=None):
    fsize = HDR + n * ENT if fsize is None else fsize
    h = struct.pack("<IIIIIIQ", magic, version, hdr_size, ent, n, mutex, fsize)
    return h + b"\0" * (HDR - len(h))
def entry(key, fam, prefix, flags=0, failures=0, inflight=0, ban_count=0, times=(0,) * 7, total=0):
    return key + struct.pack("<BBBBHHI7II4x", fam, prefix, flags, 0, failures, inflight, ban_count, *times, total)
v4 = b"\0" * 10 + b"\xff\xff" + bytes([203, 0, 113, 7])
ents = (entry(v4, 4, 32, 0, 3, 1, 2, (900, 950, 800, 5000, 990, 0, 1100), 9) +
        entry(b"\x20\x01\x0d\xb8" + b"\0" * 12, 6, 64, 1, 0xffff, 0xffff, 0xffffffff,
              (0xffffffff,) * 7, 0xffffffff) +
        entry(b"\x55" * 16, ord("N"), 128) + entry(b"\x01" * 16, 99, 200))
put("table", b"\x00" + hdr() + ents + b"\0" * (N * ENT - len(ents)), "seed-valid-64")
put("table", b"\x00" + hdr(), "seed-truncated")
put("table", b"\x00" + hdr(version=2) + b"\0" * N * ENT, "seed-wrong-version")
put("table", b"\x00" + hdr(n=1 << 30) + b"\0" * N * ENT, "seed-huge-count")
put("table", b"\x00" + hdr(fsize=HDR) + b"\0" * N * ENT, "seed-bad-filesize")
put("table", b"\x00" + b"\0" * (HDR + N * ENT), "seed-zeroed")
put("table", b"\x00garbage, not a table\n", "seed-garbage")
put("table", b"\x01" + ents, "seed-entries")
put("table", b"\x01" + b"\xff" * (N * ENT), "seed-entries-ff")

#!/usr/bin/env python3
"""Network helpers for tests/nft/test_nft.sh (run inside its namespace).

  nethelp.py serve PORT...          accept and close on [::]:PORT (v4 too)
  nethelp.py probe SRC DST PORT     prints ok | timeout | refused | error
  nethelp.py burst SRC DST PORT N   N quick connects; prints each result,
                                    stops at the first timeout
  nethelp.py elem SET ADDR          from `nft -j list set inet vpsguard SET`:
                                    "timeout=S comment=C" or "absent"
  nethelp.py count SET              number of elements
Every wait is bounded: connect timeout 1 s, the server exits after 900 s.
"""
import json
import select
import socket
import subprocess
import sys
import time


def serve(ports):
    socks = []
    for p in ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", int(p)))
        s.listen(128)
        socks.append(s)
    end = time.time() + 900
    while time.time() < end:
        r, _, _ = select.select(socks, [], [], 1.0)
        for s in r:
            c, _ = s.accept()
            c.close()


def connect(src, dst, port):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.bind((src, 0))
        s.connect((dst, int(port)))
        return "ok"
    except socket.timeout:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return "error:%s" % e.errno
    finally:
        s.close()


def nft_set(name):
    out = subprocess.run(["nft", "-j", "list", "set", "inet", "vpsguard", name],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return None
    for obj in json.loads(out.stdout)["nftables"]:
        if "set" in obj:
            return obj["set"].get("elem", [])
    return []


def elems(name):
    res = {}
    for e in nft_set(name) or []:
        if isinstance(e, dict) and "elem" in e:
            v = e["elem"]["val"]
            res[str(v)] = e["elem"]
        else:
            res[str(e)] = {}
    return res


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2:])
    elif cmd == "probe":
        print(connect(*sys.argv[2:5]))
    elif cmd == "burst":
        out = []
        for _ in range(int(sys.argv[5])):
            r = connect(*sys.argv[2:5])
            out.append(r)
            if r != "ok":
                break
        print(" ".join(out))
    elif cmd == "elem":
        e = elems(sys.argv[2]).get(sys.argv[3])
        if e is None:
            print("absent")
        else:
            print("timeout=%s comment=%s" % (e.get("timeout", "none"),
                                             e.get("comment", "none")))
    elif cmd == "count":
        s = nft_set(sys.argv[2])
        print(-1 if s is None else len(s))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Network helpers for tests/nft/test_nft.sh (run inside its namespace).

  nethelp.py serve PORT...          accept on [::]:PORT (v4 too), echo what
                                    a client sends, close at its EOF
  nethelp.py probe SRC DST PORT     prints ok | timeout | refused | error
  nethelp.py burst SRC DST PORT N   N quick connects; prints each result,
                                    stops at the first timeout
  nethelp.py elem SET ADDR          from `nft -j list set inet vpsguard SET`:
                                    "timeout=S comment=C" or "absent"
  nethelp.py count SET              number of elements
  nethelp.py chat SRC DST PORT N [GO]  connect, (wait for file GO,) then N
                                    one-byte round trips, each its own
                                    packet: "ok" or "timeout@I" / "error..."
  nethelp.py forge MODE SRC DST PORT N  N forged TCP handshake starts from
                                    SRC (raw socket, any source address):
                                    syn = bare SYN; synrst = SYN, then a
                                    RST with the right sequence number;
                                    synack = SYN, then an ACK guessing the
                                    server's sequence number
  nethelp.py spread DST PORT N BASE  one forged SYN from each of N sources:
                                    BASE + i (IPv4) or BASE + i<<64 (IPv6,
                                    N different /64s)
Every wait is bounded: connect timeout 1 s, the server exits after 900 s.
"""
import ipaddress
import json
import os
import random
import select
import socket
import struct
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
    conns = []
    end = time.time() + 900
    while time.time() < end:
        r, _, _ = select.select(socks + conns, [], [], 1.0)
        for s in r:
            if s in socks:
                c, _ = s.accept()
                c.setblocking(False)
                conns.append(c)
                while len(conns) > 200:     # bounded: oldest goes
                    conns.pop(0).close()
                continue
            try:
                d = s.recv(4096)
                if d:
                    s.send(d)
                    continue
            except OSError:
                pass
            conns.remove(s)
            s.close()


def chat(src, dst, port, n, go=None):
    fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(1.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i = -1
    try:
        s.bind((src, 0))
        s.connect((dst, int(port)))
        if go:
            end = time.time() + 20
            while not os.path.exists(go) and time.time() < end:
                time.sleep(0.05)
        for i in range(n):
            s.sendall(b"x")
            if s.recv(1) != b"x":
                return "eof@%d" % i
            time.sleep(0.01)
        return "ok"
    except socket.timeout:
        return "timeout@%d" % i
    except OSError as e:
        return "error:%s" % e.errno
    finally:
        s.close()


def csum(b):
    if len(b) % 2:
        b += b"\0"
    v = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while v >> 16:
        v = (v & 0xffff) + (v >> 16)
    return ~v & 0xffff


def send_tcp(src, dst, dport, flags, sport, seq, ack):
    """One TCP segment with a source address of our choosing."""
    s_ip = ipaddress.ip_address(src)
    d_ip = ipaddress.ip_address(dst)
    v6 = s_ip.version == 6
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags,
                      65535, 0, 0)
    if v6:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!I3xB", len(tcp), 6)
    else:
        pseudo = s_ip.packed + d_ip.packed + struct.pack("!xBH", 6, len(tcp))
    c = csum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    if v6:      # IPPROTO_RAW implies IPV6_HDRINCL (Linux >= 4.5)
        pkt = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + \
            s_ip.packed + d_ip.packed + tcp
        fam = socket.AF_INET6
    else:       # IPPROTO_RAW implies IP_HDRINCL; the kernel fills csum
        pkt = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(tcp),
                          random.randrange(65536), 0, 64, 6, 0) + \
            s_ip.packed + d_ip.packed + tcp
        fam = socket.AF_INET
    r = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        r.sendto(pkt, (dst, 0))
    finally:
        r.close()


def forge(mode, src, dst, port, n):
    for _ in range(n):
        sport = random.randrange(1024, 65536)
        seq = random.randrange(1 << 32)
        send_tcp(src, dst, port, 0x02, sport, seq, 0)
        if mode == "syn":
            continue
        time.sleep(0.005)       # after our SYN-ACK went out
        if mode == "synrst":
            send_tcp(src, dst, port, 0x04, sport, (seq + 1) % (1 << 32), 0)
        elif mode == "synack":
            send_tcp(src, dst, port, 0x10, sport, (seq + 1) % (1 << 32),
                     random.randrange(1 << 32))


def spread(dst, port, n, base):
    b = ipaddress.ip_address(base)
    step = 1 << 64 if b.version == 6 else 1
    for i in range(n):
        send_tcp(str(b + i * step), dst, port, 0x02,
                 random.randrange(1024, 65536), random.randrange(1 << 32), 0)


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
    elif cmd == "chat":
        print(chat(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
                   sys.argv[6] if len(sys.argv) > 6 else None))
    elif cmd == "forge":
        forge(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]),
              int(sys.argv[6]))
    elif cmd == "spread":
        spread(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "count":
        s = nft_set(sys.argv[2])
        print(-1 if s is None else len(s))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Idle keep-alive connections beside a normal client, for bench/idle_bench.sh.

    idle_client.py HOST:PORT --pids PID[,PID…] [--idle N] [--requests M] [--path P]… [--stats P]

1. RSS (VmRSS summed over --pids) of the server before;
2. a normal client: one keep-alive connection, M sequential GETs per --path (after 100 to warm
   up), latency p50/p99/max of each;
3. N idle connections: each sends one GET /health, reads the answer and then stays open, idle;
4. RSS with them open, the server's --stats document if given, and the normal client again
   (on a new connection) beside them;
5. how many idle connections the server kept open, then all closed, and RSS after.
Bounded: at most N + 2 connections, a 5 s timeout on every socket, and a 60 s deadline.
"""
import argparse
import resource
import socket
import sys
import time

DEADLINE = time.monotonic() + 60


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def request(sock, host, path):
    """One GET on a keep-alive connection; returns (status, body). Content-Length answers only."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed while answering {path}")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise ConnectionError(f"answer to {path} has no Content-Length")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed in the body of {path}")
        body += chunk
    return status, body


def connect(addr):
    sock = socket.create_connection(addr, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def normal_client(addr, host, paths, count, label):
    sock = connect(addr)
    try:
        for path in paths:
            for _ in range(100):
                request(sock, host, path)
            lat, statuses = [], set()
            for _ in range(count):
                if time.monotonic() > DEADLINE:
                    sys.exit("idle_client: past the 60 s deadline")
                t0 = time.perf_counter_ns()
                status, _ = request(sock, host, path)
                lat.append((time.perf_counter_ns() - t0) / 1e3)
                statuses.add(status)
            lat.sort()
            print(f"  normal client {label:<12} {path:<40} {count} requests, status {sorted(statuses)}: "
                  f"p50 {lat[len(lat) // 2]:.0f} us, p99 {lat[int(len(lat) * 0.99)]:.0f} us, max {lat[-1]:.0f} us")
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--pids", required=True, help="comma-separated pids whose VmRSS is summed")
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--path", action="append", default=None)
    ap.add_argument("--stats", default=None, help="a path printed once while the idle connections are open")
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    addr = (host, int(port))
    pids = [int(p) for p in args.pids.split(",") if p]
    paths = args.path or ["/health"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.idle + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.idle + 1000), hard))

    before = rss_kb(pids)
    print(f"  RSS before: {before} kB")
    normal_client(addr, args.server, paths, args.requests, "alone")

    idle, failed, t0 = [], None, time.monotonic()
    try:
        for _ in range(args.idle):
            if time.monotonic() > DEADLINE:
                failed = "the 60 s deadline"
                break
            sock = connect(addr)
            idle.append(sock)
            status, _ = request(sock, args.server, "/health")
            if status != 200:
                failed = f"status {status}"
                break
    except OSError as e:
        failed = str(e)
    opened = time.monotonic() - t0
    try:
        print(f"  opened {len(idle)} idle connections in {opened:.1f} s" + (f" (stopped: {failed})" if failed else ""))
        time.sleep(1)
        with_idle = rss_kb(pids)
        print(f"  RSS with {len(idle)} idle: {with_idle} kB (+{with_idle - before} kB, "
              f"{(with_idle - before) * 1024 / max(1, len(idle)):.0f} bytes a connection)")
        if args.stats:
            sock = connect(addr)
            print(f"  {args.stats}: {request(sock, args.server, args.stats)[1].decode()}")
            sock.close()
        normal_client(addr, args.server, paths, args.requests, f"beside {len(idle)}")
        still_open = 0
        for sock in idle:
            sock.setblocking(False)
            try:
                still_open += sock.recv(1) != b""  # data would be unexpected; b"" is a close
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
        print(f"  idle connections still open at the end: {still_open} of {len(idle)}")
    finally:
        for sock in idle:
            sock.close()
    time.sleep(1)
    print(f"  RSS after closing them: {rss_kb(pids)} kB")
    if failed or len(idle) < args.idle:
        sys.exit(1)


if __name__ == "__main__":
    main()

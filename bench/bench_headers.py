"""What an oversized request head costs the server: its CPU seconds and the answer.

Usage (from the repository root)::

    python bench/bench_headers.py [--repeats 3] [--sizes-mib 32 100]

Starts ``initserve serve`` (``python -m service serve``, the protocol the service runs) on a free
127.0.0.1 port, then, for each size, sends ``GET /healthz`` with one header field of that many bytes on
a raw socket (and 100,000 one-byte fields once) and reads what comes back within 30 s. It prints, per
case, the median of the server process's CPU seconds (user + system, /proc/<pid>/stat) over the
repeats, the wall time and the answer's status line. Run it with ``PYTHONPATH`` at another checkout to
measure that one (the "before" of a change).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from tests.api.helpers import server_process


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send(port: int, data: bytes, wait: float = 30.0) -> bytes:
    """Sends ``data`` (stopping if the server stops reading) and returns the answer's first line."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait)
        with contextlib.suppress(OSError):
            sock.sendall(data)
        answer = b""
        try:
            while b"\r\n" not in answer:
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        except OSError as exc:
            return f"<{type(exc).__name__} after {len(answer)} bytes>".encode()
        return answer.split(b"\r\n", 1)[0] or b"<closed without an answer>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[32, 100])
    args = parser.parse_args()
    cases = {f"one {mib} MiB header": b"X: " + b"a" * (mib << 20) + b"\r\n" for mib in args.sizes_mib}
    cases["100,000 headers"] = b"".join(b"x-%d: 1\r\n" % i for i in range(100_000))
    print(f"load: {os.getloadavg()[0]:.2f}")
    with server_process(via_cli=True, startup_timeout=60) as (base, process):
        port = int(base.rsplit(":", 1)[1])
        for name, fields in cases.items():
            data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
            cpu, wall = [], []
            for _ in range(args.repeats):
                before, start = cpu_seconds(process.pid), time.monotonic()
                line = send(port, data)
                time.sleep(0.5)  # the server finishes with the connection
                cpu.append(cpu_seconds(process.pid) - before)
                wall.append(time.monotonic() - start - 0.5)
            print(
                f"{name}: server CPU median {statistics.median(cpu):.2f} s (all {[round(c, 2) for c in cpu]}), "
                f"wall median {statistics.median(wall):.2f} s, answer {line.decode(errors='replace')!r}"
            )


if __name__ == "__main__":
    main()

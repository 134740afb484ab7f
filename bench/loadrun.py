#!/usr/bin/env python3
"""One measured wrk run against a running server, with the CPU accounting that tells whether the
figure is trustworthy on a shared 2-core machine.

Waits (bounded) until the machine is quiet, runs a warm-up, then the measured run, and prints one
JSON line: wrk's figures (see wrk/tools_call_echo.lua) plus
  server_cpu_pct   CPU time of the server process / wall time (100 = one core saturated)
  server_us_per_req  server CPU time per request (microseconds): the least noisy efficiency figure
  foreign_cpu_pct  CPU used by anything other than the server and wrk, in % of both cores
  waited_s         how long it waited for the machine to be quiet
"""

import argparse
import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def machine_jiffies():
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), sum(fields) - idle


def proc_jiffies(pid):
    # utime + stime (fields 14 and 15); the comm field may contain spaces, so split after ')'.
    rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def wait_quiet(limit_s, threshold_pct):
    start = time.monotonic()
    while True:
        t0, b0 = machine_jiffies()
        time.sleep(1.0)
        t1, b1 = machine_jiffies()
        busy = 100.0 * (b1 - b0) / max(1, t1 - t0)
        waited = time.monotonic() - start
        if busy <= threshold_pct or waited >= limit_s:
            return waited, busy


def run_wrk(args, duration):
    env = dict(os.environ, BENCH_TOKEN=args.token)
    cmd = [
        "taskset", "-c", str(args.client_core),
        "wrk", "-t1", f"-c{args.conns}", f"-d{duration}s", "--timeout", "5s",
        "-s", args.lua, f"http://127.0.0.1:{args.port}/mcp",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    out, _ = proc.communicate()
    # os.wait4 is not reachable after communicate(); the children's rusage is accumulated instead.
    line = [l for l in out.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not line:
        sys.exit(f"wrk failed ({proc.returncode}):\n{out}")
    return json.loads(line[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--wait-only", action="store_true", help="only wait for a quiet machine")
    p.add_argument("--server-pid", type=int)
    p.add_argument("--port", type=int)
    p.add_argument("--token")
    p.add_argument("--conns", type=int)
    p.add_argument("--duration", type=int)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--client-core", type=int, default=1)
    p.add_argument("--lua")
    p.add_argument("--wait-quiet", type=float, default=120.0, help="max seconds to wait for a quiet machine")
    p.add_argument("--quiet-pct", type=float, default=5.0, help="machine busy %% considered quiet")
    args = p.parse_args()

    waited, busy_before = wait_quiet(args.wait_quiet, args.quiet_pct)
    if args.wait_only:
        print(json.dumps({"waited_s": round(waited, 1), "busy_pct": round(busy_before, 1)}))
        sys.exit(0 if busy_before <= args.quiet_pct else 3)
    if None in (args.server_pid, args.port, args.token, args.conns, args.duration, args.lua):
        p.error("--server-pid, --port, --token, --conns, --duration and --lua are required")
    if args.warmup > 0:
        run_wrk(args, args.warmup)

    children0 = os.times()
    t0, b0 = machine_jiffies()
    s0 = proc_jiffies(args.server_pid)
    w0 = time.monotonic()
    result = run_wrk(args, args.duration)
    wall = time.monotonic() - w0
    s1 = proc_jiffies(args.server_pid)
    t1, b1 = machine_jiffies()
    children1 = os.times()

    wrk_jiffies = ((children1.children_user - children0.children_user)
                   + (children1.children_system - children0.children_system)) * TICK
    server = s1 - s0
    foreign = max(0.0, (b1 - b0) - server - wrk_jiffies)
    result.update(
        server_cpu_pct=round(100.0 * server / TICK / wall, 1),
        server_us_per_req=round(1e6 * server / TICK / max(1, result["requests"]), 1),
        foreign_cpu_pct=round(100.0 * foreign / max(1, t1 - t0), 1),
        busy_before_pct=round(busy_before, 1),
        waited_s=round(waited, 1),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

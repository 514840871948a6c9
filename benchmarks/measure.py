"""Run one command and measure it: wall time, CPU time and peak memory.

Two memory figures, because a run may be several processes:
- `max_rss_mb`: the largest resident set of any single process of the command's
  tree (from wait4's rusage, which covers the waited-for descendants);
- `peak_tree_mb`: the largest sum over the whole tree at any moment, sampled from
  /proc every `interval` seconds, counting proportional set size (PSS) so that
  pages shared by forked workers are not counted twice (RSS where PSS is
  unavailable). Linux only; None elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass
class Measurement:
    returncode: int
    seconds: float
    user_seconds: float
    sys_seconds: float
    max_rss_mb: float
    peak_tree_mb: float | None
    stdout: str
    stderr: str

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.sys_seconds


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _memory_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE // 1024
    except OSError:
        return 0


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                total = sum(_memory_kb(p) for p in _tree(self.pid))
            except OSError:
                total = 0
            self.peak_kb = max(self.peak_kb, total)
            self.stopped.wait(self.interval)


def measure(
    cmd: list[str], env: dict | None = None, cwd: str | Path | None = None, interval: float = 0.25
) -> Measurement:
    sampler = None
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if Path("/proc/self/stat").exists():
        sampler = _TreeSampler(proc.pid, interval)
        sampler.start()
    # read the pipes on threads so that a chatty command cannot block on a full pipe
    out: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda k=k, s=s: out.__setitem__(k, s.read()), daemon=True)
        for k, s in (("stdout", proc.stdout), ("stderr", proc.stderr))
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    if sampler:
        sampler.stopped.set()
        sampler.join()
    return Measurement(
        returncode=proc.returncode,
        seconds=seconds,
        user_seconds=usage.ru_utime,
        sys_seconds=usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        peak_tree_mb=sampler.peak_kb / 1024 if sampler else None,
        stdout=out.get("stdout", b"").decode("utf-8", "replace"),
        stderr=out.get("stderr", b"").decode("utf-8", "replace"),
    )

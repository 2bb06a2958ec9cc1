#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""proxy_bench.py - the daemon under load: Postfix's smtp-source -> arcproxy -> smtp-sink.

    proxy_bench.py --bin ARCPROXY [--seal-bench BENCH_SEAL_THREADS] [--quick]
                   [--only SECTION,...] [--queue] [--dns] [--sizes 1K,5K,100K,1M]
                   [--sessions 1,20,100] [--modes direct,pass,v,s,sv] [--seconds T]
                   [--json FILE] [--work DIR] [--spool-dir DIR] [--keep]

Normally run through bench/proxy.sh (Release build first). A benchmark, not a test: it
prints figures and compares them with the targets of issues 3 and 4, and exits 0 unless
the tooling itself failed. Sections (all by default; --only picks some):

  threads  bench_seal_threads: in-process seals/s with 1 and 2 threads (>= 1.8x), run
           first (it needs both cores), with the CPU that other work used meanwhile.
  matrix   sizes x sessions x {direct, pass, v, s, sv} on a message that carries one ARC
           set (so v and sv verify for real, s and sv seal i=2): msg/s, arcproxy CPU per
           message, p50/p99 transaction time of a paced probe client and what arcproxy
           adds to it, arcproxy RSS, the ARC results arcproxy logged.
  checks   5 KB without a chain, 20 sessions: pass-through / direct (>= 0.40); sealing CPU
           per message <= pass CPU + 1.15 x two RSA-2048 signatures (openssl speed in the
           same run, alone and beside a pass-through load); mode s with arcproxy under taskset -c 0 vs -c 0,1 (1 vs 2 cores).
  idle     N sessions that send EHLO and idle: RSS delta / N (< 64 KB each).
  big      one 50 MiB message in modes pass and sv, RSS sampled every 100 ms: min/max
           (flat within +-4 MB).
  queue    delivery: queue, 5 KB x 20 sessions: durable msg/s next to the rate of one
           write+fsync+rename+fsync(dir) at a time, both on the filesystem of --spool-dir
           (the work dir by default; the type is printed, since ext4 without a journal
           makes every new file expensive); skipped if the daemon refuses queue mode.
  dns      (issue 4) in a private network namespace (unshare -n: nothing can leave the
           host): verify-only with keys from a zone file vs from a DNS server with a warm
           cache (>= 0.90), and N messages signed by N distinct keys sent at once with a
           slow DNS server (cold cache: about one server delay, not N of them). Skipped,
           saying why, when the daemon does not query dns.servers.

Processes: one smtp-sink (as nobody) for the run; one arcproxy per measurement, on a
fresh spool; smtp-source per load; all on 127.0.0.1, ports picked free at run time. Every
process started here is stopped by PID at exit (also on SIGINT/SIGTERM); every wait is
bounded. See docs/performance.md for the method and the output format.
"""

import argparse
import asyncio
import atexit
import heapq
import json
import os
import platform
import random
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
SIZES = {"1K": 1000, "5K": 5000, "100K": 100000, "1M": 1000000}
MODES = ["direct", "pass", "v", "s", "sv"]
ORIGIN = ("origin.test", "s1")      # the domain/selector of the ARC set messages carry
SEALER = ("bench.test", "arc")      # arcproxy's own sealing key
AUTHSERV = "mx.bench.test"
PROCS = []                          # every Popen started here, stopped at exit
RESULTS = []                        # one dict per measurement, for --json
ARGS = None
WORK = None
BIN = None


def log(*a):
    print(*a, flush=True)


# ---- processes -------------------------------------------------------------------------

def cleanup():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    end = time.monotonic() + 10
    for p in reversed(PROCS):
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    PROCS.clear()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    PROCS.append(p)
    return p


def stop(p, timeout=20):
    """SIGTERM by PID, bounded wait, then SIGKILL. Returns the exit status or 'killed'."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
            return "killed"
    if p in PROCS:
        PROCS.remove(p)
    return p.returncode


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, p, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if p is not None and p.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def proc_cpu(pid):
    """utime + stime of the whole process (all threads), seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_mem(pid):
    """(VmRSS, VmHWM) in KB, or (None, None)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out.get("VmRSS"), out.get("VmHWM")


def find_tool(name):
    for d in ("/usr/sbin", "/usr/lib/postfix/sbin", "/usr/bin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return shutil.which(name)


class Sink:
    """Postfix's smtp-sink on a free port: accepts everything, keeps nothing."""

    def __init__(self):
        self.port = free_port()
        self.log = open(os.path.join(WORK, "smtp-sink-%d.log" % self.port), "wb")
        args = [find_tool("smtp-sink"), "-m", "4096", "-t", "300"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["127.0.0.1:%d" % self.port, "4096"]
        self.p = spawn(args, stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_listening(self.port, self.p):
            raise RuntimeError("smtp-sink did not start (see %s)" % self.log.name)

    def cpu(self):
        return proc_cpu(self.p.pid) or 0.0


class Daemon:
    """One arcproxy on a YAML config (listen, downstream, spool_dir filled in here)."""

    seq = 0

    def __init__(self, sink_port, body, pin=None):
        Daemon.seq += 1
        self.port = free_port()
        self.spool = os.path.join(ARGS.spool_dir or WORK, "spool-%d" % Daemon.seq)
        self.path = os.path.join(WORK, "arcproxy-%d.yaml" % Daemon.seq)
        self.logpath = os.path.join(WORK, "arcproxy-%d.log" % Daemon.seq)
        with open(self.path, "w") as f:
            f.write('listen: ["127.0.0.1:%d"]\ndownstream:\n  address: "127.0.0.1:%d"\n'
                    'spool_dir: "%s"\nhostname: proxy.bench.test\nallow_root: true\nauthserv_id: %s\n'
                    % (self.port, sink_port, self.spool, AUTHSERV))
            f.write(body)
        self.logf = open(self.logpath, "wb")
        args = [BIN, "-c", self.path]
        if pin is not None:
            args = ["taskset", "-c", pin] + args     # taskset execs: same PID
        self.p = spawn(args, stdout=self.logf, stderr=subprocess.STDOUT)
        self.ok = wait_listening(self.port, self.p)
        time.sleep(0.05)        # the connect probe above is a session; let it end

    def pid(self):
        return self.p.pid

    def text(self):
        self.logf.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, n=3):
        lines = [l for l in self.text().splitlines() if l.strip()]
        return " | ".join(lines[-n:])

    def arc_summary(self):
        """ARC results from the per-message log lines: 'pass 100%' style."""
        counts = {}
        sealed = 0
        n = 0
        for line in self.text().splitlines():
            if " qid=" not in line:
                continue
            n += 1
            m = re.search(r" arc=(\S+)", line)
            counts[m.group(1) if m else "?"] = counts.get(m.group(1) if m else "?", 0) + 1
            if " sealed i=" in line:
                sealed += 1
        if n == 0:
            return "-"
        parts = ["%s %d%%" % (k, round(100 * v / n)) for k, v in sorted(counts.items())]
        return ",".join(parts) + (" sealed %d%%" % round(100 * sealed / n) if sealed else "")

    def close(self):
        rc = stop(self.p)
        self.logf.close()
        shutil.rmtree(self.spool, ignore_errors=True)
        return rc


def config_body(mode, delivery="proxy", zone=None, dns_servers=None, extra=""):
    body = "mode: %s\ndelivery: %s\nlimits:\n  max_sessions: 5000\n  max_message_size: 100M\n" \
           % ("pass" if mode == "direct" else mode, delivery)
    if mode in ("s", "sv"):
        body += ('keys:\n  domain: %s\n  selector: %s\n  key_file: "%s"\n'
                 % (SEALER[0], SEALER[1], KEYS["sealer"]))
    if zone or dns_servers:
        body += "dns:\n"
        if zone:
            body += '  zone_file: "%s"\n' % zone
        if dns_servers:
            body += "  servers: [%s]\n  timeout: 3s\n" % ", ".join('"%s"' % s for s in dns_servers)
    return body + extra


# ---- messages --------------------------------------------------------------------------

KEYS = {}


def text_body(n, seed):
    """n bytes of mail-like text: words, lines of about 70 bytes, CRLF, no line starting
    with '.' (so smtp-source -F and the probe send it as is)."""
    rnd = random.Random(seed)
    out = []
    size = 0
    line = []
    col = 0
    nlines = 0
    while size + col + 16 < n:
        if col > 62 + rnd.randrange(12):
            s = " ".join(line) + "\r\n"
            nlines += 1
            if nlines % 8 == 0:
                s += "\r\n"
            out.append(s)
            size += len(s)
            line, col = [], 0
            continue
        w = "".join(chr(97 + rnd.randrange(26)) for _ in range(1 + rnd.randrange(9)))
        line.append(w)
        col += len(w) + 1
    s = " ".join(line)
    out.append(s + "z" * max(0, n - size - len(s) - 2) + "\r\n")
    return "".join(out).encode()


def header(tag):
    return ("From: Alice Example <alice@%s>\r\nTo: Bob Example <bob@example.net>\r\n"
            "Subject: arcproxy bench %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <bench-%s@%s>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            % (ORIGIN[0], tag, tag, ORIGIN[0])).encode()


def keygen(domain, selector):
    kdir = os.path.join(WORK, "keys-" + domain)
    os.makedirs(kdir, exist_ok=True)
    out = subprocess.run([BIN, "keygen", "-d", domain, "-s", selector, "--out", kdir],
                         capture_output=True, timeout=120, check=True)
    return os.path.join(kdir, selector + ".private"), out.stdout.decode()


def seal_cli(data, selector=ORIGIN[1]):
    out = subprocess.run([BIN, "seal", "-d", ORIGIN[0], "-s", selector, "-k", KEYS["origin"],
                          "--authserv-id", "mx.origin.test", "--dns-zone", KEYS["zone"]],
                         input=data, capture_output=True, timeout=120)
    if out.returncode != 0 or not out.stdout.startswith(b"ARC-Seal:"):
        raise RuntimeError("arcproxy seal failed: %s" % out.stderr.decode(errors="replace"))
    return out.stdout


class Message:
    """One test message: .data (CRLF, as on the wire, no dot-stuffing needed) and .file
    (LF line ends, for smtp-source -F, which appends CRLF to each line)."""

    cache = {}

    def __init__(self, size_name, carry):
        self.size_name, self.carry = size_name, carry
        data = header(size_name) + text_body(SIZES[size_name], SIZES[size_name])
        if carry:
            data = seal_cli(data)
        assert not data.startswith(b".") and b"\n." not in data
        self.data = data
        self.file = os.path.join(WORK, "msg-%s-%s.eml" % (size_name, "arc" if carry else "plain"))
        with open(self.file, "wb") as f:
            f.write(data.replace(b"\r\n", b"\n"))

    @classmethod
    def get(cls, size_name, carry):
        k = (size_name, carry)
        if k not in cls.cache:
            cls.cache[k] = Message(size_name, carry)
        return cls.cache[k]


def setup_keys():
    KEYS["origin"], rec1 = keygen(*ORIGIN)
    KEYS["sealer"], rec2 = keygen(*SEALER)
    KEYS["zone"] = os.path.join(WORK, "keys.zone")
    with open(KEYS["zone"], "w") as f:
        f.write(rec1 + rec2)
    # the record text of the origin key, joined, for the DNS responder
    KEYS["origin_txt"] = "".join(re.findall(r'"([^"]*)"', rec1))


# ---- load: smtp-source, and the probe ---------------------------------------------------

def smtp_source(port, msg, sessions, count, timeout):
    """smtp-source -d -s SESSIONS -m COUNT -F FILE: connections reused as Postfix does.
    Returns dict(wall, rc, cpu (its own user+sys), err)."""
    args = [find_tool("smtp-source"), "-d", "-s", str(sessions), "-m", str(count),
            "-F", msg.file, "-M", "source.bench.test", "-f", "alice@%s" % ORIGIN[0],
            "-t", "bob@example.net", "127.0.0.1:%d" % port]
    errpath = os.path.join(WORK, "smtp-source.err")
    with open(errpath, "wb") as err:
        t0 = time.monotonic()
        p = spawn(args, stdout=subprocess.DEVNULL, stderr=err)
        end = t0 + timeout
        status = ru = None
        while time.monotonic() < end:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            time.sleep(0.005)
        wall = time.monotonic() - t0
        if ru is None or status is None or pid != p.pid:
            os.kill(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            p.returncode = -9
            PROCS.remove(p)
            return {"wall": wall, "rc": "timeout", "cpu": 0.0, "err": "timed out"}
        p.returncode = os.waitstatus_to_exitcode(status)
        PROCS.remove(p)
    with open(errpath, "rb") as f:
        text = f.read().decode(errors="replace").strip().splitlines()
    return {"wall": wall, "rc": p.returncode, "cpu": ru.ru_utime + ru.ru_stime,
            "err": text[-1] if text else ""}


class Reader:
    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def reply(self):
        """One (multi-line) SMTP reply -> code (int)."""
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                d = self.s.recv(65536)
                if not d:
                    raise ConnectionError("connection closed")
                self.buf += d
                continue
            line, self.buf = self.buf[:i], self.buf[i + 2:]
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3])


class Probe(threading.Thread):
    """A paced sequential client: EHLO once, then transactions (MAIL, RCPT, DATA pipelined;
    the message; '.') timed from the first command to the reply to '.', a pause
    between them (see pause()), until stopped, max_n timed
    transactions or max_tries in all."""

    def __init__(self, port, msg, max_n=5000, max_tries=100000):
        super().__init__(daemon=True)
        self.port, self.data, self.max_n, self.max_tries = port, msg.data, max_n, max_tries
        self.stop_evt = threading.Event()
        self.seconds = ARGS.seconds
        self.samples, self.errors, self.fatal = [], 0, None

    def run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            r = Reader(s)
            if r.reply() != 220:
                raise ConnectionError("no greeting")
            s.sendall(b"EHLO probe.bench.test\r\n")
            r.reply()
            while (not self.stop_evt.is_set() and len(self.samples) < self.max_n
                   and len(self.samples) + self.errors < self.max_tries):
                t0 = time.perf_counter()
                s.sendall(b"MAIL FROM:<probe@origin.test>\r\nRCPT TO:<bob@example.net>\r\n"
                          b"DATA\r\n")
                codes = [r.reply(), r.reply(), r.reply()]
                if codes[2] != 354:
                    self.errors += 1
                    s.sendall(b"RSET\r\n")
                    r.reply()
                    self.stop_evt.wait(0.1)
                    continue
                s.sendall(self.data + b".\r\n")
                code = r.reply()
                dt = time.perf_counter() - t0
                if code == 250:
                    self.samples.append(dt)
                else:
                    self.errors += 1
                self.stop_evt.wait(self.pause(dt))
            s.sendall(b"QUIT\r\n")
            s.close()
        except (OSError, ValueError) as e:
            self.fatal = str(e)

    def pause(self, dt):
        """3 x the last transaction (the probe adds at most a quarter of one connection's
        load), but at least 10 ms, and at most 1/100 of the run so there are samples."""
        return max(0.01, min(3 * dt, self.seconds / 100))

    def finish(self):
        self.stop_evt.set()
        self.join(60)


def pct(samples, q):
    if not samples:
        return None
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ---- one measurement -------------------------------------------------------------------

HEAD = ("%-5s %4s %-7s %7s %9s %8s %10s %8s %8s %8s %8s %7s %7s %9s  %s"
        % ("size", "sess", "mode", "msgs", "msg/s", "%direct", "cpu_us/msg", "p50_ms", "p99_ms",
           "+p50_ms", "+p99_ms", "rss_MB", "hwm_MB", "load_us", "arc / notes"))


def fmt(v, f):
    return "-" if v is None else f % v


def print_row(r):
    log("%-5s %4d %-7s %7d %9s %8s %10s %8s %8s %8s %8s %7s %7s %9s  %s"
        % (r["size"], r["sessions"], r["mode"] + r.get("tag", ""), r["msgs"],
           fmt(r["rate"], "%.1f"), fmt(r.get("of_direct"), "%.1f%%"),
           fmt(r.get("cpu_us"), "%.0f"), fmt(r["p50_ms"], "%.2f"), fmt(r["p99_ms"], "%.2f"),
           fmt(r.get("add_p50_ms"), "%+.2f"), fmt(r.get("add_p99_ms"), "%+.2f"),
           fmt(r.get("rss_kb") and r["rss_kb"] / 1024, "%.1f"),
           fmt(r.get("hwm_kb") and r["hwm_kb"] / 1024, "%.1f"), fmt(r.get("load_us"), "%.0f"),
           r.get("notes", "")))


def measure(sink, mode, msg, sessions, section, pin=None, delivery="proxy", zone=True,
            dns_servers=None, direct=None, seconds=None, probe=True, after=None, tag=None,
            beside=None):
    """One run: (fresh arcproxy unless mode == 'direct'), a pilot load, then the measured
    load with the probe beside it; after(daemon, result), if given, runs before arcproxy
    is stopped; beside(), if given, runs in a thread while the measured load runs and its
    value is r["beside"]. Returns the result dict (also printed and recorded)."""
    seconds = seconds or ARGS.seconds
    r = {"section": section, "size": msg.size_name, "sessions": sessions, "mode": mode,
         "carry_arc": msg.carry, "delivery": delivery, "pin": pin, "msgs": 0, "rate": None,
         "p50_ms": None, "p99_ms": None}
    r["tag"] = tag or ("@" + pin if pin is not None else "")
    d = None
    if mode == "direct":
        port = sink.port
    else:
        d = Daemon(sink.port, config_body(mode, delivery, KEYS["zone"] if zone else None,
                                          dns_servers), pin)
        if not d.ok:
            r["notes"] = "arcproxy did not start: " + d.tail()
            d.close()
            RESULTS.append(r)
            print_row(r)
            return r
        port = d.port
    try:
        # pilot: to warm up and to size the measured run; run twice, then doubled until it
        # takes 1/10 of the run (at least 0.25 s), so that process start and connection
        # set-up do not dominate the estimate
        pc = max(sessions, 10)
        for i in range(10):
            pilot = smtp_source(port, msg, sessions, pc, timeout=max(30, 20 * seconds))
            if pilot["rc"] != 0:
                r["notes"] = "pilot failed: %s %s" % (pilot["rc"], pilot["err"])
                return r
            if i == 0:          # the first one pays for a fresh process: just warm-up
                continue
            if pilot["wall"] >= max(0.25, seconds / 10) or pc * len(msg.data) > 5e8:
                break
            pc *= 2
        est = pc / max(pilot["wall"], 1e-3)
        cap = min(200000, max(4 * sessions, 3e9 / len(msg.data)))
        count = int(min(max(est * seconds, 4 * sessions, 20), cap))
        for attempt in range(2):    # once more, longer, if it took under half the target
            pr = Probe(port, msg) if probe else None
            cpu0 = proc_cpu(d.pid()) if d else None
            scpu0 = sink.cpu()
            if pr:
                pr.start()
            bt = None
            if beside:
                bt = threading.Thread(target=lambda: r.__setitem__("beside", beside()))
                bt.start()
            res = smtp_source(port, msg, sessions, count, timeout=max(60, 12 * seconds))
            if bt:
                bt.join()
            cpu1 = proc_cpu(d.pid()) if d else None
            scpu1 = sink.cpu()
            if d:
                r["rss_kb"], r["hwm_kb"] = proc_mem(d.pid())
            if pr:
                pr.finish()
            if (attempt or res["rc"] != 0 or res["wall"] >= seconds / 2 or count >= cap):
                break
            count = int(min(count * seconds / max(res["wall"], 1e-3), cap))
        if res["rc"] != 0:
            r["notes"] = "smtp-source: %s %s" % (res["rc"], res["err"])
            return r
        r["msgs"] = count
        r["wall_s"] = res["wall"]
        r["rate"] = count / res["wall"]
        r["load_us"] = 1e6 * (res["cpu"] + scpu1 - scpu0) / count
        if d and cpu0 is not None and cpu1 is not None:     # the probe's messages count too
            r["cpu_us"] = 1e6 * (cpu1 - cpu0) / (count + (len(pr.samples) if pr else 0))
        if pr:
            r["probe_n"] = len(pr.samples)
            r["probe_errors"] = pr.errors
            r["p50_ms"] = pct(pr.samples, 0.5) and 1e3 * pct(pr.samples, 0.5)
            r["p99_ms"] = pct(pr.samples, 0.99) and 1e3 * pct(pr.samples, 0.99)
        if direct and direct.get("rate"):
            r["of_direct"] = 100 * r["rate"] / direct["rate"]
            if r["p50_ms"] is not None and direct.get("p50_ms") is not None:
                r["add_p50_ms"] = r["p50_ms"] - direct["p50_ms"]
                r["add_p99_ms"] = r["p99_ms"] - direct["p99_ms"]
        notes = []
        if d:
            notes.append(d.arc_summary())
        if pr and (pr.errors or pr.fatal):
            notes.append("probe errors %d %s" % (pr.errors, pr.fatal or ""))
        if pr:
            notes.append("probe n=%d" % len(pr.samples))
        r["notes"] = "; ".join(notes)
        return r
    finally:
        if d:
            if after and r["rate"]:
                after(d, r)
            d.close()
        RESULTS.append(r)
        print_row(r)


# ---- sections --------------------------------------------------------------------------

def section_matrix(sink):
    log("\n== matrix: smtp-source -d -> [arcproxy ->] smtp-sink; message with one ARC set "
        "(i=1, origin.test) ==")
    log("   %.1f s per measurement (after a pilot); probe: 1 paced sequential EHLO/PIPELINING "
        "client" % ARGS.seconds)
    log(HEAD)
    for size in ARGS.sizes:
        msg = Message.get(size, True)
        for sess in ARGS.sessions:
            direct = None
            for mode in ARGS.modes:
                r = measure(sink, mode, msg, sess, "matrix", direct=direct)
                if mode == "direct":
                    direct = r


def openssl_sign_rate(seconds):
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "rsa2048"],
                         capture_output=True, timeout=60 + 4 * seconds)
    for line in out.stdout.decode().splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == "rsa" and f[1] == "2048":
            return float(f[5])
    return None


def verdict(ok):
    return "meets target" if ok else "MISSES target"


def section_checks(sink):
    secs = 1 if ARGS.quick else 3
    log("\n== checks: 5 KB message without a chain, 20 sessions ==")
    sign = openssl_sign_rate(secs)
    if sign:
        log("openssl speed -seconds %d rsa2048: %.1f sign/s (%.1f us per signature)"
            % (secs, sign, 1e6 / sign))
    else:
        log("openssl speed rsa2048: no figure")
    RESULTS.append({"section": "checks", "openssl_rsa2048_sign_per_s": sign})
    msg = Message.get("5K", False)
    log(HEAD)
    direct = measure(sink, "direct", msg, 20, "checks")
    passr = measure(sink, "pass", msg, 20, "checks", direct=direct)
    loaded = measure(sink, "pass", msg, 20, "checks", direct=direct, tag="+rsa",
                     beside=lambda: openssl_sign_rate(1))
    rounds = 1 if ARGS.quick else 2
    two, one = [], []
    ncpu = os.cpu_count() or 1
    for _ in range(rounds):
        two.append(measure(sink, "s", msg, 20, "checks", direct=direct,
                           pin="0,1" if ncpu >= 2 else None))
        if ncpu >= 2:
            one.append(measure(sink, "s", msg, 20, "checks", direct=direct, pin="0"))
    log("")
    out = {"section": "checks-summary", "openssl_rsa2048_sign_per_s": sign}
    if direct.get("rate") and passr.get("rate"):
        ratio = passr["rate"] / direct["rate"]
        out["pass_of_direct"] = ratio
        log("pass-through / direct (5 KB, 20 sessions): %.3f  (target >= 0.40: %s)"
            % (ratio, verdict(ratio >= 0.40)))
    s_cpu = [r["cpu_us"] for r in two if r.get("cpu_us")]
    if sign and s_cpu and passr.get("cpu_us"):
        limit = passr["cpu_us"] + 1.15 * 2 * 1e6 / sign
        best = min(s_cpu)
        out.update(seal_cpu_us=best, pass_cpu_us=passr["cpu_us"], seal_cpu_limit_us=limit)
        log("sealing CPU/msg %.0f us <= pass %.0f us + 1.15 x 2 x %.1f us = %.0f us: %s "
            "(excess over pass = %.2f RSA signatures)"
            % (best, passr["cpu_us"], 1e6 / sign, limit, verdict(best <= limit),
               (best - passr["cpu_us"]) * sign / 1e6))
        # the same signatures cost more while the load generator and the sink share the
        # cores: openssl speed beside a pass-through load tells how much
        if loaded and loaded.get("beside"):
            ls = loaded["beside"]
            llimit = passr["cpu_us"] + 1.15 * 2 * 1e6 / ls
            out.update(openssl_rsa2048_sign_per_s_loaded=ls, seal_cpu_limit_loaded_us=llimit)
            log("  with openssl speed run beside a pass-through load (%.1f us per signature, "
                "%.2fx the quiet figure): limit %.0f us: %s (excess = %.2f such signatures)"
                % (1e6 / ls, sign / ls, llimit, verdict(best <= llimit),
                   (best - passr["cpu_us"]) * ls / 1e6))
    r2 = max((r["rate"] for r in two if r.get("rate")), default=None)
    r1 = max((r["rate"] for r in one if r.get("rate")), default=None)
    if r1 and r2:
        out.update(s_rate_1core=r1, s_rate_2cores=r2, cores_ratio=r2 / r1)
        log("1 core vs 2 cores, mode s (arcproxy under taskset -c 0 / -c 0,1; smtp-source and "
            "smtp-sink unpinned, so they share core 0 in the 1-core run): %.1f / %.1f msg/s = "
            "%.2fx" % (r1, r2, r2 / r1))
    elif ncpu < 2:
        log("1 core vs 2 cores: skipped, this machine has %d CPU" % ncpu)
    RESULTS.append(out)


def section_threads():
    log("\n== threads: in-process seals, 1 vs 2 threads (bench_seal_threads) ==")
    if not ARGS.seal_bench or not os.access(ARGS.seal_bench, os.X_OK):
        log("skipped: bench_seal_threads not given (--seal-bench) or not built")
        return
    n, r = ("1000", "2") if ARGS.quick else ("4000", "3")
    busy0, ru0 = cpu_busy_s(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run([ARGS.seal_bench, "-n", n, "-r", r], capture_output=True, timeout=300)
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    other = max(0.0, cpu_busy_s() - busy0 - own)
    text = out.stdout.decode()
    log(text.rstrip())
    # the ratio needs both cores to itself: say how much else ran meanwhile
    log("other work on the machine during the run: %.1f CPU-s in %.1f s (%.0f%% of one core)%s"
        % (other, wall, 100 * other / wall if wall else 0,
           "; the ratio is not a result" if wall and other / wall > 0.10 else ""))
    m = re.search(r"ratio 2 threads / 1 thread: ([\d.]+)", text)
    RESULTS.append({"section": "threads", "ratio": float(m.group(1)) if m else None,
                    "other_cpu_s": other, "wall_s": wall, "output": text})


def cpu_busy_s():
    """CPU-seconds the whole machine has spent busy (not idle or iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v[:8]) - v[3] - v[4]) / hz


def ehlo_session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    r = Reader(s)
    if r.reply() != 220:
        raise ConnectionError("no 220 greeting")
    s.sendall(b"EHLO idle.bench.test\r\n")
    if r.reply() != 250:
        raise ConnectionError("EHLO refused")
    return s


def section_idle(sink):
    n = 200 if ARGS.quick else 1000
    log("\n== idle: %d sessions after EHLO, mode sv ==" % n)
    d = Daemon(sink.port, config_body("sv", zone=KEYS["zone"]))
    socks = []
    try:
        if not d.ok:
            log("skipped: arcproxy did not start: " + d.tail())
            return
        for _ in range(20):             # warm up the allocator and the loop
            ehlo_session(d.port).close()
        time.sleep(0.3)
        rss0, _ = proc_mem(d.pid())
        end = time.monotonic() + 120
        while len(socks) < n and time.monotonic() < end:
            socks.append(ehlo_session(d.port))
        time.sleep(0.5)
        rss1, hwm = proc_mem(d.pid())
        alive = 0
        for s in socks:                 # still open: nothing to read, no EOF
            s.setblocking(False)
            try:
                alive += 0 if s.recv(1) == b"" else 0
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        per = (rss1 - rss0) / max(1, len(socks))
        log("RSS %.1f MB with 0 sessions, %.1f MB with %d (%d still open): %.1f KB per session "
            "(target < 64 KB: %s)" % (rss0 / 1024, rss1 / 1024, len(socks), alive, per,
                                      verdict(per < 64)))
        RESULTS.append({"section": "idle", "sessions": len(socks), "alive": alive,
                        "rss0_kb": rss0, "rss1_kb": rss1, "hwm_kb": hwm, "kb_per_session": per})
    except (OSError, ConnectionError) as e:
        log("idle: failed after %d sessions: %s; arcproxy: %s" % (len(socks), e, d.tail()))
    finally:
        for s in socks:
            s.close()
        d.close()


def big_message_file(carry):
    """A 50 MiB body message (CRLF) in a file, sealed once if carry. Returns its path."""
    path = os.path.join(WORK, "big-%s.eml" % ("arc" if carry else "plain"))
    if os.path.exists(path):
        return path
    plain = os.path.join(WORK, "big-plain.eml")
    if not os.path.exists(plain):
        chunk = text_body(1 << 20, 7)
        with open(plain, "wb") as f:
            f.write(header("50M"))
            for _ in range(50):
                f.write(chunk)
    if carry:
        with open(plain, "rb") as f:
            sealed = seal_cli(f.read())
        with open(path, "wb") as f:
            f.write(sealed)
    return path


def section_big(sink):
    log("\n== big: one 50 MiB message, arcproxy RSS sampled every 100 ms ==")
    for mode in ("pass", "sv"):
        path = big_message_file(mode == "sv")
        size = os.path.getsize(path)
        d = Daemon(sink.port, config_body(mode, zone=KEYS["zone"]))
        try:
            if not d.ok:
                log("%s: arcproxy did not start: %s" % (mode, d.tail()))
                continue
            rss_idle, _ = proc_mem(d.pid())
            samples = []
            done = threading.Event()

            def sampler():
                while not done.is_set():
                    v, _ = proc_mem(d.pid())
                    if v:
                        samples.append(v)
                    done.wait(0.1)

            s = ehlo_session(d.port)
            r = Reader(s)
            s.sendall(b"MAIL FROM:<big@origin.test> SIZE=%d\r\nRCPT TO:<bob@example.net>\r\n"
                      b"DATA\r\n" % size)
            codes = [r.reply(), r.reply(), r.reply()]
            if codes[2] != 354:
                log("%s: refused: %r" % (mode, codes))
                s.close()
                continue
            th = threading.Thread(target=sampler, daemon=True)
            t0 = time.monotonic()
            th.start()
            with open(path, "rb") as f:
                while True:
                    b = f.read(256 * 1024)
                    if not b:
                        break
                    s.sendall(b)
            s.sendall(b".\r\n")
            code = r.reply()
            wall = time.monotonic() - t0
            done.set()
            th.join(5)
            s.sendall(b"QUIT\r\n")
            s.close()
            lo, hi = min(samples), max(samples)
            log("%-4s %.1f MB in %.2f s (%.0f MB/s), reply %d: RSS idle %.1f MB, during the "
                "transfer min %.1f max %.1f MB (spread %.1f MB, %d samples; target +-4 MB: %s)"
                % (mode, size / 1e6, wall, size / 1e6 / wall, code, rss_idle / 1024, lo / 1024,
                   hi / 1024, (hi - lo) / 1024, len(samples), verdict(hi - lo <= 8 * 1024)))
            RESULTS.append({"section": "big", "mode": mode, "bytes": size, "wall_s": wall,
                            "reply": code, "rss_idle_kb": rss_idle, "rss_min_kb": lo,
                            "rss_max_kb": hi, "samples": len(samples)})
        except (OSError, ConnectionError, ValueError) as e:
            log("%s: failed: %s; arcproxy: %s" % (mode, e, d.tail()))
        finally:
            d.close()


def serial_fsync_rate(directory, seconds=1.0):
    """One at a time: write 5 KB to a temp file, fsync, close, rename, fsync the directory."""
    os.makedirs(directory, exist_ok=True)
    data = b"x" * 5000
    dfd = os.open(directory, os.O_RDONLY)
    n = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            tmp = os.path.join(directory, "t%d" % n)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(directory, "q%d" % n))
            os.fsync(dfd)
            n += 1
    finally:
        os.close(dfd)
        shutil.rmtree(directory, ignore_errors=True)
    return n / (time.monotonic() - t0)


def fs_type(path):
    """The filesystem under path as stat -f names it, and whether ext4 has a journal."""
    t = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True,
                       text=True).stdout.strip()
    src = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", path],
                         capture_output=True, text=True).stdout.split()
    if len(src) == 2 and src[1] == "ext4" and os.path.isdir("/proc/fs/jbd2"):
        dev = os.path.basename(src[0])   # a journaled ext4 has /proc/fs/jbd2/DEV-N
        journal = any(j.rsplit("-", 1)[0] == dev for j in os.listdir("/proc/fs/jbd2"))
        t = "ext4 %s %s" % (src[0], "with a journal" if journal else "without a journal")
    return t


def spool_files(spool):
    """Files in the spool (any subdirectory but corrupt/): messages not yet delivered
    (tmp/free.N are removed files kept for reuse)."""
    n = 0
    for top, dirs, files in os.walk(spool):
        dirs[:] = [x for x in dirs if x != "corrupt"]
        n += len([f for f in files if not f.startswith("free.")])
    return n


def section_queue(sink):
    log("\n== queue: delivery: queue, 5 KB without a chain, 20 sessions ==")
    d = Daemon(sink.port, config_body("pass", "queue", KEYS["zone"]))
    ok, why = d.ok, d.tail(2)
    d.close()
    if not ok:
        log("skipped: the daemon refused delivery: queue: %s" % why)
        RESULTS.append({"section": "queue", "skipped": why})
        return
    where = ARGS.spool_dir or WORK
    base = serial_fsync_rate(os.path.join(where, "fsync-test"))
    log("one write+fsync+rename+fsync(dir) at a time in %s (%s): %.0f /s"
        % (where, fs_type(where), base))
    msg = Message.get("5K", False)
    drains = []

    def drain(d, r):
        t0 = time.monotonic()
        while spool_files(d.spool) and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        r["drain_s"], r["left"] = time.monotonic() - t0, spool_files(d.spool)
        r["serial_fsync_per_s"] = base
        drains.append(r)

    log(HEAD)
    for mode in ("pass", "sv"):
        measure(sink, mode, msg, 20, "queue", delivery="queue", after=drain)
    for r in drains:
        log("%-4s %.1f msg/s durable = %.1fx one fsync at a time (target: well above 1); "
            "spool %s %.1f s after the last 250"
            % (r["mode"], r["rate"], r["rate"] / base,
               "empty" if not r["left"] else "still holds %d files" % r["left"], r["drain_s"]))


# ---- DNS (issue 4), inside a private network namespace ----------------------------------

def dns_name(qname_labels):
    return ".".join(l.decode("ascii", "replace") for l in qname_labels).lower()


class DnsServer(threading.Thread):
    """A small authoritative UDP DNS server for TXT records on 127.0.0.1: answers each
    query after `delay` seconds (without blocking the others), NXDOMAIN for unknown names,
    counts queries per name."""

    def __init__(self, records, delay=0.0):
        super().__init__(daemon=True)
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.names = {}
        self.stop_evt = threading.Event()
        self.start()

    def answer(self, q):
        qid, flags, qd = struct.unpack("!HHH", q[:6])
        pos, labels = 12, []
        while q[pos]:
            labels.append(q[pos + 1:pos + 1 + q[pos]])
            pos += 1 + q[pos]
        qtype, qclass = struct.unpack("!HH", q[pos + 1:pos + 5])
        question = q[12:pos + 5]
        name = dns_name(labels)
        self.queries += 1
        self.names[name] = self.names.get(name, 0) + 1
        txt = self.records.get(name)
        rcode = 0 if txt is not None else 3
        rr = b""
        an = 0
        if txt is not None and qtype in (16, 255):
            raw = txt.encode()
            rdata = b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255]
                             for i in range(0, len(raw), 255))
            rr = struct.pack("!HHHIH", 0xC00C, 16, 1, 3600, len(rdata)) + rdata
            an = 1
        hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1, an, 0, 0)
        return hdr + question + rr

    def run(self):
        pending = []
        while not self.stop_evt.is_set():
            timeout = 0.05
            if pending:
                timeout = max(0.0, min(timeout, pending[0][0] - time.monotonic()))
            rd, _, _ = select.select([self.sock], [], [], timeout)
            if rd:
                try:
                    q, addr = self.sock.recvfrom(4096)
                    resp = self.answer(q)
                    heapq.heappush(pending, (time.monotonic() + self.delay, id(resp), resp, addr))
                except (ValueError, IndexError, struct.error, OSError):
                    pass
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, resp, addr = heapq.heappop(pending)
                try:
                    self.sock.sendto(resp, addr)
                except OSError:
                    pass

    def close(self):
        self.stop_evt.set()
        self.join(5)
        self.sock.close()


def dns_query_txt(port, name):
    """Self-check of DnsServer: one TXT query -> the joined strings or None."""
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 16, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(q, ("127.0.0.1", port))
    resp = s.recv(4096)
    s.close()
    if struct.unpack("!H", resp[6:8])[0] == 0:
        return None
    pos = 12 + len(qname) + 4 + 12
    out, end = b"", len(resp)
    while pos < end:
        n = resp[pos]
        out += resp[pos + 1:pos + 1 + n]
        pos += 1 + n
    return out.decode()


async def one_txn(port, data, ready, go, results, sem):
    async with sem:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def reply():
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError("closed")
                if line[3:4] != b"-":
                    return int(line[:3])

        await reply()
        writer.write(b"EHLO cold.bench.test\r\n")
        await reply()
    ready()
    await go.wait()
    t0 = time.monotonic()
    writer.write(b"MAIL FROM:<cold@origin.test>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n")
    codes = [await reply(), await reply(), await reply()]
    code = None
    if codes[2] == 354:
        writer.write(data + b".\r\n")
        code = await reply()
    results.append((code, time.monotonic() - t0))
    writer.write(b"QUIT\r\n")
    writer.close()


async def burst(port, messages, timeout):
    """Open one session per message (EHLO), then send all messages at once; returns
    (wall from the release to the last reply, [(code, seconds)])."""
    go = asyncio.Event()
    results = []
    nready = [0]

    def ready():
        nready[0] += 1
        if nready[0] == len(messages):
            go.set()

    sem = asyncio.Semaphore(100)
    tasks = [asyncio.ensure_future(one_txn(port, m, ready, go, results, sem)) for m in messages]
    t_wait = asyncio.ensure_future(go.wait())
    await asyncio.wait_for(t_wait, timeout)
    t0 = time.monotonic()
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    wall = time.monotonic() - t0
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            results.append((None, 0.0))
    return wall, results


def cold_messages(n):
    """n copies of the 5 KB message, each sealed (i=1) by its own selector kNNNN of
    origin.test (same key pair, distinct key records: distinct DNS names)."""
    plain = header("cold") + text_body(5000, 5000)
    msgs = []
    t0 = time.monotonic()
    sels = ["k%04d" % i for i in range(n)]
    procs = []
    for i, sel in enumerate(sels):      # two arcproxy seal at a time
        procs.append((sel, subprocess.Popen(
            [BIN, "seal", "-d", ORIGIN[0], "-s", sel, "-k", KEYS["origin"], "--authserv-id",
             "mx.origin.test"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL)))
        if len(procs) == 2 or i == n - 1:
            for s, p in procs:
                out, _ = p.communicate(plain, timeout=60)
                if p.returncode != 0:
                    raise RuntimeError("arcproxy seal -s %s failed" % s)
                msgs.append(out)
            procs = []
    return sels, msgs, time.monotonic() - t0


def dns_inner(sink):
    log("\n== dns (issue 4): in a private network namespace (unshare -n) ==")
    zone_rec = {"%s._domainkey.%s" % (ORIGIN[1], ORIGIN[0]): KEYS["origin_txt"]}
    srv = DnsServer(zone_rec)
    try:
        got = dns_query_txt(srv.port, "%s._domainkey.%s" % (ORIGIN[1], ORIGIN[0]))
        if got != KEYS["origin_txt"]:
            log("dns: the bench's DNS server does not answer correctly: skipped")
            return
        srv.queries = 0
        srv.names.clear()
        # does the daemon use dns.servers? One message in mode v, no zone file.
        msg = Message.get("5K", True)
        d = Daemon(sink.port, config_body("v", dns_servers=["127.0.0.1:%d" % srv.port]))
        verdict_line = ""
        try:
            if not d.ok:
                log("dns: skipped: arcproxy refused the dns.servers config: " + d.tail())
                RESULTS.append({"section": "dns", "skipped": d.tail()})
                return
            pr = Probe(d.port, msg, max_n=1, max_tries=1)
            pr.start()
            pr.join(20)
            pr.finish()
            verdict_line = d.arc_summary()
        finally:
            d.close()
        if srv.queries == 0:
            why = ("the daemon made no query to dns.servers (arc: %s): it has no resolver that "
                   "uses dns.servers yet (issue 4)" % verdict_line)
            log("dns: skipped: " + why)
            RESULTS.append({"section": "dns", "skipped": why})
            return
        log("dns: the daemon queried the bench's DNS server (%d queries; arc: %s)"
            % (srv.queries, verdict_line))
        # warm cache vs zone file, mode v, 5 KB with one set, 20 sessions
        log(HEAD)
        rows = {"zone": [], "dns": []}
        for _ in range(1 if ARGS.quick else 2):
            rows["zone"].append(measure(sink, "v", msg, 20, "dns-zone", tag="/zone"))
            q0 = srv.queries
            r = measure(sink, "v", msg, 20, "dns-warm", zone=False,
                        dns_servers=["127.0.0.1:%d" % srv.port], tag="/dns")
            r["dns_queries"] = srv.queries - q0
            rows["dns"].append(r)
        z = max((r["rate"] for r in rows["zone"] if r.get("rate")), default=None)
        w = max((r["rate"] for r in rows["dns"] if r.get("rate")), default=None)
        if z and w:
            log("verify-only, warm DNS cache / zone file: %.1f / %.1f msg/s = %.3f (target >= "
                "0.90: %s); queries at the server per run (pilot included): %s"
                % (w, z, w / z, verdict(w / z >= 0.9),
                   [r.get("dns_queries") for r in rows["dns"]]))
            RESULTS.append({"section": "dns-summary", "warm_rate": w, "zone_rate": z,
                            "ratio": w / z})
    finally:
        srv.close()
    dns_cold(sink)


def dns_cold(sink):
    n = 200 if ARGS.quick else 1000
    delay = 0.2
    sels, msgs, t = cold_messages(n)
    log("cold cache: %d messages, each sealed by its own key (k0000..k%04d._domainkey.%s; "
        "made in %.1f s), one session each, sent at once; mode v" % (n, n - 1, ORIGIN[0], t))
    recs = {"%s._domainkey.%s" % (s, ORIGIN[0]): KEYS["origin_txt"] for s in sels}
    zone = os.path.join(WORK, "cold.zone")
    with open(zone, "w") as f:
        for name, txt in recs.items():
            f.write('%s. IN TXT ( "%s" "%s" )\n' % (name, txt[:200], txt[200:]))
    for source in ("zone", "dns"):
        srv = DnsServer(recs, delay) if source == "dns" else None
        try:
            body = config_body("v", zone=zone if srv is None else None,
                               dns_servers=["127.0.0.1:%d" % srv.port] if srv else None,
                               extra="")
            d = Daemon(sink.port, body)
            try:
                if not d.ok:
                    log("cold (%s): arcproxy did not start: %s" % (source, d.tail()))
                    continue
                wall, res = asyncio.run(burst(d.port, msgs, timeout=120))
                ok = sum(1 for c, _ in res if c == 250)
                times = [dt for c, dt in res if c == 250]
                note = d.arc_summary()
            finally:
                d.close()
            extra = ""
            if srv:
                extra = ("; server: %d queries for %d names, %.0f ms per answer (one at a time "
                         "would take %.0f s)" % (srv.queries, len(srv.names), 1e3 * delay,
                                                 n * delay))
            log("cold (%s): %d/%d got 250 in %.2f s; per transaction p50 %s ms, max %s ms; arc: "
                "%s%s" % ("keys from a zone file" if srv is None else "keys from DNS",
                          ok, n, wall, fmt(pct(times, 0.5) and 1e3 * pct(times, 0.5), "%.0f"),
                          fmt(1e3 * max(times) if times else None, "%.0f"), note, extra))
            RESULTS.append({"section": "dns-cold", "source": source, "n": n, "ok": ok,
                            "wall_s": wall, "delay_s": delay if srv else None,
                            "queries": srv.queries if srv else None})
        finally:
            if srv:
                srv.close()


def section_dns(sink):
    """Runs dns_inner in a new network namespace (nothing can reach a real resolver)."""
    if ARGS.inner_dns:
        dns_inner(sink)
        return
    if not shutil.which("unshare") or os.geteuid() != 0:
        log("\n== dns (issue 4) ==\nskipped: needs root and unshare(1) for a private network "
            "namespace (so that no lookup can leave the host)")
        return
    jpath = os.path.join(WORK, "dns.json")
    args = ["unshare", "-n", "--", sys.executable, os.path.abspath(__file__), "--inner-dns",
            "--bin", BIN, "--work", WORK, "--json", jpath, "--only", "dns",
            "--seconds", str(ARGS.seconds)] + (["--quick"] if ARGS.quick else [])
    p = spawn(args)
    try:
        p.wait(600)
    except subprocess.TimeoutExpired:
        log("dns: timed out after 600 s")
    stop(p)
    if os.path.exists(jpath):
        with open(jpath) as f:
            RESULTS.extend(json.load(f))


# ---- main ------------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--seal-bench")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only")
    ap.add_argument("--queue", action="store_true", help="only the queue section")
    ap.add_argument("--dns", action="store_true", help="only the dns section")
    ap.add_argument("--sizes")
    ap.add_argument("--sessions")
    ap.add_argument("--modes")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--json")
    ap.add_argument("--work")
    ap.add_argument("--spool-dir", help="parent of the daemons' spools (default: the work "
                    "dir); the queue section measures its fsync reference there too")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--inner-dns", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    # threads first: it needs both cores to itself, before any daemon of ours has run
    sections = ["threads", "matrix", "checks", "idle", "big", "queue", "dns"]
    if a.only:
        a.sections = a.only.split(",")
    elif a.queue or a.dns:
        a.sections = (["queue"] if a.queue else []) + (["dns"] if a.dns else [])
    else:
        a.sections = sections
    bad = [s for s in a.sections if s not in sections]
    if bad:
        ap.error("unknown section(s) %s; sections: %s" % (bad, ",".join(sections)))
    a.sizes = (a.sizes or ("5K,1M" if a.quick else "1K,5K,100K,1M")).split(",")
    a.sessions = [int(x) for x in (a.sessions or ("1,20" if a.quick else "1,20,100")).split(",")]
    a.modes = (a.modes or ",".join(MODES)).split(",")
    if any(s not in SIZES for s in a.sizes) or any(m not in MODES for m in a.modes):
        ap.error("sizes: %s; modes: %s" % (",".join(SIZES), ",".join(MODES)))
    if "direct" in a.modes:
        a.modes = ["direct"] + [m for m in a.modes if m != "direct"]
    if a.seconds is None:
        a.seconds = 1.5 if a.quick else 5.0
    return a


def main():
    global ARGS, WORK, BIN
    ARGS = parse_args()
    BIN = os.path.abspath(ARGS.bin)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 16384:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    own_work = ARGS.work is None
    WORK = ARGS.work or tempfile.mkdtemp(prefix="arcproxy-bench-")
    os.chmod(WORK, 0o755)
    for tool in ("smtp-source", "smtp-sink"):
        if not find_tool(tool):
            log("%s not found (Debian package postfix; scripts/install-deps.sh)" % tool)
            return 77
    try:
        if not ARGS.inner_dns:
            log("proxy_bench: %s, %d CPU(s), %s; arcproxy %s; work dir %s (%s)"
                % (platform.node(), os.cpu_count(), platform.release(), BIN, WORK,
                   subprocess.run(["stat", "-f", "-c", "%T", WORK], capture_output=True,
                                  text=True).stdout.strip()))
            log("load: %s" % open("/proc/loadavg").read().strip())
        if ARGS.inner_dns:
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
            Daemon.seq = 1000
            KEYS.update(json.load(open(os.path.join(WORK, "keys.json"))))
        else:
            setup_keys()
            with open(os.path.join(WORK, "keys.json"), "w") as f:
                json.dump(KEYS, f)
        sink = Sink()
        t0 = time.monotonic()
        for sec in ARGS.sections:
            ts = time.monotonic()
            if sec == "matrix":
                section_matrix(sink)
            elif sec == "checks":
                section_checks(sink)
            elif sec == "threads":
                section_threads()
            elif sec == "idle":
                section_idle(sink)
            elif sec == "big":
                section_big(sink)
            elif sec == "queue":
                section_queue(sink)
            elif sec == "dns":
                section_dns(sink)
            if not ARGS.inner_dns:
                log("(%s: %.0f s)" % (sec, time.monotonic() - ts))
        if not ARGS.inner_dns:
            log("\ntotal %.0f s; load now: %s" % (time.monotonic() - t0,
                                                   open("/proc/loadavg").read().strip()))
    finally:
        cleanup()
        jpath = ARGS.json or os.path.join(WORK, "results.json")
        if ARGS.json or (ARGS.keep and own_work):
            with open(jpath, "w") as f:
                json.dump(RESULTS, f, indent=1)
            if not ARGS.inner_dns:
                log("results (JSON): %s" % jpath)
        if own_work and not ARGS.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

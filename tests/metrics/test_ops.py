#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_ops.py ARCPROXY [--messages] - operations of the daemon over loopback: the metrics
port (scrape parsed strictly, counts against what was sent, /health, junk, limits, draining),
the pidfile, the switch to user nobody, the root rule, SIGHUP with a good and a bad new
config, and logging.destination syslog. tests/smtp/harness/sink.py plays the return port.

--messages: also require the per-message counters (messages by result, verdicts, the
latency histogram, downstream failures) to match what was sent (scrape_counts and
message_counts; without the flag message_counts reports a known gap). They are incremented in src/proxy/session.c, which this branch does
not touch; the lead turns the flag on in tests/CMakeLists.txt with that wiring.

Every wait is bounded; only processes started here are signalled, by PID. Prints one line
per test and "N passed, N failed"; exit 1 on failure, 77 when not root (the privilege
tests need root; under CI=true that is a failure).

Not covered: syslog through a real syslog daemon (a private /dev/log is bound in a mount
namespace and read here; skipped if unshare is not permitted), metrics.listen on IPv6.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "smtp", "harness"))

from sink import Sink  # noqa: E402
from smtpclient import Conversation  # noqa: E402

BIN = None
WANT_MESSAGES = False
WORK = tempfile.mkdtemp(prefix="arcproxy-ops-")
os.chmod(WORK, 0o755)
PROCS = []
MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: test\r\n"
       b"Message-ID: <1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
       b"Hello.\r\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(port, raw, timeout=10.0):
    """Send raw bytes, read until the server closes; (status, headers, body) or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    if int(headers["content-length"]) != len(body):
        raise AssertionError("Content-Length %s but %d bytes" % (headers["content-length"], len(body)))
    return status, headers, body


def get(port, path):
    return http(port, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())


def status_or_0(port, path):
    """For polling: the status, or 0 when the connection was refused or reset."""
    try:
        r = get(port, path)
        return r[0] if r else 0
    except OSError:
        return 0


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9.e+]+|\+Inf|NaN)$')


def parse_exposition(text):
    """Strict text format 0.0.4: HELP then TYPE once per family, samples after their TYPE,
    counters not negative, histogram buckets cumulative with _count == +Inf. Returns
    {series: value} where series is 'name{labels}' exactly as printed."""
    out, types, current = {}, {}, None
    buckets = {}
    if not text.endswith("\n"):
        raise AssertionError("exposition does not end with LF")
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            fam = line.split()[2]
            if fam in types:
                raise AssertionError("family %s twice" % fam)
            current = fam
            continue
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            if fam != current or typ not in ("counter", "gauge", "histogram"):
                raise AssertionError("bad TYPE line: %r" % line)
            types[fam] = typ
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("bad sample line: %r" % line)
        name, value = m.group(1), float(m.group(4))
        if not name.startswith(current or "\0"):
            raise AssertionError("sample %s outside its family %s" % (name, current))
        if types[current] == "counter" and value < 0:
            raise AssertionError("negative counter: %r" % line)
        if types[current] == "histogram" and name.endswith("_bucket"):
            buckets.setdefault(current, []).append(value)
        out[name + (m.group(2) or "")] = value
    for fam, vals in buckets.items():
        if vals != sorted(vals) or vals[-1] != out[fam + "_count"]:
            raise AssertionError("histogram %s not cumulative or _count wrong" % fam)
    return out


class Daemon:
    """One arcproxy on a config written from keys; stop() sends SIGTERM to its PID."""

    def __init__(self, sink_port, extra="", metrics=True, spool=None, user_root_ok=True,
                 wait=True, wrapper=None):
        self.spool = spool or tempfile.mkdtemp(prefix="spool-", dir=WORK)
        # a port free_port() found may be taken by a test running beside this one before
        # the daemon binds it: then try again with new ports (a few times, no more)
        for attempt in range(3):
            self.port = free_port()
            self.mport = free_port() if metrics else None
            self.path = os.path.join(WORK, "arcproxy-%d.yaml" % self.port)
            self.log = os.path.join(WORK, "arcproxy-%d.log" % self.port)
            self.base = ('listen: ["127.0.0.1:%d"]\ndownstream:\n  address: "127.0.0.1:%d"\n'
                         'spool_dir: "%s"\n' % (self.port, sink_port, self.spool))
            if metrics:
                self.base += 'metrics:\n  listen: ["127.0.0.1:%d"]\n' % self.mport
            if user_root_ok:
                self.base += "allow_root: true\n"
            self.write(extra)
            self.logf = open(self.log, "wb")
            args = (wrapper or []) + [BIN, "-c", self.path]
            self.p = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
            PROCS.append(self)
            if not wait:
                return
            try:
                self.wait_ready()
                return
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.text():
                    raise
                self.p.wait(timeout=10)

    def write(self, extra):
        with open(self.path, "w") as f:
            f.write(self.base + ("" if "mode:" in extra else "mode: pass\n") + extra)
        os.chmod(self.path, 0o644)

    def wait_ready(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("arcproxy exited %s: %s" % (self.p.returncode, self.text()))
            if "arcproxy ready" in self.text():
                return
            time.sleep(0.05)
        raise RuntimeError("arcproxy not ready: " + self.text())

    def text(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def scrape(self):
        r = get(self.mport, "/metrics")
        check(r and r[0] == 200, "scrape failed: %r" % (r,))
        check(r[1]["content-type"].startswith("text/plain; version=0.0.4"),
              "content type %r" % r[1]["content-type"])
        return parse_exposition(r[2].decode())

    def conv(self, timeout=10.0):
        c = Conversation("127.0.0.1", self.port, timeout=timeout)
        c.expect("220")
        return c

    def stop(self, timeout=20.0):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
                return "did not stop in %.0f s" % timeout
        self.logf.close()
        return self.p.returncode


RESULTS = []


def run(name, fn, *args):
    try:
        fn(*args)
        RESULTS.append((name, True))
        print("ok      %s" % name, flush=True)
    except Skip as s:
        RESULTS.append((name, None if s.required else "gap"))
        print("skip    %s: %s" % (name, s), flush=True)
    except Exception:
        RESULTS.append((name, False))
        print("FAILED  %s" % name, flush=True)
        traceback.print_exc()


class Skip(Exception):
    """required=False: a known, documented gap (not an environment problem), which does
    not fail the run under CI=true."""

    def __init__(self, why, required=True):
        super().__init__(why)
        self.required = required


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_until(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


# ---- tests -----------------------------------------------------------------------------

def t_scrape_counts(sink):
    n_sessions, per_session = 3, 2
    d = Daemon(sink.port)
    m0 = d.scrape()
    check(m0["arcproxy_sessions_total"] == 0, "sessions_total before any: %r" % m0)
    check(m0["arcproxy_sessions"] == 0, "sessions gauge before any")
    before = len(sink.records()) if hasattr(sink, "records") else None
    for _ in range(n_sessions):
        with d.conv() as c:
            c.ehlo()
            # (the previous session may still be closing)
            check(wait_until(lambda: d.scrape()["arcproxy_sessions"] == 1), "gauge inside a session")
            for _ in range(per_session):
                r = c.send_message("alice@example.org", ["bob@example.net"], MSG)
                check(r.first.startswith("250"), "not delivered: %s" % r.first)
            c.quit()
    check(wait_until(lambda: d.scrape()["arcproxy_sessions"] == 0), "gauge does not return to 0")
    m = d.scrape()
    check(m["arcproxy_sessions_total"] == n_sessions,
          "sessions_total %r, want %d" % (m["arcproxy_sessions_total"], n_sessions))
    n = n_sessions * per_session
    if before is not None:
        check(len(sink.records()) - before == n, "sink got a different count")
    if WANT_MESSAGES:
        check(m['arcproxy_messages_total{result="delivered"}'] == n,
              "delivered %r, want %d" % (m['arcproxy_messages_total{result="delivered"}'], n))
        check(m["arcproxy_message_duration_seconds_count"] == n, "latency count")
    check(d.stop() == 0, "exit status")


def send_one(c, want):
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA", "354")
    c.data(MSG)
    r = c.expect("2|4|5")
    check(r.first.startswith(want), "got %s, want %s" % (r.first, want))


def t_message_counts(sink):
    """The per-message metrics (--messages): results, verdicts, downstream failures."""
    if not WANT_MESSAGES:
        raise Skip("per-message metrics not wired in src/proxy/session.c (run with --messages)",
                   required=False)
    d = Daemon(sink.port, "mode: v\nauthserv_id: mx.test\n")
    sink.clear_rules()
    with d.conv() as c:
        c.ehlo()
        send_one(c, "250")
        send_one(c, "250")
        sink.fail("eod", "451 4.3.0 later", times=1)
        send_one(c, "451")
        sink.fail("eod", "554 5.7.1 no", times=1)
        send_one(c, "554")
        c.quit()
    sink.clear_rules()
    m = d.scrape()
    want = {'arcproxy_messages_total{result="delivered"}': 2,
            'arcproxy_messages_total{result="tempfail"}': 1,
            'arcproxy_messages_total{result="reject"}': 1,
            'arcproxy_verdicts_total{result="none"}': 4,
            "arcproxy_message_duration_seconds_count": 4,
            "arcproxy_seals_total": 0}
    for k, v in want.items():
        check(m[k] == v, "%s = %r, want %d" % (k, m[k], v))
    check(d.stop() == 0, "exit status")
    # downstream unreachable: the MAIL gets 451 4.4.1 and the failure is counted
    d = Daemon(free_port())
    with d.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>", "451")
        c.quit()
    m = d.scrape()
    check(m['arcproxy_downstream_failures_total{kind="connect"}'] == 1, "connect failure not counted")
    check(d.stop() == 0, "exit status")


def t_health_and_junk(sink):
    d = Daemon(sink.port)
    r = get(d.mport, "/health")
    check(r[0] == 200 and r[2] == b"ok\n", "health: %r" % (r,))
    check(r[1]["connection"] == "close", "Connection: close missing")
    check(get(d.mport, "/nope")[0] == 404, "404")
    check(http(d.mport, b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")[0] == 405, "405")
    check(http(d.mport, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")[0] == 400, "junk 400")
    check(http(d.mport, b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n")[0] == 431,
          "oversized head 431")
    # a silent client is answered 408 and closed (METRICS_READ_TIMEOUT_MS = 5 s)
    r = http(d.mport, b"GET /metrics HTTP/1.1\r\n", timeout=15)
    check(r and r[0] == 408, "slow client: %r" % (r,))
    # connection limit: 16 idle connections fill it; the 17th is closed without a reply
    idle = [socket.create_connection(("127.0.0.1", d.mport), timeout=5) for _ in range(16)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection(("127.0.0.1", d.mport), timeout=5)
        extra.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        try:
            got = extra.recv(100)
        except ConnectionResetError:
            got = b""
        check(got == b"", "17th connection was served: %r" % got)
        extra.close()
    finally:
        for s in idle:
            s.close()
    check(wait_until(lambda: status_or_0(d.mport, "/health") == 200), "health after the limit")
    check(d.p.poll() is None, "daemon died")
    check(d.stop() == 0, "exit status")


def t_draining(sink):
    d = Daemon(sink.port)
    c = d.conv()
    c.ehlo()
    c.cmd("MAIL FROM:<a@example.org>")
    c.cmd("RCPT TO:<b@example.net>")
    c.cmd("DATA", "354")
    c.send_raw(MSG[:40])
    d.p.send_signal(signal.SIGTERM)
    check(wait_until(lambda: "SIGTERM: stopping" in d.text()), "no stop line")
    r = get(d.mport, "/health")
    check(r[0] == 503 and r[2] == b"draining\n", "health while draining: %r" % (r,))
    check(get(d.mport, "/metrics")[0] == 200, "metrics while draining")
    c.send_raw(MSG[40:] + b".\r\n")
    c.expect("250")
    c.close()
    d.p.wait(20)
    check(d.p.returncode == 0, "exit %r" % d.p.returncode)


def status_ids(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


def t_pidfile_and_user(sink):
    rundir = tempfile.mkdtemp(prefix="run-", dir=WORK)
    shutil.chown(rundir, "nobody")
    pidfile = os.path.join(rundir, "arcproxy.pid")
    d = Daemon(sink.port, 'user: nobody\npidfile: "%s"\n' % pidfile, user_root_ok=False)
    check(status_ids(d.p.pid, "Uid") == ["65534"] * 4, "Uid: %r" % status_ids(d.p.pid, "Uid"))
    check(status_ids(d.p.pid, "Gid") == ["65534"] * 4, "Gid: %r" % status_ids(d.p.pid, "Gid"))
    check(status_ids(d.p.pid, "Groups") == [], "Groups: %r" % status_ids(d.p.pid, "Groups"))
    check(open(pidfile).read() == "%d\n" % d.p.pid, "pidfile content")
    check(os.stat(d.spool).st_uid == 65534, "spool not handed to nobody")
    with d.conv() as c:  # the spool is writable after the switch
        c.ehlo()
        r = c.send_message("alice@example.org", ["bob@example.net"], MSG)
        check(r.first.startswith("250"), "not delivered as nobody: %s" % r.first)
        c.quit()
    # a second daemon on the same pidfile refuses to start
    d2 = Daemon(sink.port, 'user: nobody\npidfile: "%s"\n' % pidfile, user_root_ok=False,
                wait=False)
    d2.p.wait(15)
    check(d2.p.returncode != 0 and "is running" in d2.text(), "second start: %r %s"
          % (d2.p.returncode, d2.text()))
    check(open(pidfile).read() == "%d\n" % d.p.pid, "pidfile overwritten by the loser")
    check(d.stop() == 0, "exit status")
    check(not os.path.exists(pidfile), "pidfile left after a clean stop")
    # a stale pidfile (a crash) does not stop the next start
    with open(pidfile, "w") as f:
        f.write("%d\n" % d.p.pid)
    d3 = Daemon(sink.port, 'pidfile: "%s"\n' % pidfile)
    check(open(pidfile).read() == "%d\n" % d3.p.pid, "stale pidfile not replaced")
    check(d3.stop() == 0, "exit status")


def t_root_refused(sink):
    d = Daemon(sink.port, "", user_root_ok=False, wait=False, metrics=False)
    d.p.wait(15)
    check(d.p.returncode != 0 and "refusing to run as root" in d.text(),
          "root without user: %r %s" % (d.p.returncode, d.text()))
    check(not os.path.exists(os.path.join(d.spool, "queue")), "spool opened before the refusal")
    d2 = Daemon(sink.port, "user: no-such-user-here\n", user_root_ok=False, wait=False, metrics=False)
    d2.p.wait(15)
    check(d2.p.returncode != 0 and "no such user" in d2.text(), "unknown user: %s" % d2.text())


def t_sighup(sink):
    d = Daemon(sink.port, "hostname: one.test\n")
    old = d.conv()  # a session open across both reloads
    check("one.test" in old.transcript_text(), "first greeting")
    old.ehlo()
    d.write("hostname: two.test\nlogging:\n  level: debug\n")
    d.p.send_signal(signal.SIGHUP)
    check(wait_until(lambda: "configuration reloaded" in d.text()), "no reload line: " + d.text())
    with d.conv() as c:
        check("two.test" in c.transcript_text(), "new session greeting: " + c.transcript_text())
        c.quit()
    d.write("hostname: [broken\n")
    d.p.send_signal(signal.SIGHUP)
    check(wait_until(lambda: "configuration not reloaded" in d.text()), "bad config not logged")
    # valid YAML, but sealing needs a key the daemon cannot load
    d.write("mode: sv\nauthserv_id: x.test\nkeys:\n  domain: x.test\n  selector: s\n"
            "  key_file: /nonexistent/key.pem\n")
    d.p.send_signal(signal.SIGHUP)
    check(wait_until(lambda: d.text().count("configuration not reloaded") == 2),
          "missing key not refused: " + d.text())
    check("/nonexistent/key.pem" in d.text().split("configuration reloaded")[-1],
          "the refusal does not name the key file")
    with d.conv() as c:
        check("two.test" in c.transcript_text(), "a bad config replaced the good one")
        c.quit()
    r = old.send_message("alice@example.org", ["bob@example.net"], MSG)
    check(r.first.startswith("250"), "old session after the reloads: %s" % r.first)
    old.quit()
    m = d.scrape()
    check(m['arcproxy_config_reloads_total{result="ok"}'] == 1, "reloads ok %r" % m)
    check(m['arcproxy_config_reloads_total{result="failed"}'] == 2, "reloads failed")
    check(d.p.poll() is None, "daemon died")
    check(d.stop() == 0, "exit status")


def t_sighup_under_load(sink):
    """Reloads while messages flow: every message is answered 250 (none lost)."""
    d = Daemon(sink.port, "hostname: one.test\n")
    n_ok = 0
    with d.conv() as c:
        c.ehlo()
        for i in range(30):
            if i % 3 == 0:
                d.write("hostname: h%d.test\n" % i)
                d.p.send_signal(signal.SIGHUP)
            r = c.send_message("alice@example.org", ["bob@example.net"], MSG)
            n_ok += r.first.startswith("250")
        c.quit()
    check(n_ok == 30, "%d of 30 delivered" % n_ok)
    # signals sent close together may be merged by the kernel: count at least one, and
    # the last file written must be in force
    check(wait_until(lambda: d.text().count("configuration reloaded") >= 1), "no reload")

    def last_in_force():
        with d.conv() as c:
            ok = "h27.test" in c.transcript_text()
            c.quit()
        return ok
    check(wait_until(last_in_force), "the last configuration is not in force")
    check(d.stop() == 0, "exit status")


def t_syslog(sink):
    sockdir = tempfile.mkdtemp(prefix="syslog-", dir=WORK)
    sock_path = os.path.join(sockdir, "log")
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(sock_path)
    os.chmod(sockdir, 0o755)
    os.chmod(sock_path, 0o666)
    rx.settimeout(0.2)
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        raise Skip("unshare -m not permitted: cannot give the daemon a private /dev/log")
    # a private /dev: a tmpfs with null/zero/urandom bound back and log -> our socket
    olddev = tempfile.mkdtemp(prefix="olddev-", dir=WORK)
    script = ('set -e; mount --rbind /dev "$1"; mount -t tmpfs tmpfs /dev; '
              'for f in null zero urandom random; do touch /dev/$f; mount --bind "$1/$f" /dev/$f; done; '
              'ln -s "$2" /dev/log; shift 2; exec "$@"')
    wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", olddev,
               sock_path]
    d = Daemon(sink.port, "logging:\n  destination: syslog\n  facility: local3\n  level: info\n",
               wrapper=wrapper, wait=False, metrics=False)
    got = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(b"arcproxy ready" in g for g in got):
        try:
            got.append(rx.recv(65536))
        except socket.timeout:
            if d.p.poll() is not None:
                break
    ready = [g for g in got if b"arcproxy ready" in g]
    check(ready, "no ready line over syslog: %r / %s" % (got, d.text()))
    # RFC 3164 as glibc writes it: <PRI>timestamp ident[pid]: text; local3 = 19, info = 6
    m = re.match(rb"<(\d+)>.* arcproxy\[(\d+)\]: arcproxy ready", ready[0])
    check(m, "line format: %r" % ready[0])
    check(int(m.group(1)) == 19 * 8 + 6, "priority %s, want local3.info" % m.group(1))
    check(d.text() == "", "stderr not empty with syslog: %r" % d.text())
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.recv(100)
    d.stop()
    rx.close()
    if d.mport:
        pass


def main():
    global BIN, WANT_MESSAGES
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    WANT_MESSAGES = "--messages" in sys.argv
    if not args:
        print("usage: test_ops.py path/to/arcproxy [--messages]")
        return 2
    BIN = os.path.abspath(args[0])
    if os.geteuid() != 0:
        print("not root: the privilege tests cannot run")
        return 1 if os.environ.get("CI") == "true" else 77
    try:
        with Sink() as sink:
            run("scrape_counts", t_scrape_counts, sink)
            run("message_counts", t_message_counts, sink)
            run("health_and_junk", t_health_and_junk, sink)
            run("draining", t_draining, sink)
            run("pidfile_and_user", t_pidfile_and_user, sink)
            run("root_refused", t_root_refused, sink)
            run("sighup", t_sighup, sink)
            run("sighup_under_load", t_sighup_under_load, sink)
            run("syslog", t_syslog, sink)
    finally:
        for p in PROCS:
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait(5)
        shutil.rmtree(WORK, ignore_errors=True)
    failed = sum(1 for _, ok in RESULTS if ok is False)
    skipped = sum(1 for _, ok in RESULTS if ok is None)
    gaps = sum(1 for _, ok in RESULTS if ok == "gap")
    print("%d passed, %d failed, %d skipped, %d known gap(s)"
          % (len(RESULTS) - failed - skipped - gaps, failed, skipped, gaps))
    if skipped and os.environ.get("CI") == "true":
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

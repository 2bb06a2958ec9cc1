#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_crash.py ARCPROXY - crash safety of the daemon in proxy and queue mode (issue 3,
"Crash safety").

tests/smtp/harness/sink.py plays the return port; arcproxy runs in between (provisional flags,
docs/operations.md). Load: CRASH_CLIENTS (4) Python client threads, each sending messages with
unique Message-IDs over reused connections and recording exactly which got a 250 to ".";
unacknowledged messages (4xx, dropped connection) are retried a bounded number of times, as an
MTA would. In parallel Postfix's smtp-source gives background load. Meanwhile arcproxy is
killed with SIGKILL (by PID) at random moments CRASH_ROUNDS (20) times and restarted on the same
port and spool dir. At the end: every acknowledged Message-ID is at the sink (lost=0),
duplicates are counted, the spool is clean, and a sample of sealed messages verifies.

Runs mode sv, mode pass, then queue mode (delivery: queue, mode sv, from a YAML file:
CRASH_MODES="sv pass queue"). In queue mode a 250 comes from our own durable commit, so the
messages are still in the spool when the daemon is killed; the last daemon must deliver every
one of them (lost=0 once the queue drained). A self-check then proves that the test notices
a loss: a short queue-mode run whose queue/ is wiped between a kill and the restart (with
downstream deferring everything, so the queue holds messages) must report lost > 0
(CRASH_SELFCHECK=0 skips it). Every loop is bounded in count and time; only processes
started here are signalled, by PID. Prints one line per check and "N passed, N failed";
exit 0 only if all passed.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "smtp", "harness"))

from sink import Sink  # noqa: E402
from smtpclient import Conversation  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
CLIENTS = int(os.environ.get("CRASH_CLIENTS", "4"))
MODES = os.environ.get("CRASH_MODES", "sv pass queue").split()
SELFCHECK = os.environ.get("CRASH_SELFCHECK", "1") != "0"
MAX_ATTEMPTS = 20           # per message, like an MTA's bounded retries (with backoff)
SMTP_SOURCE = shutil.which("smtp-source") or (
    "/usr/sbin/smtp-source" if os.access("/usr/sbin/smtp-source", os.X_OK) else None)
WORK = tempfile.mkdtemp(prefix="arcproxy-crash-")
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
RNG = random.Random(SEED)
MID_RE = re.compile(rb"^Message-ID: <(crash-[a-z]+-\d+-\d+)@test\.example>\r?$", re.M | re.I)

RESULTS = []


def check(name, cond, detail=""):
    RESULTS.append(bool(cond))
    print("%s  %s%s" % ("ok    " if cond else "FAILED", name,
                        (": " + detail) if detail and not cond else ""), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """arcproxy on a fixed port and spool dir; start() retries a failed bind a few times."""

    def __init__(self, args, port, tag):
        self.args = args
        self.port = port
        self.log = os.path.join(WORK, "arcproxy-%s.log" % tag)
        self.logf = open(self.log, "ab")
        self.p = None
        self.starts = 0

    def start(self):
        for attempt in range(20):
            self.p = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self.p.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    self.starts += 1
                    return True
                except OSError:
                    time.sleep(0.01)
            if self.p.poll() is None:       # neither up nor exited in 10 s
                self.kill9()
            time.sleep(0.1 * (attempt + 1))
        return False

    def kill9(self):
        if self.p is not None and self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def term(self, timeout=30):
        if self.p is None or self.p.poll() is not None:
            return self.p.returncode if self.p else None
        os.kill(self.p.pid, signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return "timeout"

    def text(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")


def message(mid, n):
    return (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n"
            b"Subject: crash test %d\r\nMessage-ID: <%s@test.example>\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n" % (n, mid.encode())
            + b"".join(b"line %04d of message %s: .\r\n.dot-start\r\n" % (i, mid.encode())
                       for i in range(20 + n % 40)))


class Client(threading.Thread):
    """One MTA-like sender: reuses its connection, reconnects after any failure, keeps
    unacknowledged messages for a bounded number of retries."""

    def __init__(self, tag, idx, port, stop_new, deadline):
        super().__init__(daemon=True)
        self.tag, self.idx, self.port = tag, idx, port
        self.stop_new, self.deadline = stop_new, deadline
        self.acked = set()
        self.attempts = {}
        self.retry = []
        self.gave_up = []
        self.seq = 0
        self.replies = {}
        self.last_err = {}
        self.exc = None

    def next_mid(self):
        if self.retry:
            return self.retry.pop(0)
        if self.stop_new.is_set():
            return None
        self.seq += 1
        return "crash-%s-%d-%d" % (self.tag, self.idx, self.seq)

    def run(self):
        try:
            self._run()
        except Exception as e:  # noqa: BLE001
            self.exc = repr(e)

    def _run(self):
        conv = None
        for _ in range(1000000):
            if time.monotonic() > self.deadline:
                break
            mid = self.next_mid()
            if mid is None:
                break
            self.attempts[mid] = self.attempts.get(mid, 0) + 1
            n = int(mid.rsplit("-", 1)[1])
            ok = False
            try:
                if conv is None:
                    conv = Conversation("127.0.0.1", self.port, timeout=10)
                    conv.expect("220")
                    conv.ehlo("client%d.test" % self.idx)
                r = conv.send_message("sender%d@example.org" % self.idx, ["rcpt@example.net"],
                                      message(mid, n), final="2|4|5")
                self.replies[r.code // 100] = self.replies.get(r.code // 100, 0) + 1
                ok = r.code == 250
                if r.code != 250:
                    self.last_err[mid] = r.first
                    conv.close()
                    conv = None
            except (AssertionError, OSError) as e:
                self.last_err[mid] = str(e)[-160:]
                if conv is not None:
                    conv.close()
                conv = None
                # back off as an MTA would, so that retries spread over several up-times
                time.sleep(min(1.0, 0.05 * self.attempts[mid]))
            if ok:
                self.acked.add(mid)
            elif self.attempts[mid] < MAX_ATTEMPTS:
                self.retry.append(mid)
            else:
                self.gave_up.append(mid)
        if conv is not None:
            try:
                conv.quit()
            except (AssertionError, OSError):
                conv.close()


def smtp_source_loop(port, stop, deadline, counts):
    """Restart smtp-source whenever it exits (a kill makes it give up), until stop."""
    log = open(os.path.join(WORK, "smtp-source.log"), "ab")
    for _ in range(10000):
        if stop.is_set() or time.monotonic() > deadline:
            break
        p = subprocess.Popen([SMTP_SOURCE, "-A", "-d", "-s", "3", "-m", "200", "-l", "2000",
                              "-f", "load@example.org", "-t", "load@example.net",
                              "127.0.0.1:%d" % port], stdout=log, stderr=log)
        end = min(deadline, time.monotonic() + 30)
        while p.poll() is None and not stop.is_set() and time.monotonic() < end:
            time.sleep(0.05)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        counts["runs"] += 1
        if not stop.is_set():
            time.sleep(0.05)
    log.close()


def spool_files(spool):
    """Message files in tmp/ and queue/; tmp/free.N are removed files kept for reuse
    (docs/operations.md, "The spool"), not messages."""
    out = []
    for sub in ("tmp", "queue"):
        d = os.path.join(spool, sub)
        if os.path.isdir(d):
            out += [os.path.join(sub, f) for f in os.listdir(d)
                    if not (sub == "tmp" and f.startswith("free."))]
    return out


def queue_config(tag, port, sink_port, spool, zone, key):
    """Queue mode is configured by file (there is no provisional flag for it)."""
    path = os.path.join(WORK, "arcproxy-%s.yaml" % tag)
    with open(path, "w") as f:
        f.write('listen: ["127.0.0.1:%d"]\ndownstream:\n  address: "127.0.0.1:%d"\n'
                '  command_timeout: 10s\nspool_dir: "%s"\nhostname: proxy.test\nallow_root: true\n'
                'delivery: queue\nmode: sv\nauthserv_id: mx.crash.example\n'
                'keys:\n  domain: crash.example\n  selector: c1\n  key_file: "%s"\n'
                'dns:\n  zone_file: "%s"\nqueue:\n  retry_min: 100ms\n  retry_max: 500ms\n'
                'logging:\n  level: %s\n' % (port, sink_port, spool, key, zone, os.environ.get("CRASH_LOG_LEVEL", "warn")))
    return [BIN, "-c", path]


def wipe_queue(spool):
    d = os.path.join(spool, "queue")
    n = 0
    for f in os.listdir(d) if os.path.isdir(d) else []:
        os.unlink(os.path.join(d, f))
        n += 1
    return n


def run_mode(mode, zone, key, rounds=None, wipe=False):
    """One load + kill -9 campaign. wipe: the loss self-check (queue mode only): returns
    the number of messages the detector reports lost instead of checking lost=0."""
    rounds = ROUNDS if rounds is None else rounds
    queue = mode == "queue"
    tag = mode + ("-wipe" if wipe else "")
    print("--- mode %s, %d rounds, %d clients, seed %d" % (tag, rounds, CLIENTS, SEED), flush=True)
    sink = Sink(max_records=500000, max_connections=512, keep_data=True)
    sink.start()
    port = free_port()
    spool = os.path.join(WORK, "spool-" + tag)
    if queue:
        args = queue_config(tag, port, sink.port, spool, zone, key)
    else:
        args = [BIN, "--listen", "127.0.0.1:%d" % port, "--downstream",
                "127.0.0.1:%d" % sink.port, "--spool-dir", spool, "--hostname", "proxy.test",
                "--mode", mode, "--ds-timeout", "10s", "--shutdown-timeout", "10s",
                "--log-level", "warn"]
    if not queue and mode != "pass":
        args += ["--authserv-id", "mx.crash.example", "--dns-zone", zone]
    if mode in ("s", "sv"):
        args += ["--seal-domain", "crash.example", "--seal-selector", "c1", "--seal-key", key]
    d = Daemon(args, port, tag)
    if wipe:
        sink.fail("rcpt", "451 4.3.0 not now")  # everything stays queued
    wiped = 0
    mode = tag
    try:
        check("%s: daemon starts" % mode, d.start(), d.text()[-2000:])
        t0 = time.monotonic()
        stop_new = threading.Event()
        stop_src = threading.Event()
        deadline = t0 + 40 + rounds * 1.5
        clients = [Client(mode, i, port, stop_new, deadline) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        counts = {"runs": 0}
        src = None
        if SMTP_SOURCE:
            src = threading.Thread(target=smtp_source_loop, args=(port, stop_src, deadline, counts),
                                   daemon=True)
            src.start()
        time.sleep(0.5)
        restarted = 0
        for r in range(rounds):
            if time.monotonic() > deadline - 10:
                break
            time.sleep(RNG.uniform(0.05, 0.4) if not wipe else 1.0)
            d.kill9()
            if wipe:
                wiped += wipe_queue(spool)
            if d.start():
                restarted += 1
            else:
                break
        check("%s: killed and restarted %d/%d times" % (mode, restarted, rounds),
              restarted == rounds, d.text()[-2000:] if restarted != rounds else "")
        if wipe:
            sink.clear_rules()
        time.sleep(0.5)
        stop_src.set()
        stop_new.set()
        for c in clients:
            c.join(max(1.0, deadline - time.monotonic()))
        if src is not None:
            src.join(40)
        check("%s: clients finished" % mode, all(not c.is_alive() and c.exc is None for c in clients),
              "; ".join("%d: alive=%s exc=%s" % (c.idx, c.is_alive(), c.exc) for c in clients))
        acked = set().union(*(c.acked for c in clients))
        sent = set().union(*(set(c.attempts) for c in clients))
        gave_up = sum((c.gave_up for c in clients), [])
        retries = sum(sum(c.attempts.values()) - len(c.attempts) for c in clients)
        # proxy mode: every 250 came after downstream's 250 (allow the sink's thread to catch
        # up); queue mode: the last daemon delivers what is still queued
        end = time.monotonic() + (30 if queue and not wipe else 10 if not wipe else 5)

        def at_sink():
            got = {}
            for rec in sink.messages(accepted_only=True):
                m = MID_RE.search(rec["data"] or b"")
                if m:
                    got.setdefault(m.group(1).decode(), []).append(rec)
            return got
        got = at_sink()
        while time.monotonic() < end and not acked <= set(got):
            time.sleep(0.2)
            got = at_sink()
        lost = sorted(acked - set(got))
        dups = sum(len(v) - 1 for v in got.values())
        strays = sorted(set(got) - sent)
        print("lost=%d duplicates=%d acknowledged=%d rounds=%d" % (len(lost), dups, len(acked),
                                                                restarted), flush=True)
        if wipe:
            print("    (%s) self-check: %d queue files wiped, the detector reports lost=%d" % (
                mode, wiped, len(lost)), flush=True)
            check("%s: the test notices lost messages (wiped queue files -> lost > 0)" % mode,
                  wiped > 0 and len(lost) > 0, "wiped %d lost %d" % (wiped, len(lost)))
            return
        print("    (%s) messages=%d retries=%d gave_up=%d at_sink=%d smtp-source runs=%d "
              "sink total accepted=%d replies=%s" % (
                  mode, len(sent), retries, len(gave_up), len(got), counts["runs"],
                  sink.count(), [c.replies for c in clients]), flush=True)
        check("%s: acknowledged messages > 0" % mode, len(acked) > 0)
        check("%s: lost=0 (every 250'd Message-ID is at the sink)" % mode, not lost,
              "lost %d: %s" % (len(lost), lost[:10]))
        errs = {}
        for c in clients:
            errs.update(c.last_err)
        check("%s: every message acknowledged within %d attempts" % (mode, MAX_ATTEMPTS),
              not gave_up, "gave up: %s" % ["%s (%s)" % (m, errs.get(m)) for m in gave_up[:5]])
        check("%s: nothing at the sink that was never sent" % mode, not strays, str(strays[:5]))
        if SMTP_SOURCE:
            check("%s: smtp-source load reached the sink" % mode,
                  sink.count() > len(got), "sink accepted %d, ours %d" % (sink.count(), len(got)))
        # spool clean once the daemon is idle (restart removed leftovers, transactions done;
        # queue mode: everything delivered)
        end = time.monotonic() + (30 if queue else 10)
        left = spool_files(spool)
        while left and time.monotonic() < end:
            time.sleep(0.1)
            left = spool_files(spool)
        check("%s: spool tmp/ and queue/ empty after the load" % mode, not left, str(left[:10]))
        if mode in ("s", "sv"):
            sample = RNG.sample(sorted(got), min(10, len(got)))
            bad = []
            for mid in sample:
                for rec in got[mid]:
                    out = subprocess.run([BIN, "verify", "--dns-zone", zone], input=rec["data"],
                                         capture_output=True, timeout=60)
                    first = out.stdout.decode("utf-8", "replace").splitlines()[:1]
                    if out.returncode != 0 or first != ["arc=pass"]:
                        bad.append((mid, out.returncode, first))
            check("%s: %d sampled sealed messages verify arc=pass" % (mode, len(sample)),
                  sample and not bad, str(bad[:5]))
        rc = d.term()
        check("%s: SIGTERM at the end exits 0" % mode, rc == 0, "rc=%r" % rc)
        left = spool_files(spool)
        check("%s: spool empty after shutdown" % mode, not left, str(left[:10]))
        logtext = d.text()
        print("    (%s) spool leftovers at restarts: %d removed (proxy mode), %d queued again "
              "(queue mode), %d incomplete removed" % (
                  mode, logtext.count("leftover from an earlier run removed"),
                  logtext.count("queued again from an earlier run"),
                  logtext.count("removed incomplete spool file")), flush=True)
        check("%s: no crash of the daemon itself (sanitizer, abort)" % mode,
              "ERROR: AddressSanitizer" not in logtext and "runtime error" not in logtext
              and "Assertion" not in logtext, logtext[-1500:])
        print("    (%s) elapsed %.1f s" % (mode, time.monotonic() - t0), flush=True)
    finally:
        d.kill9()
        sink.stop()


def main():
    if not os.access(BIN, os.X_OK):
        print("not executable: %s" % BIN)
        return 1
    try:
        kdir = os.path.join(WORK, "keys")
        os.makedirs(kdir)
        out = subprocess.run([BIN, "keygen", "-d", "crash.example", "-s", "c1", "--out", kdir],
                             capture_output=True, timeout=60, check=True)
        key = os.path.join(kdir, "c1.private")
        zone = os.path.join(WORK, "zone")
        with open(zone, "wb") as f:
            f.write(out.stdout)
        if not SMTP_SOURCE:
            print("smtp-source not found: running without background load")
        for mode in MODES:
            run_mode(mode, zone, key)
        if SELFCHECK and "queue" in MODES:
            run_mode("queue", zone, key, rounds=2, wipe=True)
    finally:
        if os.environ.get("ARCPROXY_KEEP_TEST_DIR") == "1":
            print("kept %s" % WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    npass = sum(RESULTS)
    nfail = len(RESULTS) - npass
    print("%d passed, %d failed" % (npass, nfail))
    return 0 if nfail == 0 and npass > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

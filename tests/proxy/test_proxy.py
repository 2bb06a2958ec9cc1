#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_proxy.py ARCPROXY - the daemon end to end over loopback: tests/smtp/harness/sink.py
plays the return port, smtpclient.Conversation plays the MTA, arcproxy runs in between
(flags as in docs/operations.md). Every wait is bounded; only processes started here are
signalled, by PID. Prints one line per test and "N passed, N failed"; exit 1 on failure.

Not covered here: a real Postfix, crash safety under kill -9, queue mode and the minimum
data rate (test_queue.py), ARC temperror and keys from DNS (tests/dnsproxy).
"""

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "smtp", "harness"))

from sink import Sink  # noqa: E402
from smtpclient import Conversation, SMTPFailure  # noqa: E402

BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
WORK = tempfile.mkdtemp(prefix="arcproxy-test-")
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


class Proxy:
    """One arcproxy process; stop() sends SIGTERM to its PID and waits (bounded).
    With config=TEXT the daemon runs on that YAML (listen/downstream/spool_dir are
    filled in here) instead of the provisional flags."""

    def __init__(self, sink_port, *extra, mode="pass", config=None, spool=None, listen_more=(),
                 downstream="", env=None):
        self.port = free_port()
        self.spool = spool or tempfile.mkdtemp(prefix="spool-", dir=WORK)
        self.log = os.path.join(WORK, "proxy-%d.log" % self.port)
        if config is None:
            args = [BIN, "--listen", "127.0.0.1:%d" % self.port, "--downstream",
                    "127.0.0.1:%d" % sink_port, "--spool-dir", self.spool, "--hostname",
                    "proxy.test", "--mode", mode] + list(extra)
        else:
            path = os.path.join(WORK, "arcproxy-%d.yaml" % self.port)
            with open(path, "w") as f:
                listen = ", ".join('"%s"' % a for a in ["127.0.0.1:%d" % self.port]
                                   + list(listen_more))
                f.write('listen: [%s]\ndownstream:\n  address: "127.0.0.1:%d"\n%s'
                        'spool_dir: "%s"\nhostname: proxy.test\nallow_root: true\n'
                        % (listen, sink_port, downstream, self.spool))
                f.write(config)
            args = [BIN, "-c", path]
        self.logf = open(self.log, "wb")
        self.p = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        PROCS.append(self)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("arcproxy exited %s: %s" % (self.p.returncode, self.text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("arcproxy did not listen: " + self.text())
        # the probe connection shows up as one session; let it go away
        time.sleep(0.1)

    def text(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

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

    def spool_files(self):
        """Message files; tmp/free.N are removed files kept for reuse, not messages."""
        out = []
        for sub in ("tmp", "queue"):
            d = os.path.join(self.spool, sub)
            if os.path.isdir(d):
                out += [os.path.join(sub, f) for f in os.listdir(d)
                        if not (sub == "tmp" and f.startswith("free."))]
        return out


RESULTS = []


def run(name, fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        RESULTS.append((name, True))
        print("ok      %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure, go on
        RESULTS.append((name, False))
        detail = str(e) if isinstance(e, (SMTPFailure, AssertionError)) else traceback.format_exc()
        print("FAILED  %s: %s" % (name, detail[-3000:]), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_until(fn, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.02)
    return fn()


# ---- tests against the pass-through proxy --------------------------------------------------

def t_pass_byte_exact(px, sink):
    body = MSG + b"8-bit: \xe4\xf6\xfc \xff\xfe\x80\r\n" + b"x" * 990 + b"\r\n"
    with px.conv() as c:
        c.ehlo()
        r = c.send_message("alice@example.org", ["bob@example.net"], body)
        last = sink.last()
        check(last is not None and last["data"] == body, "message not byte-exact at the sink")
        check(r.first == "250 " + last["reply"][4:].split("\n")[0], "final reply not relayed: %s / %s"
              % (r.first, last["reply"]))
        c.quit()
    check(sink.errors() == [], "sink saw protocol errors: %r" % sink.errors())


def t_large_message(px, sink):
    body = MSG + b"".join(b"line %07d " % i + b"y" * 60 + b"\r\n" for i in range(40000))
    with px.conv(timeout=30) as c:
        c.ehlo()
        c.send_message("a@example.org", ["b@example.net"], body, timeout=30)
        c.quit()
    check(sink.last()["data"] == body, "3 MB message not byte-exact")


def t_dot_stuffing(px, sink):
    body = MSG + b".\r\n..\r\n...\r\n.x\r\n. \r\n.\r\n..\r\n.end\r\n"
    with px.conv() as c:
        c.ehlo()
        c.send_message("a@example.org", ["b@example.net"], body)
        c.quit()
    check(sink.last()["data"] == body, "dot-stuffed body changed: %r" % sink.last()["data"][-60:])


def t_several_transactions_one_downstream(px, sink):
    with px.conv() as c:
        c.ehlo()
        for i in range(3):
            c.send_message("a%d@example.org" % i, ["b@example.net"], MSG + b"n=%d\r\n" % i)
        c.quit()
    check(sink.count() == 3, "sink got %d messages" % sink.count())
    check(sink.connection_count() == 1, "downstream connections: %d (want reuse: 1)"
          % sink.connection_count())
    check([m["mail_from"] for m in sink.messages()] == ["a0@example.org", "a1@example.org",
                                                        "a2@example.org"], "senders")
    check(wait_until(lambda: sink.active_connections() == 0), "downstream not QUIT at the end")


def t_pipelined(px, sink):
    with px.conv() as c:
        caps = c.ehlo()
        check("PIPELINING" in caps, "PIPELINING not offered")
        c.pipeline(["MAIL FROM:<p@example.org>", "RCPT TO:<r1@example.net>",
                    "RCPT TO:<r2@example.net>", "DATA"])
        c.expect("250")
        c.expect("250")
        c.expect("250")
        c.expect("354")
        c.data(MSG)
        c.expect("250")
        c.pipeline(["RSET", "MAIL FROM:<q@example.org>", "RCPT TO:<r3@example.net>", "DATA"])
        c.expect("250")
        c.expect("250")
        c.expect("250")
        c.expect("354")
        c.data(MSG)
        c.expect("250")
        c.quit()
    m = sink.messages()
    check(len(m) == 2, "want 2 messages, got %d" % len(m))
    check([x["addr"] for x in m[0]["rcpts"]] == ["r1@example.net", "r2@example.net"], "rcpts 1")
    check([x["addr"] for x in m[1]["rcpts"]] == ["r3@example.net"], "rcpts 2")
    check(sink.errors() == [], "sink errors %r" % sink.errors())


def t_rset(px, sink):
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<gone@example.org>")
        c.cmd("RCPT TO:<gone@example.net>")
        c.cmd("RSET", "250")
        c.send_message("kept@example.org", ["kept@example.net"], MSG)
        c.quit()
    m = sink.messages()
    check(len(m) == 1 and m[0]["mail_from"] == "kept@example.org", "after RSET: %r"
          % [x["mail_from"] for x in m])
    check(sink.errors() == [], "sink errors %r" % sink.errors())
    log = " ".join(" ".join(conn["log"]) for conn in sink.connections())
    check("RSET" in log, "RSET not sent downstream")


def t_mixed_rcpt(px, sink):
    sink.fail("rcpt", "550 5.1.1 <no@example.net>: unknown user", match="no@example.net")
    sink.fail("rcpt", "452 4.2.2 mailbox full", match="full@example.net")
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<yes@example.net>", "250")
        r = c.cmd("RCPT TO:<no@example.net>", "550 5.1.1")
        check("unknown user" in r.text, "550 text not relayed: %s" % r)
        c.cmd("RCPT TO:<full@example.net>", "452 4.2.2")
        c.cmd("RCPT TO:<yes2@example.net>", "250")
        c.cmd("DATA", "354")
        c.data(MSG)
        c.expect("250")
        c.quit()
    check([x["addr"] for x in sink.last()["rcpts"]] == ["yes@example.net", "yes2@example.net"],
          "accepted rcpts at sink")


def fault_case(px, sink, step, reply, at, want):
    sink.reset()
    sink.fail(step, reply)
    with px.conv() as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<a@example.org>", "2|4|5")
        if at == "mail":
            check(r.first.startswith(want), "MAIL: got %s, want %s" % (r, want))
            c.quit()
            return
        c.cmd("RCPT TO:<b@example.net>", "250")
        c.cmd("DATA", "354")
        c.data(MSG)
        r = c.expect("4|5")
        check(r.first.startswith(want), "%s: got %s, want %s" % (step, r, want))
        # the session goes on: another transaction passes
        sink.clear_rules()
        c.send_message("c@example.org", ["d@example.net"], MSG)
        c.quit()
    check(sink.count() == 1, "accepted at sink: %d" % sink.count())


def t_ds_mail_4xx(px, sink):
    fault_case(px, sink, "mail", "451 4.3.0 busy, later", "mail", "451 4.3.0 busy")


def t_ds_mail_5xx(px, sink):
    fault_case(px, sink, "mail", "550 5.7.1 sender refused", "mail", "550 5.7.1 sender refused")


def t_ds_data_4xx(px, sink):
    fault_case(px, sink, "data", "451 4.3.0 no data now", "end", "451 4.3.0 no data now")


def t_ds_data_5xx(px, sink):
    fault_case(px, sink, "data", "554 5.5.0 no data", "end", "554 5.5.0 no data")


def t_ds_eod_4xx(px, sink):
    fault_case(px, sink, "eod", "452 4.3.1 disk full", "end", "452 4.3.1 disk full")


def t_ds_eod_5xx(px, sink):
    fault_case(px, sink, "eod", "554 5.7.1 spam", "end", "554 5.7.1 spam")


def t_ds_closes_at_eod(px, sink):
    sink.close_at("eod")
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.net>")
        c.cmd("DATA", "354")
        c.data(MSG)
        r = c.expect("4")
        check(r.first.startswith("451 4.4"), "want 451 4.4.x, got %s" % r)
        sink.clear_rules()
        c.send_message("c@example.org", ["d@example.net"], MSG)  # reconnects
        c.quit()


def t_ds_closes_at_rcpt(px, sink):
    sink.close_at("rcpt")
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>")
        r = c.cmd("RCPT TO:<b@example.net>", "4")
        check(r.first.startswith("451 4.4"), "RCPT: want 451 4.4.x, got %s" % r)
        r = c.cmd("DATA", "4|5")
        check(r.code != 354, "DATA accepted after downstream loss")
        c.quit()
    check(sink.count() == 0, "nothing accepted")


def t_ds_down(px, sink):
    sink.refuse()
    try:
        with px.conv() as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<a@example.org>", "4")
            check(r.first.startswith("451 4.4.1"), "want 451 4.4.1, got %s" % r)
            c.quit()
    finally:
        sink.accept()


def t_dsn_smtputf8(px, sink):
    with px.conv() as c:
        caps = c.ehlo()
        check("DSN" in caps and "SMTPUTF8" in caps, "DSN/SMTPUTF8 not offered: %r" % caps)
        c.cmd("MAIL FROM:<ålice@exämple.org> SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314",
              "250")
        c.cmd("RCPT TO:<bøb@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+F8b@example.net",
              "250")
        c.cmd("DATA", "354")
        c.data(MSG)
        c.expect("250")
        c.quit()
    m = sink.last()
    check(m["mail_from"] == "ålice@exämple.org", "sender %r" % m["mail_from"])
    pm = m["mail_params_map"]
    check("SMTPUTF8" in pm and pm.get("BODY") == "8BITMIME" and pm.get("RET") == "HDRS"
          and pm.get("ENVID") == "QQ+2B314", "MAIL params %r" % m["mail_params"])
    r = m["rcpts"][0]
    check(r["addr"] == "bøb@example.net", "rcpt %r" % r["addr"])
    check(r["params_map"].get("NOTIFY") == "SUCCESS,FAILURE"
          and r["params_map"].get("ORCPT") == "rfc822;b+F8b@example.net", "RCPT params %r"
          % r["params"])


def t_size_raised_or_kept(px, sink):
    with px.conv() as c:
        c.ehlo()
        c.send_message("a@example.org", ["b@example.net"], MSG, mail_params=["SIZE=%d" % len(MSG)])
        c.quit()
    pm = sink.last()["mail_params_map"]
    check(int(pm.get("SIZE", "0")) >= len(MSG), "SIZE=%r" % pm.get("SIZE"))


def t_xforward_passed(px, sink):
    with px.conv() as c:
        caps = c.ehlo()
        check("XFORWARD" in caps, "XFORWARD not offered to loopback")
        c.cmd("XFORWARD NAME=mx.example.org ADDR=192.0.2.7 PORT=4711 PROTO=ESMTP", "250")
        c.cmd("XFORWARD HELO=client.example.org SOURCE=REMOTE", "250")
        c.send_message("a@example.org", ["b@example.net"], MSG)
        c.send_message("a2@example.org", ["b@example.net"], MSG)  # attributes cleared
        c.quit()
    m = sink.messages()
    xf = m[0]["xforward"]
    check(xf.get("ADDR") == "192.0.2.7" and xf.get("NAME") == "mx.example.org"
          and xf.get("HELO") == "client.example.org" and xf.get("PORT") == "4711",
          "xforward at sink: %r" % xf)
    check(not m[1]["xforward"].get("ADDR"), "XFORWARD leaked into the next transaction: %r"
          % m[1]["xforward"])
    check("xf-addr=192.0.2.7" in px.text(), "summary line lacks the XFORWARD address")


def t_bare_lf(px, sink):
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.net>")
        c.cmd("DATA", "354")
        c.send_raw(b"Subject: smuggle\r\n\r\nhi\n.\r\nMAIL FROM:<evil@example.org>\r\n"
                   b"RCPT TO:<victim@example.net>\r\nDATA\r\nevil\r\n.\r\n")
        r = c.expect("5")
        check(r.first.startswith("550 5.5.2"), "want 550 5.5.2, got %s" % r)
        c.cmd("NOOP", "250")
        c.send_message("ok@example.org", ["b@example.net"], MSG)
        c.quit()
    senders = [m["mail_from"] for m in sink.messages()]
    check(senders == ["ok@example.org"], "sink got %r" % senders)


def t_unknown_and_sequence(px, sink):
    with px.conv() as c:
        c.cmd("BOGUS", "500 5.5.1")
        c.cmd("MAIL FROM:<a@example.org>", "503")
        c.ehlo()
        c.cmd("RCPT TO:<b@example.net>", "503")
        c.cmd("DATA", "503")
        c.cmd("VRFY bob", "252")
        c.quit()
    check(sink.connection_count() == 0, "downstream contacted without a transaction")


def t_oversize(px, sink):
    with px.conv(timeout=30) as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org> SIZE=999999999999", "552 5.3.4")
        c.cmd("MAIL FROM:<a@example.org>", "250")
        c.cmd("RCPT TO:<b@example.net>", "250")
        c.cmd("DATA", "354")
        c.data(MSG + b"".join(b"z" * 78 + b"\r\n" for _ in range(52000)))
        c.expect("552 5.3.4")
        c.quit()
    check(sink.count(accepted_only=False) == 0, "oversized message reached the sink")


def t_spool_empty(px, sink):
    check(wait_until(lambda: px.spool_files() == [], 5), "spool not empty: %r" % px.spool_files())


# ---- tests with their own proxy --------------------------------------------------------------

def t_ds_timeout(sink):
    px = Proxy(sink.port, "--ds-timeout", "1s")
    try:
        sink.hang_at("rcpt")
        with px.conv() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<a@example.org>")
            t0 = time.monotonic()
            r = c.cmd("RCPT TO:<b@example.net>", "4", timeout=8)
            check(r.first.startswith("451 4.4.2"), "want 451 4.4.2, got %s" % r)
            check(time.monotonic() - t0 < 5, "timeout took too long")
            c.quit()
        sink.reset()
        sink.delay("eod", 3)
        with px.conv() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<b@example.net>")
            c.cmd("DATA", "354")
            c.data(MSG)
            r = c.expect("4", timeout=8)
            check(r.first.startswith("451 4.4.2"), "slow eod: want 451 4.4.2, got %s" % r)
    finally:
        check(px.stop() == 0, "exit status")


def t_no_greeting_downstream(sink):
    px = Proxy(sink.port, "--ds-connect-timeout", "1s")
    try:
        sink.no_greeting()
        with px.conv() as c:
            c.ehlo()
            r = c.cmd("MAIL FROM:<a@example.org>", "4", timeout=8)
            check(r.first.startswith("451 4.4"), "want 451 4.4.x, got %s" % r)
            c.quit()
    finally:
        check(px.stop() == 0, "exit status")


def t_limits_and_timeouts(sink):
    px = Proxy(sink.port, "--max-sessions", "2", "--cmd-timeout", "1s", "--data-timeout", "1s",
               "--xforward-allow", "192.0.2.0/24")
    try:
        time.sleep(0.2)
        a = px.conv()
        b = px.conv()
        c = Conversation("127.0.0.1", px.port, timeout=5)
        r = c.expect("421")
        check(r.first.startswith("421 4.3.2"), "want 421 4.3.2, got %s" % r)
        c.expect_closed(3)
        c.close()
        # command timeout: a and b are silent
        r = a.expect("421", timeout=4)
        check(r.first.startswith("421 4.4.2"), "command timeout: %s" % r)
        a.expect_closed(3)
        a.close()
        b.close()
        time.sleep(0.2)
        # data timeout
        with px.conv() as d:
            caps = d.ehlo()
            check("XFORWARD" not in caps, "XFORWARD offered to a client outside the allow-list")
            d.cmd("XFORWARD ADDR=192.0.2.1", "550")
            d.cmd("MAIL FROM:<slow@example.org>")
            d.cmd("RCPT TO:<b@example.net>")
            d.cmd("DATA", "354")
            d.send_raw(b"Subject: slow\r\n\r\npart")
            r = d.expect("421", timeout=4)
            check(r.first.startswith("421 4.4.2"), "data timeout: %s" % r)
            d.expect_closed(3)
        check(not [m for m in sink.messages() if m["mail_from"] == "slow@example.org"],
              "timed-out message reached the sink")
        check(wait_until(lambda: px.spool_files() == [], 5), "spool not empty: %r"
              % px.spool_files())
    finally:
        check(px.stop() == 0, "exit status")


def t_sigterm_drains(sink):
    px = Proxy(sink.port, "--shutdown-timeout", "10s")
    sink.delay("eod", 1.5)
    result = {}

    def client():
        try:
            with px.conv() as c:
                c.ehlo()
                result["reply"] = c.send_message("a@example.org", ["b@example.net"], MSG).first
                result["after"] = c.read_reply(timeout=5).first  # 421 4.3.2 shutting down
        except Exception as e:  # noqa: BLE001
            result["error"] = str(e)[-500:]

    th = threading.Thread(target=client)
    th.start()
    check(wait_until(lambda: sink.count(accepted_only=False) >= 0 and
                     sink.active_connections() >= 1, 5), "no downstream session")
    time.sleep(0.5)
    t0 = time.monotonic()
    px.p.send_signal(signal.SIGTERM)
    th.join(15)
    try:
        rc = px.p.wait(15)
    except subprocess.TimeoutExpired:
        rc = "still running"
    px.stop()
    check(result.get("reply", "").startswith("250"), "in-flight transaction: %r" % result)
    check(result.get("after", "").startswith("421 4.3.2"), "no 421 after the drain: %r" % result)
    check(rc == 0, "exit status %r" % rc)
    check(time.monotonic() - t0 < 10, "drain took too long")
    try:
        socket.create_connection(("127.0.0.1", px.port), timeout=1).close()
        raise AssertionError("still listening after SIGTERM")
    except OSError:
        pass


def keygen(domain, selector):
    kdir = os.path.join(WORK, "keys-" + domain)
    os.makedirs(kdir, exist_ok=True)
    out = subprocess.run([BIN, "keygen", "-d", domain, "-s", selector, "--out", kdir],
                         capture_output=True, timeout=60, check=True)
    return os.path.join(kdir, selector + ".private"), out.stdout


def verify(zone, data):
    out = subprocess.run([BIN, "verify", "--dns-zone", zone], input=data, capture_output=True,
                         timeout=60)
    return out.returncode, out.stdout.decode().splitlines()


def t_mode_sv(sink):
    key1, rec1 = keygen("seal1.example", "s1")
    key2, rec2 = keygen("seal2.example", "s2")
    zone = os.path.join(WORK, "zone")
    with open(zone, "wb") as f:
        f.write(rec1 + rec2)
    px1 = Proxy(sink.port, "--authserv-id", "mx1.seal1.example", "--seal-domain", "seal1.example",
                "--seal-selector", "s1", "--seal-key", key1, "--dns-zone", zone, mode="sv")
    try:
        body = MSG + b"8-bit \xe4\r\n.dot\r\n"
        with px1.conv() as c:
            c.ehlo()
            c.cmd("XFORWARD ADDR=192.0.2.9", "250")
            c.send_message("a@example.org", ["b@example.net"], body)
            c.quit()
        got = sink.last()["data"]
        check(got.endswith(body), "original message not kept byte-exact after the new fields")
        added = got[:len(got) - len(body)]
        for name in (b"ARC-Seal:", b"ARC-Message-Signature:", b"ARC-Authentication-Results:",
                     b"Authentication-Results: mx1.seal1.example;"):
            check(name in added, "missing %r in %r" % (name, added[:300]))
        check(b"arc=none" in added and b"smtp.remote-ip=192.0.2.9" in added,
              "A-R/AAR content: %r" % added)
        rc, out = verify(zone, got)
        check(rc == 0 and out and out[0] == "arc=pass", "verify: %r %r" % (rc, out))
        check(re.search(r"arc=none sealed i=1", px1.text()), "summary line: %s" % px1.text()[-600:])
    finally:
        check(px1.stop() == 0, "exit status")
    # second hop: seal again on top, the chain verifies with i=2
    sink.reset()
    px2 = Proxy(sink.port, "--authserv-id", "mx2.seal2.example", "--seal-domain", "seal2.example",
                "--seal-selector", "s2", "--seal-key", key2, "--dns-zone", zone, mode="sv")
    try:
        with px2.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], got)
            c.quit()
        got2 = sink.last()["data"]
        check(got2.endswith(got), "hop 2 changed the message")
        check(b"arc=pass" in got2[:len(got2) - len(got)], "A-R of hop 2 not pass")
        rc, out = verify(zone, got2)
        check(rc == 0 and out[0] == "arc=pass" and "instances: 2" in out, "verify hop 2: %r" % out)
    finally:
        check(px2.stop() == 0, "exit status")
    # mode v only adds A-R; an unparseable message passes unsealed
    sink.reset()
    px3 = Proxy(sink.port, "--authserv-id", "mx3.example", "--dns-zone", zone, mode="v")
    try:
        with px3.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], got)
            bad = b"this line has no colon\r\nSubject: x\r\n\r\nbody\r\n"
            c.send_message("a@example.org", ["b@example.net"], bad)
            c.quit()
        m = sink.messages()
        added = m[0]["data"][:len(m[0]["data"]) - len(got)]
        check(added.startswith(b"Authentication-Results: mx3.example;") and b"arc=pass" in added
              and b"ARC-Seal" not in added, "mode v added %r" % added)
        check(m[1]["data"].endswith(bad), "unparseable message changed")
    finally:
        check(px3.stop() == 0, "exit status")


def t_ipv6_listener(sink):
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        port6 = probe.getsockname()[1]
        probe.close()
    except OSError:
        print("        (no IPv6 loopback: skipped)")
        return
    px = Proxy(sink.port, "--listen", "[::1]:%d" % port6)
    try:
        c = Conversation("::1", port6, timeout=10)
        c.expect("220")
        c.ehlo()
        c.cmd("XFORWARD ADDR=IPv6:2001:db8::1", "250")  # ::1 is in the default allow-list
        c.send_message("six@example.org", ["b@example.net"], MSG)
        c.quit()
        c.close()
        m = sink.last()
        check(m["mail_from"] == "six@example.org" and m["data"] == MSG, "IPv6 message")
        check(m["xforward"].get("ADDR") == "IPv6:2001:db8::1", "xforward %r" % m["xforward"])
    finally:
        check(px.stop() == 0, "exit status")


def t_config_flag(sink):
    out = subprocess.run([BIN, "-c", "/nonexistent.yaml"], capture_output=True, timeout=10)
    check(out.returncode == 78 and b"cannot read" in out.stderr, "-c missing: %r" % out.stderr)
    bad = os.path.join(WORK, "bad.yaml")
    with open(bad, "w") as f:
        f.write("mode: sideways\n")
    out = subprocess.run([BIN, "-c", bad], capture_output=True, timeout=10)
    check(out.returncode == 78 and b"bad.yaml:1:7: mode" in out.stderr, "bad mode: %r" % out.stderr)
    out = subprocess.run([BIN, "-c", bad, "--mode", "sv"], capture_output=True, timeout=10)
    check(out.returncode == 64, "-c with flags: %r" % out.stderr)


def t_config_file_seals(sink):
    """The daemon configured by a YAML file, not flags: seals, and the chain verifies."""
    key, rec = keygen("cfg.example", "c1")
    zone = os.path.join(WORK, "zone-cfg")
    with open(zone, "wb") as f:
        f.write(rec)
    px = Proxy(sink.port, config='mode: sv\nauthserv_id: mx.cfg.example\n'
               'keys:\n  domain: cfg.example\n  selector: c1\n  key_file: "%s"\n'
               '  min_rsa_bits: 1024\ndns:\n  zone_file: "%s"\n' % (key, zone))
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], MSG)
            c.quit()
        got = sink.last()["data"]
        check(got.startswith(b"ARC-Seal:") or b"\r\nARC-Seal:" in got[:400],
              "not sealed: %r" % got[:300])
        rc, out = verify(zone, got)
        check(rc == 0 and out and out[0] == "arc=pass", "verify: %r %r" % (rc, out))
    finally:
        check(px.stop() == 0, "exit status")


# ---- proxy mode keeps a small message in memory (PROXY_MEM_MAX, src/proxy/proxy_int.h) ---

MEM_MAX = 256 * 1024


def sized(n, tag=b""):
    """A message of exactly n bytes (CRLF lines, no dot at a line start)."""
    head = MSG + tag
    fill = n - len(head)
    lines = []
    while fill > 0:
        k = min(fill, 78)
        if k < 2:  # never leave a bare CR: widen the previous line instead
            lines[-1] = lines[-1][:-2] + b"z" * k + b"\r\n"
            break
        lines.append(b"z" * (k - 2) + b"\r\n")
        fill -= k
    m = head + b"".join(lines)
    assert len(m) == n, (len(m), n)
    return m


def t_mem_no_spool_file(px, sink):
    """A message held mid-DATA: below the bound no spool file exists; one byte past it the
    message is spilled (a file in tmp/) and still arrives byte-exact."""
    body = sized(MEM_MAX + 4096)
    cut = MEM_MAX - 1000
    with px.conv() as c:
        c.ehlo()
        c.cmd("MAIL FROM:<a@example.org>", "250")
        c.cmd("RCPT TO:<b@example.net>", "250")
        c.cmd("DATA", "354")
        c.send_raw(body[:cut])
        time.sleep(0.5)
        check(px.spool_files() == [], "in-memory message made spool files: %r" % px.spool_files())
        c.send_raw(body[cut:MEM_MAX + 1])
        check(wait_until(lambda: any(f.startswith("tmp/") for f in px.spool_files())),
              "no spool file after the bound was passed")
        c.send_raw(body[MEM_MAX + 1:] + b".\r\n")
        c.expect("250")
        c.quit()
    check(sink.last()["data"] == body, "spilled message not byte-exact")
    check(wait_until(lambda: px.spool_files() == []), "spool not empty: %r" % px.spool_files())


def t_mem_bound_byte_exact(px, sink):
    with px.conv(timeout=30) as c:
        c.ehlo()
        for n in (MEM_MAX - 1, MEM_MAX, MEM_MAX + 1, 300):
            body = sized(n)
            c.send_message("a@example.org", ["b@example.net"], body, timeout=30)
            check(sink.last()["data"] == body, "%d-byte message not byte-exact" % n)
        c.quit()
    check(re.search(r"qid=- client=", px.text()), "in-memory summary without qid=-")


def t_mem_sv_bound_and_authres(sink):
    """Mode sv: messages just below and above the bound sealed and verified; our own
    upstream A-R removed (header rewrite) from an in-memory and from a spooled message."""
    key, rec = keygen("mem.example", "m1")
    zone = os.path.join(WORK, "zone-mem")
    with open(zone, "wb") as f:
        f.write(rec)
    px = Proxy(sink.port, "--authserv-id", "mx.mem.example", "--seal-domain", "mem.example",
               "--seal-selector", "m1", "--seal-key", key, "--dns-zone", zone, mode="sv")
    own = b"Authentication-Results: mx.mem.example; arc=pass (forged)\r\n"
    try:
        with px.conv(timeout=30) as c:
            c.ehlo()
            for n, forged in ((MEM_MAX - 1, False), (MEM_MAX + 1, False), (2000, True),
                              (MEM_MAX + 1, True)):
                body = sized(n)
                sent = own + body if forged else body
                c.send_message("a@example.org", ["b@example.net"], sent, timeout=30)
                got = sink.last()["data"]
                check(got.endswith(body), "%d bytes: original not kept after the new fields" % n)
                added = got[:len(got) - len(body)]
                check(b"ARC-Seal:" in added, "%d bytes: not sealed" % n)
                check(b"(forged)" not in got, "%d bytes: own A-R not removed" % n)
                rc, out = verify(zone, got)
                check(rc == 0 and out and out[0] == "arc=pass", "%d: verify %r %r" % (n, rc, out))
            c.quit()
    finally:
        check(px.stop() == 0, "exit status")
    check(px.spool_files() == [], "spool not empty: %r" % px.spool_files())


# ---- configuration keys (config-file mode), one check per key --------------------------------

class UnixConversation(Conversation):
    """A Conversation over a unix socket (the same methods; only the connect differs)."""

    def __init__(self, path, timeout=10.0):
        self.host, self.port, self.timeout, self.label = path, 0, float(timeout), path
        self.transcript, self.buf, self.closed, self.capabilities = [], bytearray(), False, {}
        self.t0 = time.monotonic()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(path)


def t_cfg_offer_extensions(sink):
    px = Proxy(sink.port, config="smtp:\n  offer_dsn: false\n  offer_smtputf8: false\n"
               "  offer_8bitmime: false\n")
    try:
        with px.conv() as c:
            caps = c.ehlo()
            for k in ("DSN", "SMTPUTF8", "8BITMIME"):
                check(k not in caps, "%s offered: %r" % (k, caps))
            check("PIPELINING" in caps, "EHLO reply: %r" % caps)
            c.quit()
    finally:
        check(px.stop() == 0, "exit status")
    px = Proxy(sink.port, config="smtp:\n  offer_dsn: true\n")
    try:
        with px.conv() as c:
            caps = c.ehlo()
            for k in ("DSN", "SMTPUTF8", "8BITMIME"):
                check(k in caps, "%s not offered by default: %r" % (k, caps))
            c.quit()
    finally:
        check(px.stop() == 0, "exit status")


def t_cfg_limits(sink):
    """limits.max_line, .max_errors, .max_header_fields, .max_header_size."""
    px = Proxy(sink.port, config="limits:\n  max_line: 600\n  max_errors: 3\n"
               "  max_header_fields: 10\n  max_header_size: 2K\n")
    try:
        with px.conv() as c:
            c.ehlo()
            r = c.cmd("NOOP " + "x" * 700, "500")
            check(r.first.startswith("500 5.5.2"), "long line: %s" % r)
            c.cmd("NOOP " + "x" * 500, "250")  # under 600: fine
            r = c.cmd("BOGUS", "5")
            r = c.cmd("BOGUS", "421")  # the third protocol error
            check(r.first.startswith("421 4.7.0"), "max_errors: %s" % r)
            c.expect_closed(3)
        with px.conv() as c:
            c.ehlo()
            many = b"".join(b"X-F%d: v\r\n" % i for i in range(12))
            c.send_message("a@example.org", ["b@example.net"], many + MSG, final="552")
            big = b"X-Big: " + b"y" * 2500 + b"\r\n"
            r = c.send_message("a@example.org", ["b@example.net"], big + MSG, final="552")
            check(r.first.startswith("552 5.3.4"), "header size: %s" % r)
            few = b"".join(b"X-F%d: v\r\n" % i for i in range(3))
            c.send_message("ok@example.org", ["b@example.net"], few + MSG)
            c.quit()
        got = [m["mail_from"] for m in sink.messages()]
        check(got == ["ok@example.org"], "delivered: %r" % got)
    finally:
        check(px.stop() == 0, "exit status")


def t_cfg_helo_name(sink):
    px = Proxy(sink.port, config="mode: pass\n", downstream="  helo_name: relay.cfg.test\n")
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], MSG)
            c.quit()
        check(sink.last()["helo"] == "relay.cfg.test", "helo %r" % sink.last()["helo"])
    finally:
        check(px.stop() == 0, "exit status")


def t_cfg_data_timeout(sink):
    """downstream.command_timeout 1s, .data_timeout 6s: a 2.5 s reply to "." is waited for;
    the same delay at RCPT is not (so the two timeouts are really distinct)."""
    px = Proxy(sink.port, config="mode: pass\n",
               downstream="  command_timeout: 1s\n  data_timeout: 6s\n")
    try:
        sink.delay("eod", 2.5)
        with px.conv() as c:
            c.ehlo()
            c.send_message("slow-eod@example.org", ["b@example.net"], MSG, timeout=10)
            c.quit()
        check(sink.last()["mail_from"] == "slow-eod@example.org", "not delivered")
        sink.reset()
        sink.delay("rcpt", 2.5)
        with px.conv() as c:
            c.ehlo()
            c.cmd("MAIL FROM:<a@example.org>")
            r = c.cmd("RCPT TO:<b@example.net>", "4", timeout=8)
            check(r.first.startswith("451 4.4.2"), "slow RCPT: want 451 4.4.2, got %s" % r)
    finally:
        check(px.stop() == 0, "exit status")


BROKEN = (b"From: Alice <alice@example.org>\r\nThis line has no colon\r\nSubject: x\r\n\r\n"
          b"Hello.\r\n")


def t_cfg_on_unparseable(sink):
    zone = os.path.join(WORK, "zone-empty")
    open(zone, "w").close()
    base = 'mode: v\nauthserv_id: mx.cfg.example\ndns:\n  zone_file: "%s"\n' % zone
    px = Proxy(sink.port, config=base + "on_unparseable: reject\n")
    try:
        with px.conv() as c:
            c.ehlo()
            r = c.send_message("bad@example.org", ["b@example.net"], BROKEN, final="550")
            check(r.first.startswith("550 5.6.0"), "reject: %s" % r)
            c.send_message("good@example.org", ["b@example.net"], MSG)
            c.quit()
        got = [m["mail_from"] for m in sink.messages()]
        check(got == ["good@example.org"], "delivered: %r" % got)
        check(wait_until(lambda: "rejected (on_unparseable: reject)" in px.text(), 3),
              "no log line")
        check(wait_until(lambda: px.spool_files() == [], 5), "spool: %r" % px.spool_files())
    finally:
        check(px.stop() == 0, "exit status")
    sink.reset()
    px = Proxy(sink.port, config=base + "on_unparseable: pass\n")
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("bad@example.org", ["b@example.net"], BROKEN)
            c.quit()
        m = sink.last()
        check(m["mail_from"] == "bad@example.org" and m["data"] == BROKEN,
              "passed on unchanged: %r" % m["data"][:200])
    finally:
        check(px.stop() == 0, "exit status")
    sink.reset()
    px = Proxy(sink.port, config=base + "on_unparseable: reject\ndelivery: queue\n")
    try:
        with px.conv() as c:
            c.ehlo()
            r = c.send_message("bad@example.org", ["b@example.net"], BROKEN, final="550")
            check(r.first.startswith("550 5.6.0"), "queue mode reject: %s" % r)
            c.quit()
        check(px.spool_files() == [], "queued: %r" % px.spool_files())
        check(sink.messages() == [], "delivered in queue mode")
    finally:
        check(px.stop() == 0, "exit status")


def t_cfg_unix_listener(sink):
    d = tempfile.mkdtemp(prefix="sock-", dir=WORK)
    path = os.path.join(d, "arcproxy.sock")
    stale = socket.socket(socket.AF_UNIX)  # a stale socket file: bound, nobody accepts
    stale.bind(path)
    stale.close()
    px = Proxy(sink.port, config="mode: pass\n", listen_more=["unix:" + path])
    try:
        check(stat.S_ISSOCK(os.lstat(path).st_mode), "no socket file")
        check(os.lstat(path).st_mode & 0o777 == 0o660, "mode %o" % os.lstat(path).st_mode)
        c = UnixConversation(path)
        c.expect("220")
        caps = c.ehlo()
        check("XFORWARD" in caps, "XFORWARD not offered on the unix socket: %r" % caps)
        c.cmd("XFORWARD ADDR=192.0.2.7", "250")
        c.send_message("unix@example.org", ["b@example.net"], MSG)
        c.quit()
        c.close()
        m = sink.last()
        check(m["mail_from"] == "unix@example.org" and m["data"] == MSG, "unix message")
        check(m["xforward"].get("ADDR") == "192.0.2.7", "xforward %r" % m["xforward"])
        check("connect from unix" in px.text(), "log: %s" % px.text()[-500:])
        # a second daemon on the same live socket must refuse to start
        second = os.path.join(d, "second.yaml")
        with open(second, "w") as f:
            f.write('listen: ["unix:%s"]\nmode: pass\ndownstream:\n  address: "127.0.0.1:%d"\n'
                    'spool_dir: "%s"\nallow_root: true\n'
                    % (path, sink.port, tempfile.mkdtemp(prefix="spool-", dir=WORK)))
        out = subprocess.run([BIN, "-c", second], capture_output=True, timeout=10)
        check(out.returncode != 0 and b"accepts on it already" in out.stderr,
              "second daemon: %r" % out.stderr[-300:])
        check(os.path.exists(path), "the live socket was removed by the second daemon")
    finally:
        check(px.stop() == 0, "exit status")
    check(not os.path.exists(path), "socket file left after SIGTERM")


def main():
    if not BIN or not os.access(BIN, os.X_OK):
        print("usage: test_proxy.py path/to/arcproxy")
        return 2
    with Sink() as sink:
        px = Proxy(sink.port, "--max-msg-size", "4000000")
        shared = [
            ("pass_byte_exact_8bit", t_pass_byte_exact),
            ("large_message_byte_exact", t_large_message),
            ("dot_stuffing_round_trip", t_dot_stuffing),
            ("several_transactions_one_downstream", t_several_transactions_one_downstream),
            ("pipelined_transactions", t_pipelined),
            ("rset_resets_downstream", t_rset),
            ("per_recipient_mixed_replies", t_mixed_rcpt),
            ("downstream_mail_4xx", t_ds_mail_4xx),
            ("downstream_mail_5xx", t_ds_mail_5xx),
            ("downstream_data_4xx", t_ds_data_4xx),
            ("downstream_data_5xx", t_ds_data_5xx),
            ("downstream_eod_4xx", t_ds_eod_4xx),
            ("downstream_eod_5xx", t_ds_eod_5xx),
            ("downstream_closes_at_eod_451", t_ds_closes_at_eod),
            ("downstream_closes_at_rcpt_451", t_ds_closes_at_rcpt),
            ("downstream_down_451", t_ds_down),
            ("dsn_smtputf8_params_intact", t_dsn_smtputf8),
            ("size_param_passed", t_size_raised_or_kept),
            ("xforward_passed_through", t_xforward_passed),
            ("bare_lf_smuggling_rejected", t_bare_lf),
            ("unknown_and_bad_sequence", t_unknown_and_sequence),
            ("oversized_552", t_oversize),
            ("mem_no_spool_file_until_spilled", t_mem_no_spool_file),
            ("mem_bound_byte_exact", t_mem_bound_byte_exact),
            ("spool_empty_afterwards", t_spool_empty),
        ]
        for name, fn in shared:
            sink.reset()
            run(name, fn, px, sink)
        rc = px.stop()
        run("sigterm_exit_0", lambda: check(rc == 0, "exit status %r" % rc))
        for name, fn in [("downstream_timeout_451", t_ds_timeout),
                         ("downstream_no_greeting_451", t_no_greeting_downstream),
                         ("session_limit_timeouts_xforward_acl", t_limits_and_timeouts),
                         ("sigterm_drains_in_flight", t_sigterm_drains),
                         ("mode_sv_v_seal_verify", t_mode_sv),
                         ("mem_sv_bound_and_own_authres", t_mem_sv_bound_and_authres),
                         ("ipv6_listener", t_ipv6_listener),
                         ("config_file_errors", t_config_flag),
                         ("config_file_seals", t_config_file_seals),
                         ("cfg_offer_extensions", t_cfg_offer_extensions),
                         ("cfg_limits_line_errors_headers", t_cfg_limits),
                         ("cfg_downstream_helo_name", t_cfg_helo_name),
                         ("cfg_downstream_data_timeout", t_cfg_data_timeout),
                         ("cfg_on_unparseable", t_cfg_on_unparseable),
                         ("cfg_unix_listener", t_cfg_unix_listener)]:
            sink.reset()
            run(name, fn, sink)
    return finish_run()


def finish_run():
    """Kill what is left, check the logs for sanitizer reports, print the totals."""
    for p in PROCS:
        if p.p.poll() is None:
            p.p.kill()
            p.p.wait(5)
    bad = []
    for p in PROCS:
        t = p.text() if not p.logf.closed else open(p.log, "rb").read().decode("utf-8", "replace")
        if re.search(r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:", t):
            bad.append(p.log)
    run("no_sanitizer_reports", lambda: check(not bad, "sanitizer output in %r" % bad))
    npass = sum(1 for _, ok in RESULTS if ok)
    nfail = len(RESULTS) - npass
    print("%d passed, %d failed" % (npass, nfail))
    if nfail:
        print("logs kept in", WORK)
    else:
        subprocess.run(["rm", "-rf", WORK], timeout=60)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())

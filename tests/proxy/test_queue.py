#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_queue.py ARCPROXY - queue mode (delivery: queue) end to end over loopback, with
tests/smtp/harness/sink.py as downstream: 250 only after the durable commit, delivery by
the queue runner with the ARC set, retries with backoff while downstream is down or says
4xx, per-recipient results (delivered once / DSN / retried), DSN rules (null sender,
NOTIFY=NEVER), max_age expiry, restart with queued messages, the minimum data rate;
downstream connection reuse (the pool): fewer connections than messages and its bounds,
a downstream that closes kept connections (after each message, when idle, or just as one
is taken) losing nothing and deferring nothing, XFORWARD correct per message on a reused
connection, and a reload or stop closing the kept connections.
Helpers come from test_proxy.py. Every wait is bounded; processes are signalled by PID.
"""

import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_proxy as tp  # noqa: E402
from test_proxy import MSG, Proxy, check, run, wait_until  # noqa: E402
from sink import Sink  # noqa: E402

QCONF = ("delivery: queue\nqueue:\n  retry_min: 200ms\n  retry_max: 1s\n  max_age: %s\n"
         "  max_deliveries: %d\n")


def qproxy(sink_port, max_age="1h", max_deliveries=10, extra="", spool=None):
    px = Proxy(sink_port, config=QCONF % (max_age, max_deliveries) + extra, spool=spool)
    return px


def queued_files(px):
    d = os.path.join(px.spool, "queue")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def dsns(sink):
    return [m for m in sink.messages(accepted_only=True) if m["mail_from"] == ""]


def parse_dsn(data):
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    check(msg.get_content_type() == "multipart/report", "DSN type %s" % msg.get_content_type())
    check(msg.get_param("report-type") == "delivery-status", "report-type")
    parts = msg.get_payload()
    ds = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    check(len(ds) == 1, "one delivery-status part")
    fields = {}
    for block in ds[0].get_payload():
        for k, v in block.items():
            fields.setdefault(k.lower(), []).append(v.strip())
    return msg, fields


def t_queue_basic(sink):
    key, rec = tp.keygen("q.example", "q1")
    zone = os.path.join(tp.WORK, "zone-q")
    with open(zone, "wb") as f:
        f.write(rec)
    px = qproxy(sink.port, extra='mode: sv\nauthserv_id: mx.q.example\nkeys:\n  domain: q.example\n'
                '  selector: q1\n  key_file: "%s"\n  min_rsa_bits: 1024\ndns:\n  zone_file: "%s"\n'
                % (key, zone))
    try:
        with px.conv() as c:
            c.ehlo()
            c.cmd("XFORWARD ADDR=192.0.2.7 NAME=client.example", "250")
            r = c.send_message("a@example.org", ["b@example.net"], MSG,
                               mail_params=("SIZE=%d" % len(MSG), "ENVID=e1", "RET=HDRS"),
                               rcpt_params=("NOTIFY=FAILURE", "ORCPT=rfc822;b@example.net"))
            check(r.first.startswith("250 2.0.0 Ok: queued as "), "reply %r" % r.first)
            c.quit()
        check(sink.wait_for(1, timeout=10), "not delivered")
        m = sink.last()
        check(m["data"].endswith(MSG), "data changed")
        check(b"ARC-Seal:" in m["data"][:len(m["data"]) - len(MSG)], "not sealed")
        check(m["xforward"].get("ADDR") == "192.0.2.7", "xforward %r" % m["xforward"])
        check("ENVID=e1" in m["mail_params"] and "RET=HDRS" in m["mail_params"],
              "mail params %r" % m["mail_params"])
        rc = m["rcpts"][0]
        check("NOTIFY=FAILURE" in rc["params"] and "ORCPT=rfc822;b@example.net" in rc["params"],
              "rcpt params %r" % rc["params"])
        rc2, out = tp.verify(zone, m["data"])
        check(rc2 == 0 and out[0] == "arc=pass", "verify %r" % out)
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
    finally:
        check(px.stop() == 0, "exit status")


def t_downstream_down_then_up(sink):
    port = tp.free_port()
    px = qproxy(port)
    try:
        with px.conv() as c:
            c.ehlo()
            for i in range(3):
                r = c.send_message("a@example.org", ["b%d@example.net" % i], MSG)
                check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
            c.quit()
        check(wait_until(lambda: px.text().count("deferred (attempt 2)") >= 3, 10),
              "no retries logged")
        check(len(queued_files(px)) == 3, "queue %r" % queued_files(px))
        with Sink(port=port) as s2:
            check(s2.wait_for(3, timeout=15), "not delivered after downstream came back")
            got = sorted(m["rcpts"][0]["addr"] for m in s2.messages(accepted_only=True))
            check(got == ["b0@example.net", "b1@example.net", "b2@example.net"], "got %r" % got)
            check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
    finally:
        check(px.stop() == 0, "exit status")


def t_mixed_rcpts(sink):
    sink.fail("rcpt", "550 5.1.1 <bad@example.net>: unknown user", match="bad@example.net")
    sink.fail("rcpt", "450 4.2.0 <later@example.net>: try later", match="later@example.net",
              times=2)
    px = qproxy(sink.port)
    try:
        with px.conv() as c:
            c.ehlo()
            r = c.send_message("alice@example.org",
                               ["ok@example.net", "bad@example.net", "later@example.net"], MSG,
                               mail_params=("ENVID=env42",))
            check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
            c.quit()
        # ok: delivered once; DSN for bad; later: delivered after 2 x 450
        check(wait_until(lambda: any("later@example.net" in [x["addr"] for x in m["rcpts"]]
                                     for m in sink.messages(accepted_only=True)), 15),
              "450 recipient never delivered")
        check(wait_until(lambda: len(dsns(sink)) == 1, 10), "no DSN")
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
        time.sleep(0.5)
        msgs = [m for m in sink.messages(accepted_only=True) if m["mail_from"] != ""]
        ok = [m for m in msgs if "ok@example.net" in [x["addr"] for x in m["rcpts"]]]
        later = [m for m in msgs if "later@example.net" in [x["addr"] for x in m["rcpts"]]]
        bad = [m for m in msgs if "bad@example.net" in [x["addr"] for x in m["rcpts"]]]
        check(len(ok) == 1 and len(later) == 1 and not bad,
              "ok %d later %d bad %d" % (len(ok), len(later), len(bad)))
        d = dsns(sink)
        check(len(d) == 1, "%d DSNs" % len(d))
        check([x["addr"] for x in d[0]["rcpts"]] == ["alice@example.org"], "DSN to %r" % d[0]["rcpts"])
        msg, f = parse_dsn(d[0]["data"])
        check(f.get("action") == ["failed"], "Action %r" % f.get("action"))
        check(f.get("status", [""])[0].startswith("5."), "Status %r" % f.get("status"))
        check(any("bad@example.net" in v for v in f.get("final-recipient", [])),
              "Final-Recipient %r" % f.get("final-recipient"))
        check(b"Subject: test" in d[0]["data"], "original header not returned")
        check("to=<bad@example.net> status=failed" in px.text(), "no failure log line")
    finally:
        check(px.stop() == 0, "exit status")


def t_no_dsn_cases(sink):
    sink.fail("rcpt", "550 5.1.1 unknown user", match="@bad.example")
    px = qproxy(sink.port)
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("", ["x@bad.example"], MSG)
            c.send_message("a@example.org", ["y@bad.example"], MSG, rcpt_params=("NOTIFY=NEVER",))
            c.send_message("a@example.org", ["z@bad.example"], MSG,
                           rcpt_params=("NOTIFY=SUCCESS,DELAY",))
            c.quit()
        check(wait_until(lambda: px.text().count("status=failed") >= 3, 10), "no failures logged")
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
        time.sleep(0.5)
        check(dsns(sink) == [], "DSN sent: %r" % [m["rcpts"] for m in dsns(sink)])
        t = px.text()
        check("to=<x@bad.example> status=failed" in t and "dsn=none (null sender)" in t,
              "null sender log")
        check("to=<y@bad.example> status=failed" in t and "dsn=none (NOTIFY)" in t, "NEVER log")
    finally:
        check(px.stop() == 0, "exit status")


def t_max_age(sink):
    sink.fail("rcpt", "451 4.3.0 not now", match="slow@example.net")
    px = qproxy(sink.port, max_age="2s")
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("bob@example.org", ["slow@example.net"], MSG)
            c.quit()
        check(wait_until(lambda: len(dsns(sink)) == 1, 15), "no expiry DSN")
        msg, f = parse_dsn(dsns(sink)[0]["data"])
        check(f.get("action") == ["failed"], "Action %r" % f.get("action"))
        check(any("slow@example.net" in v for v in f.get("final-recipient", [])), "Final-Recipient")
        check("too long in queue" in px.text(), "expiry log line")
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
    finally:
        check(px.stop() == 0, "exit status")


def t_restart_delivers(sink):
    port = tp.free_port()
    px = qproxy(port)
    spool = px.spool
    with px.conv() as c:
        c.ehlo()
        for i in range(4):
            c.send_message("a@example.org", ["r%d@example.net" % i], MSG)
        c.quit()
    check(px.stop() == 0, "exit status")
    check(len(queued_files(px)) == 4, "queued before restart: %r" % queued_files(px))
    with Sink(port=port) as s2:
        px2 = qproxy(port, spool=spool)
        try:
            check(s2.wait_for(4, timeout=15), "queued messages not delivered after restart")
            check("queued again from an earlier run" in px2.text(), "start log line")
            check(wait_until(lambda: queued_files(px2) == [], 5), "queue not empty")
        finally:
            check(px2.stop() == 0, "exit status")


def t_proxy_mode_keeps_queued(sink):
    """Switching to delivery: proxy must not remove what queue mode acknowledged."""
    port = tp.free_port()
    px = qproxy(port)
    with px.conv() as c:
        c.ehlo()
        c.send_message("a@example.org", ["k@example.net"], MSG)
        c.quit()
    check(px.stop() == 0, "exit status")
    check(len(queued_files(px)) == 1, "queued: %r" % queued_files(px))
    px2 = Proxy(sink.port, spool=px.spool)
    try:
        check("queued by delivery: queue and not delivered yet" in px2.text(), "log line")
        check(len(queued_files(px2)) == 1, "proxy mode removed a queued message")
    finally:
        check(px2.stop() == 0, "exit status")


def t_min_data_rate(sink):
    px = Proxy(sink.port, config="limits:\n  min_data_rate: 2000\n")
    try:
        with px.conv(timeout=30) as c:
            c.ehlo()
            c.cmd("MAIL FROM:<a@example.org>", "250")
            c.cmd("RCPT TO:<b@example.net>", "250")
            c.cmd("DATA", "354")
            end = time.monotonic() + 20
            got = b""
            c.sock.settimeout(0.3)
            while time.monotonic() < end:
                try:
                    c.sock.sendall(b"Subject: slow\r\n")
                except OSError:
                    break
                try:
                    got += c.sock.recv(4096)
                    if got:
                        break
                except socket.timeout:
                    pass
            check(got.startswith(b"421 4.4.2"), "got %r" % got)
        check("data rate too low" in px.text(), "log line")
        check(sink.count() == 0, "message went downstream")
    finally:
        check(px.stop() == 0, "exit status")


DEBUG = "logging:\n  level: debug\n"
REUSE = "  connection_reuse: %s\n  connection_idle_timeout: %s\n  connection_max_messages: %d\n"


def rproxy(sink, max_deliveries=2, reuse="true", idle="60s", max_msgs=100, extra=""):
    """A queue-mode daemon with the pool keys given (idle long by default: the pool's
    own timer must not be what closes a connection in these tests)."""
    return qproxy(sink.port, max_deliveries=max_deliveries,
                  extra=REUSE % (reuse, idle, max_msgs) + DEBUG + extra)


def send_n(px, n, tag, xf=None):
    """n messages in one upstream session, each 250 (durable) before the next."""
    with px.conv() as c:
        c.ehlo()
        for i in range(n):
            if xf:
                c.cmd(xf, "250")
            r = c.send_message("a@example.org", ["%s%d@example.net" % (tag, i)], MSG)
            check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
        c.quit()


def delivered(sink, tag):
    return sorted(x["addr"] for m in sink.messages(accepted_only=True)
                  for x in m["rcpts"] if x["addr"].startswith(tag))


def all_arrive(px, sink, n, tag):
    """Every message once at the sink, the queue empty, no retry, no protocol error."""
    want = sorted("%s%d@example.net" % (tag, i) for i in range(n))
    check(wait_until(lambda: delivered(sink, tag) == want, 15),
          "delivered %r, want %r" % (delivered(sink, tag), want))
    check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
    check("deferred" not in px.text(), "a delivery was deferred: %s" % px.text()[-1500:])
    check(sink.errors() == [], "sink saw protocol errors: %r" % sink.errors())


def t_reuse_fewer_connections(sink):
    """N messages over at most max_deliveries connections; each ended by QUIT at stop."""
    n = 12
    px = rproxy(sink, max_deliveries=2)
    try:
        send_n(px, n, "r")
        all_arrive(px, sink, n, "r")
        conns = sink.connection_count()
        check(1 <= conns <= 2, "%d messages over %d connections (max_deliveries 2)" % (n, conns))
        check("kept connection reused" in px.text(), "no reuse logged")
    finally:
        check(px.stop() == 0, "exit status")
    ends = [c["end"] for c in sink.connections()]
    check(all(e and e.startswith("quit") for e in ends), "connections ended by %r" % ends)


def t_reuse_bounds(sink):
    """connection_reuse: false gives one connection per message; connection_max_messages
    ends a connection after that many (QUIT) and opens the next."""
    n = 5
    px = rproxy(sink, max_deliveries=1, reuse="false")
    try:
        send_n(px, n, "off")
        all_arrive(px, sink, n, "off")
        check(sink.connection_count() == n, "reuse off: %d connections" % sink.connection_count())
    finally:
        check(px.stop() == 0, "exit status")
    sink.reset()
    px = rproxy(sink, max_deliveries=1, max_msgs=2)
    try:
        send_n(px, n, "lim")
        all_arrive(px, sink, n, "lim")
        per = sorted(c["messages"] for c in sink.connections())
        check(per == [1, 2, 2], "messages per connection %r (limit 2)" % per)
        check("message limit reached" in px.text(), "log line")
    finally:
        check(px.stop() == 0, "exit status")


def t_downstream_closes_after_each_message(sink):
    """The downstream ends every session after its 250: the kept connection is gone
    quietly (EOF while idle) or, caught as it is taken, replaced at once by a new one."""
    sink.close_after("eod")
    n = 6
    px = rproxy(sink, max_deliveries=1)
    try:
        send_n(px, n, "c")
        all_arrive(px, sink, n, "c")
        t = px.text()
        check(sink.connection_count() == n, "connections %d" % sink.connection_count())
        check(t.count("kept connection gone") + t.count("trying a new one at once") >= 1,
              "the pool never saw a closed connection: %s" % t[-1500:])
        check("warning" not in t.split("arcproxy ready", 1)[1], "warnings: %s" % t[-1500:])
    finally:
        check(px.stop() == 0, "exit status")


def t_downstream_closes_idle(_):
    """The downstream's own idle timeout (421, close) ends kept connections: removed from
    the pool; the next message goes over a new connection without delay or retry."""
    with Sink(idle_timeout=0.5) as sink:
        downstream_closes_idle(sink)


def downstream_closes_idle(sink):
    px = rproxy(sink, max_deliveries=1)
    try:
        for i in range(3):
            with px.conv() as c:
                c.ehlo()
                r = c.send_message("a@example.org", ["i%d@example.net" % i], MSG)
                check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
                c.quit()
            check(sink.wait_for(i + 1, 10), "message %d not delivered" % i)
            check(wait_until(lambda: sink.active_connections() == 0, 5),
                  "the sink did not close the idle connection")
        all_arrive(px, sink, 3, "i")
        check(sink.connection_count() == 3, "connections %d" % sink.connection_count())
        check(px.text().count("kept connection gone") == 3, "removals: %s" % px.text()[-1500:])
    finally:
        check(px.stop() == 0, "exit status")


def t_kept_connection_dies_when_taken(sink):
    """The downstream closes a kept connection just as it is used (EOF at XFORWARD or
    MAIL, a 421 to MAIL): one immediate retry on a new connection, no attempt counted,
    no backoff, nothing lost."""
    cases = [("xforward", lambda: sink.close_at("xforward", reused=True)),
             ("mail", lambda: sink.close_at("mail", reused=True)),
             ("421", lambda: sink.fail("mail", "421 4.3.2 closing, sorry", reused=True))]
    for name, arm in cases:
        sink.reset()
        rule = arm()
        n = 4
        px = rproxy(sink, max_deliveries=1)
        try:
            send_n(px, n, "k", xf="XFORWARD ADDR=192.0.2.44")
            all_arrive(px, sink, n, "k")
            t = px.text()
            check(rule.fired >= 1, "%s: the rule never fired (no connection reused)" % name)
            check(t.count("trying a new one at once") == rule.fired,
                  "%s: %d retries for %d closes" % (name, t.count("trying a new one at once"),
                                                   rule.fired))
            check(all(m["xforward"].get("ADDR") == "192.0.2.44"
                      for m in sink.messages(accepted_only=True)), "%s: xforward lost" % name)
        finally:
            check(px.stop() == 0, "exit status")


def t_xforward_per_message_on_reused_connection(sink):
    """On one kept connection: each message's own XFORWARD, none for a message without
    any (the downstream forgot the previous one), and a refused MAIL after XFORWARD
    followed by RSET so that its attributes do not reach the next message."""
    sink.fail("mail", "550 5.7.1 sender refused", match="refused@example.org")
    px = rproxy(sink, max_deliveries=1)
    steps = [("XFORWARD NAME=one.example ADDR=192.0.2.1 PROTO=ESMTP", "a@example.org"),
             (None, "a@example.org"),
             ("XFORWARD ADDR=192.0.2.3", "a@example.org"),
             ("XFORWARD NAME=bad.example ADDR=192.0.2.9 HELO=bad", "refused@example.org"),
             (None, "a@example.org"),
             ("XFORWARD ADDR=2001:db8::5 SOURCE=LOCAL", "a@example.org")]
    try:
        for i, (xf, sender) in enumerate(steps):
            n0 = sink.count()
            with px.conv() as c:
                c.ehlo()
                if xf:
                    c.cmd(xf, "250")
                r = c.send_message(sender, ["x%d@example.net" % i], MSG,
                                   rcpt_params=("NOTIFY=NEVER",))
                check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
                c.quit()
            if sender.startswith("refused"):
                check(wait_until(lambda: "to=<x%d@example.net> status=failed" % i in px.text(),
                                 10), "refused MAIL not logged")
            else:
                check(sink.wait_for(n0 + 1, 10), "message %d not delivered" % i)
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
        got = {m["rcpts"][0]["addr"]: m for m in sink.messages(accepted_only=True)}
        check(sorted(got) == ["x0@example.net", "x1@example.net", "x2@example.net",
                              "x4@example.net", "x5@example.net"], "delivered %r" % sorted(got))
        check(len({m["conn"] for m in got.values()}) == 1,
              "not one connection: %r" % [m["conn"] for m in got.values()])
        xf = {a: m["xforward"] for a, m in got.items()}
        check(xf["x0@example.net"].get("NAME") == "one.example"
              and xf["x0@example.net"].get("ADDR") == "192.0.2.1", "x0 %r" % xf["x0@example.net"])
        check(xf["x1@example.net"] == {}, "x1 got an XFORWARD: %r" % xf["x1@example.net"])
        check(xf["x2@example.net"].get("ADDR") == "192.0.2.3"
              and xf["x2@example.net"].get("NAME") == "[UNAVAILABLE]",
              "x2 %r" % xf["x2@example.net"])
        check(xf["x4@example.net"] == {}, "x4 inherited the refused message's XFORWARD: %r"
              % xf["x4@example.net"])
        check(xf["x5@example.net"].get("ADDR") == "2001:db8::5"
              and xf["x5@example.net"].get("SOURCE") == "LOCAL"
              and xf["x5@example.net"].get("HELO") == "[UNAVAILABLE]", "x5 %r" % xf["x5@example.net"])
        log = sink.connections()[0]["log"]
        check(any(x == "C: RSET" for x in log), "no RSET after the refused MAIL: %r" % log[-30:])
        check(sink.errors() == [], "sink errors %r" % sink.errors())
    finally:
        check(px.stop() == 0, "exit status")


def t_chunk_boundaries(sink):
    """Messages around the 64 KiB read unit (the OPEN job reads the first chunk; a short
    read is the end) arrive byte-exact over a reused connection, leading dots included."""
    px = rproxy(sink, max_deliveries=1)
    sizes = [65535, 65536, 65537, 3 * 65536, 200001]
    try:
        bodies = []
        for i, n in enumerate(sizes):
            head = b"Subject: size %d\r\n\r\n" % n
            line = b".leading dot and some text to fill the line up to the end\r\n"
            body = (line * (n // len(line) + 1))[:n - len(head) - 2] + b"\r\n"
            bodies.append(head + body)
            check(len(bodies[-1]) == n, "fixture size %d != %d" % (len(bodies[-1]), n))
        with px.conv(timeout=30) as c:
            c.ehlo()
            for i, m in enumerate(bodies):
                r = c.send_message("a@example.org", ["z%d@example.net" % i], m)
                check(r.first.startswith("250 2.0.0 Ok: queued as"), "reply %r" % r.first)
            c.quit()
        check(sink.wait_for(len(sizes), 20), "not all delivered")
        got = {m["rcpts"][0]["addr"]: m["data"] for m in sink.messages(accepted_only=True)}
        for i, m in enumerate(bodies):
            d = got.get("z%d@example.net" % i)
            check(d is not None and d.endswith(m) and len(d) - len(m) < 300,
                  "size %d: got %s bytes" % (sizes[i], None if d is None else len(d)))
        check(sink.connection_count() == 1, "connections %d" % sink.connection_count())
        check(wait_until(lambda: queued_files(px) == [], 5), "queue not empty")
    finally:
        check(px.stop() == 0, "exit status")


def t_reload_drops_kept_connections(sink):
    """SIGHUP: the kept connections of the old generation get QUIT at once; the next
    message goes over a new one."""
    px = rproxy(sink, max_deliveries=2, idle="60s")
    try:
        send_n(px, 1, "h")
        check(sink.wait_for(1, 10), "not delivered")
        time.sleep(0.3)
        check(sink.active_connections() == 1, "no kept connection (%d open)"
              % sink.active_connections())
        px.p.send_signal(signal.SIGHUP)
        check(wait_until(lambda: sink.active_connections() == 0, 5),
              "kept connection still open after the reload")
        check(sink.connections()[0]["end"].startswith("quit"), "ended by %r"
              % sink.connections()[0]["end"])
        check(wait_until(lambda: "configuration reloaded" in px.text(), 5), "no reload")
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["h9@example.net"], MSG)
            c.quit()
        check(sink.wait_for(2, 10), "not delivered after the reload")
        check(sink.connection_count() == 2, "connections %d" % sink.connection_count())
    finally:
        check(px.stop() == 0, "exit status")


def pool_threads(px):
    """Threads of the daemon besides its loop thread (libuv starts its whole pool at the
    first job)."""
    return len(os.listdir("/proc/%d/task" % px.p.pid)) - 1


def t_workers(sink):
    """workers: 16 threads by default in queue mode (each commit holds one through its
    fsyncs), 4 in proxy mode, the configured number when set; the start line says so."""
    for extra, delivery, want in (("", "queue", 16), ("", "proxy", 4),
                                  ("workers: 7\n", "queue", 7), ("workers: 2\n", "proxy", 2)):
        cfg = (QCONF % ("1h", 10) if delivery == "queue" else "") + extra
        env = dict(os.environ)
        env.pop("UV_THREADPOOL_SIZE", None)
        px = Proxy(sink.port, config=cfg, env=env)
        try:
            with px.conv() as c:
                c.ehlo()
                r = c.send_message("a@example.org", ["b@example.net"], MSG)
                check(r.first.startswith("250"), "reply %r" % r.first)
                c.quit()
            n = pool_threads(px)
            check(n == want, "%s%s: %d pool threads, want %d" % (delivery, extra.strip(), n, want))
            check(", workers %d" % want in px.text(), "start line without 'workers %d'" % want)
        finally:
            check(px.stop() == 0, "exit status")


def main():
    if not tp.BIN or not os.access(tp.BIN, os.X_OK):
        print("usage: test_queue.py path/to/arcproxy")
        return 2
    with Sink() as sink:
        for name, fn in [("queue_250_then_delivered_sealed", t_queue_basic),
                         ("queue_downstream_down_then_up", t_downstream_down_then_up),
                         ("queue_mixed_250_550_450", t_mixed_rcpts),
                         ("queue_no_dsn_null_sender_notify_never", t_no_dsn_cases),
                         ("queue_max_age_dsn", t_max_age),
                         ("queue_restart_delivers", t_restart_delivers),
                         ("proxy_mode_keeps_queued_files", t_proxy_mode_keeps_queued),
                         ("min_data_rate_421", t_min_data_rate),
                         ("queue_reuse_fewer_connections", t_reuse_fewer_connections),
                         ("queue_reuse_off_and_max_messages", t_reuse_bounds),
                         ("queue_reuse_downstream_closes_after_each_message",
                          t_downstream_closes_after_each_message),
                         ("queue_reuse_downstream_closes_idle", t_downstream_closes_idle),
                         ("queue_reuse_kept_connection_dies_when_taken",
                          t_kept_connection_dies_when_taken),
                         ("queue_reuse_xforward_per_message",
                          t_xforward_per_message_on_reused_connection),
                         ("queue_chunk_boundaries_byte_exact", t_chunk_boundaries),
                         ("queue_reuse_reload_drops_kept_connections",
                          t_reload_drops_kept_connections),
                         ("workers_thread_pool_size", t_workers)]:
            sink.reset()
            run(name, fn, sink)
    return tp.finish_run()


if __name__ == "__main__":
    sys.exit(main())

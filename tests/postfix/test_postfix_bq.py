#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_postfix_bq.py ARCPROXY WORKDIR - arcproxy as a Postfix BEFORE-queue filter, end to end.

    client (bound to 127.0.0.2) -> Postfix smtpd :SUB (smtpd_proxy_filter 127.0.0.1:FILTER)
      -> arcproxy (mode sv, -c generated config), while the client waits
      -> Postfix return smtpd 127.0.0.1:RET (queued here, once)
      -> relayhost [127.0.0.1]:SINK -> tests/smtp/harness/sink.py

Postfix runs from a private config and queue directory (postfix -c DIR) with the services
of deploy/postfix-before-queue.snippet (ports substituted, the public smtp service moved to
127.0.0.1:SUB). run.sh owns WORKDIR and stops Postfix again if this script dies.

Checks: N messages arrive sealed (i=1, the client's address from XFORWARD in the AAR),
verifying with dkimpy and `arcproxy verify`, byte-exact, once each; with arcproxy's
downstream unreachable and with arcproxy stopped, the SENDING client gets a 4xx and
Postfix queues nothing (so nothing is lost: the client still has the message); the
client's retry after recovery is delivered, sealed. Every wait is bounded; only processes
started here are signalled, by PID. Needs root (Postfix's master) and postfix.
"""

import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "smtp", "harness"))
sys.path.insert(0, os.path.join(ROOT, "tests", "deploy"))

from sink import Sink  # noqa: E402
from mta_e2e import (CLIENT_IP, E2E, free_ports, message, message_id, smtp_code,  # noqa: E402
                     submit, tail, wait_listen, wait_until)
from pfcommon import Postfix, read_snippet  # noqa: E402

BIN = sys.argv[1]
WORK = os.path.abspath(sys.argv[2])
SNIPPET = os.path.join(ROOT, "deploy", "postfix-before-queue.snippet")
N = 4

t = E2E(BIN, WORK)
pf = Postfix(WORK)


def ours():
    """What the sink got from the test's client; Postfix's own notices to the postmaster
    (notify_classes: with arcproxy down the proxying smtpd reports "queue file write
    error", a software error) are not the client's mail and are left out."""
    return [x for x in sink.messages() if b"@client.e2e.test>" in message_id(x["data"]).encode()]


def refused_4xx(name, sub, mid, body, nsink):
    """Submit one message that must be refused with a 4xx; nothing queued, nothing sent."""
    e = submit(sub, [(mid, body)])
    code = smtp_code(e)
    t.check("%s: the sending client got a 4xx (%r, %s)" % (name, code, type(e).__name__),
            code is not None and 400 <= code < 500, repr(e))
    time.sleep(1)
    t.check("%s: Postfix queued nothing" % name, not pf.queue_files(), repr(pf.queue_files()))
    t.check("%s: nothing reached the sink" % name, len(ours()) == nsink,
            repr([message_id(x["data"]) for x in sink.messages()]))


sink = Sink(hostname="sink.e2e.test")


def main():
    sub, filter_port, return_port, dead_port = free_ports(4)
    sink.start()
    px = None
    px_log = os.path.join(WORK, "arcproxy.log")
    try:
        if not t.make_key():
            return
        px = t.start_arcproxy(filter_port, return_port)
        if px is None:
            return

        main_extra, services = read_snippet(SNIPPET, {10025: filter_port, 10026: return_port},
                                            sub)
        t.check("snippet: proxying smtpd on :%d and return smtpd, no content_filter" % sub,
                not any(x.startswith("content_filter") for x in main_extra)
                and services[0].startswith("127.0.0.1:%d " % sub)
                and any(("smtpd_proxy_filter=127.0.0.1:%d" % filter_port) in x
                        for x in services)
                and any(("127.0.0.1:%d " % return_port) in x for x in services),
                repr((main_extra, services)))
        pf.write_config(sub, main_extra, services, sink.port, with_smtpd=False)
        r = pf.run("check")
        t.check("postfix check", r.returncode == 0, (r.stdout + r.stderr).decode()[-1500:])
        r = pf.run("start")
        ok = r.returncode == 0 and wait_listen(sub, 20) and wait_listen(return_port, 20)
        if not t.check("postfix -c %s start (proxying smtpd :%d, return :%d, sink :%d)"
                       % (pf.conf, sub, return_port, sink.port), ok,
                       (r.stdout + r.stderr).decode()[-1500:] + tail(pf.maillog)):
            return

        # 1. N messages from 127.0.0.2 through the proxying smtpd and arcproxy
        sent = dict(message(i, "bq") for i in range(N))
        e = submit(sub, list(sent.items()))
        t.check("submitted %d messages to Postfix from %s" % (N, CLIENT_IP), e is None, repr(e))
        if e is not None:
            return
        got_all = sink.wait_for(N, timeout=60)
        msgs = sink.messages()
        if not t.check("sink received %d messages" % len(msgs), got_all and len(msgs) == N,
                       tail(pf.maillog) + "\n--- arcproxy:\n" + tail(px_log)):
            if not msgs:
                return
        seen = [t.check_sealed(rec, sent, CLIENT_IP) for rec in msgs]
        t.check("every submitted message arrived once",
                sorted(seen) == sorted(sent) and len(msgs) == N, repr(seen))
        log = pf.log()
        # queued once: one cleanup line (message-id=) per message, from the return smtpd
        for mid in sent:
            n = len(re.findall(r"cleanup\[\d+\]: \w+: message-id=" + re.escape(mid), log))
            t.check("%s: queued once by Postfix" % mid, n == 1, "%d queue files" % n)
        t.check("Postfix queue empty", not pf.queue_files(), repr(pf.queue_files()))

        # 2. arcproxy tempfails (downstream unreachable): the client gets the 4xx
        t.stop_arcproxy(px)
        px = t.start_arcproxy(filter_port, dead_port, "arcproxy-deadds")
        if px is None:
            return
        mid, body = message(10, "bq-tempfail")
        refused_4xx("arcproxy's downstream down", sub, mid, body, N)

        # 3. arcproxy stopped: the client gets a 4xx from Postfix
        t.stop_arcproxy(px)
        px = None
        refused_4xx("arcproxy stopped", sub, mid, body, N)

        # 4. arcproxy back: the client's retry goes through, sealed
        px = t.start_arcproxy(filter_port, return_port, "arcproxy-back")
        if px is None:
            return
        e = submit(sub, [(mid, body)])
        t.check("the client's retry is accepted", e is None, repr(e))
        got = wait_until(lambda: len(ours()) >= N + 1, 60)
        msgs = ours()
        t.check("sink received the retried message", got and len(msgs) == N + 1,
                tail(pf.maillog))
        late = [t.check_sealed(rec, {mid: body}, CLIENT_IP) for rec in msgs[N:]]
        t.check("the retried message arrived once", late == [mid], repr(late))
        t.check("Postfix bounced nothing",
                not re.search(r"status=bounced|fatal:|panic:", pf.log()),
                "\n".join(x for x in pf.log().splitlines()
                          if re.search("bounced|fatal|panic", x))[-1000:])
        t.check("sink saw no protocol errors", sink.errors() == [], repr(sink.errors())[:500])
    finally:
        pf.stop()
        t.end(px, sink)


if __name__ == "__main__":
    t.run(main, pf.stop)

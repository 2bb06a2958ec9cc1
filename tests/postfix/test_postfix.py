#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_postfix.py ARCPROXY WORKDIR - arcproxy behind a real Postfix (after-queue), end to end.

    client (bound to 127.0.0.2) -> Postfix smtpd :SUB -> content_filter scan:[127.0.0.1]:FILTER
      -> arcproxy (mode sv, -c generated config) -> Postfix return smtpd 127.0.0.1:RET
      -> relayhost [127.0.0.1]:SINK -> tests/smtp/harness/sink.py

Postfix runs from a private config and queue directory under WORKDIR (postfix -c DIR), with
the transports of deploy/postfix-master.cf.snippet (only the ports substituted). run.sh owns
WORKDIR and stops Postfix again if this script dies; this script stops it too.

Checks: N messages arrive sealed (i=1, XFORWARD's client address in the AAR), verifying
with dkimpy and `arcproxy verify`, byte-exact, once each; then a message that arcproxy
tempfails (its downstream unreachable) stays in Postfix's queue (postqueue -p) and is
delivered, sealed, after arcproxy recovers and `postqueue -f`. Every wait is bounded; only
processes started here are signalled, by PID. Needs root (Postfix's master) and postfix.
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
from mta_e2e import (CLIENT_IP, E2E, free_ports, message, message_id, submit,  # noqa: E402
                     tail, wait_listen, wait_until)
from pfcommon import Postfix, read_snippet  # noqa: E402

BIN = sys.argv[1]
WORK = os.path.abspath(sys.argv[2])
SNIPPET = os.path.join(ROOT, "deploy", "postfix-master.cf.snippet")
N = 5

t = E2E(BIN, WORK)
pf = Postfix(WORK)


def main():
    sub, filter_port, return_port, dead_port = free_ports(4)
    sink = Sink(hostname="sink.e2e.test")
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
        t.check("snippet: content_filter in main.cf, scan transport, return smtpd",
                any(x.startswith("content_filter") for x in main_extra)
                and any(x.startswith("scan ") for x in services)
                and any(("127.0.0.1:%d " % return_port) in x for x in services),
                repr((main_extra, services)))
        pf.write_config(sub, main_extra, services, sink.port)
        r = pf.run("check")
        t.check("postfix check", r.returncode == 0, (r.stdout + r.stderr).decode()[-1500:])
        r = pf.run("start")
        ok = r.returncode == 0 and wait_listen(sub, 20) and wait_listen(return_port, 20)
        if not t.check("postfix -c %s start (submission :%d, return :%d, sink :%d)"
                       % (pf.conf, sub, return_port, sink.port), ok,
                       (r.stdout + r.stderr).decode()[-1500:] + tail(pf.maillog)):
            return

        # 1. N messages from 127.0.0.2 through Postfix and arcproxy
        sent = dict(message(i, "e2e") for i in range(N))
        t0 = time.monotonic()
        e = submit(sub, list(sent.items()))
        t.check("submitted %d messages to Postfix from %s" % (N, CLIENT_IP), e is None, repr(e))
        if e is not None:
            return
        got_all = sink.wait_for(N, timeout=60)
        msgs = sink.messages()
        if not t.check("sink received %d messages (%.1fs)" % (len(msgs), time.monotonic() - t0),
                       got_all and len(msgs) == N,
                       tail(pf.maillog) + "\n--- arcproxy:\n" + tail(px_log)):
            if not msgs:
                return
        # above the original: the return smtpd's Received, arcproxy's fields, the
        # submission smtpd's Received
        seen = [t.check_sealed(rec, sent, CLIENT_IP) for rec in msgs]
        t.check("every submitted message arrived once",
                sorted(seen) == sorted(sent) and len(msgs) == N, repr(seen))
        t.check("Postfix queue empty", not pf.queue_files(), repr(pf.queue_files()))
        log = pf.log()
        t.check("Postfix logged no loop/filter errors",
                not re.search(r"loops back|status=deferred|status=bounced|fatal:|panic:", log),
                "\n".join(x for x in log.splitlines()
                          if re.search(r"deferred|bounced|fatal|panic|loops", x))[-1500:])

        # 2. arcproxy tempfails (its downstream is unreachable): Postfix keeps the message
        t.stop_arcproxy(px)
        px = t.start_arcproxy(filter_port, dead_port, "arcproxy-deadds")
        if px is None:
            return
        mid, body = message(10, "e2e-tempfail")
        held = {mid: body}
        e = submit(sub, [(mid, body)])
        t.check("Postfix accepted a message while arcproxy's downstream is down", e is None,
                repr(e))
        qid = wait_until(lambda: pf.queue_id_of(mid), 20)
        defer = (wait_until(lambda: re.search(r"%s: to=.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d"
                                              r".*status=deferred \(host .* said: 4\d\d"
                                              % (qid, filter_port), pf.log()), 60)
                 if qid else None)
        t.check("Postfix deferred it after arcproxy's 4xx (%s)" % qid, defer is not None,
                "\n".join(x for x in pf.log().splitlines() if qid and qid in x)[-1500:])
        r = pf.postqueue("-p")
        t.check("postqueue -p lists it", r.returncode == 0 and qid and qid.encode() in r.stdout,
                (r.stdout + r.stderr).decode()[-800:])
        time.sleep(1)
        t.check("nothing reached the sink meanwhile", len(sink.messages()) == N,
                repr([message_id(x["data"]) for x in sink.messages()]))

        # 3. arcproxy recovers; postqueue -f delivers it, sealed
        t.stop_arcproxy(px)
        px = t.start_arcproxy(filter_port, return_port, "arcproxy-back")
        if px is None:
            return
        r = pf.postqueue("-f")
        t.check("postqueue -f", r.returncode == 0, (r.stdout + r.stderr).decode()[-800:])
        got = sink.wait_for(N + 1, timeout=60)
        msgs = sink.messages()
        t.check("sink received the held message", got and len(msgs) == N + 1, tail(pf.maillog))
        late = [t.check_sealed(rec, held, CLIENT_IP) for rec in msgs[N:]]
        t.check("the held message arrived once", late == [mid], repr(late))
        q = wait_until(lambda: not pf.queue_files(), 30)
        t.check("Postfix queue empty again", q, repr(pf.queue_files()))
        t.check("Postfix bounced nothing", "status=bounced" not in pf.log(),
                "\n".join(x for x in pf.log().splitlines() if "bounced" in x)[-1000:])
        t.check("sink saw no protocol errors", sink.errors() == [], repr(sink.errors())[:500])
    finally:
        pf.stop()
        t.end(px, sink)


if __name__ == "__main__":
    t.run(main, pf.stop)

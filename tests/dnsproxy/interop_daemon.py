#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""interop_daemon.py ARCPROXY [interop.py options] - the interop chains of tests/interop
(built by arcproxy, dkimpy and mailauth; docs/interop.md) verified a second time THROUGH
THE DAEMON: after interop.py made its keys, unbound serves them (one auth-zone per
registered domain, records split into 255-byte strings) and one arcproxy in mode v looks
them up there; every message a case checks is also sent to it over SMTP (LF turned into
CRLF, as an MTA would) and the arc= result and header.oldest-pass of the
Authentication-Results it adds must equal what `arcproxy verify --dns-zone` said (which
interop.py already holds against the two oracles). Absent header.oldest-pass means 0.

Everything else is interop.py's: its cases, skips and exit codes (77 when an oracle is
missing). The last lines add "daemon: N verdicts compared, M differed".
"""

import os
import re
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))

import interop as io  # noqa: E402
import test_dnsproxy as dp  # noqa: E402
import test_proxy as tp  # noqa: E402
from sink import Sink  # noqa: E402

AUTHSERV = "mx.interop-daemon.test"
STATE = {"px": None, "sink": None, "conv": None, "compared": 0, "differed": 0}


def start_daemon(env):
    zones = {}
    for owner, rec in sorted(env.txt.items()):
        origin = ".".join(owner.split(".")[-2:])
        val = rec.replace("\\", "\\\\").replace('"', '\\"')
        parts = " ".join('"%s"' % val[i:i + 255] for i in range(0, len(val), 255)) or '""'
        zones.setdefault(origin, b"")
        zones[origin] += ("%s. IN TXT ( %s )\n" % (owner, parts)).encode()
    dp.start_unbound(zones)
    sink = Sink()
    sink.__enter__()
    STATE["sink"] = sink
    STATE["px"] = tp.Proxy(sink.port, config="mode: v\nauthserv_id: %s\n%s" % (
        AUTHSERV, dp.dns_conf()))


def stop_daemon():
    if STATE["conv"]:
        STATE["conv"].close()
    if STATE["px"]:
        rc = STATE["px"].stop()
        if rc != 0:
            print("FAIL daemon exit status %r" % rc)
            STATE["differed"] += 1
        if dp.sanitizer_report(STATE["px"]):
            print("FAIL sanitizer report in %s" % STATE["px"].log)
            STATE["differed"] += 1
    if STATE["sink"]:
        STATE["sink"].__exit__(None, None, None)
    dp.stop_unbound()


def daemon_verdict(msg):
    data = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    for attempt in (0, 1):
        try:
            if STATE["conv"] is None:
                STATE["conv"] = STATE["px"].conv(timeout=30)
                STATE["conv"].ehlo()
            STATE["conv"].send_message("a@example.org", ["b@example.net"], data)
            break
        except Exception as exc:  # noqa: BLE001 - one reconnect, then report
            if STATE["conv"]:
                STATE["conv"].close()
            STATE["conv"] = None
            if attempt:
                return io.Verdict("smtp-error", detail=str(exc)[-300:])
    got = STATE["sink"].last()["data"]
    m = re.match(rb"Authentication-Results: " + re.escape(AUTHSERV.encode()) +
                 rb";\s+arc=(\w+)([^\r\n]*)", got)
    if not m:
        return io.Verdict("no-authres", detail=repr(got[:200]))
    om = re.search(rb"header\.oldest-pass=(\d+)", m.group(2))
    return io.Verdict(m.group(1).decode(), oldest=int(om.group(1)) if om else 0,
                      detail=m.group(0).decode(errors="replace"))


orig_setup, orig_check = io.setup_keys, io.Case.check


def setup_keys(env):
    orig_setup(env)
    if not env.oracles_only:
        start_daemon(env)


def check(self, msg, expect, *a, **kw):
    v = orig_check(self, msg, expect, *a, **kw)
    if "arcproxy" in v and STATE["px"]:
        ap, d = v["arcproxy"], daemon_verdict(msg)
        STATE["compared"] += 1
        same = d.cv == ap.cv and (d.cv != "pass" or d.oldest == ap.oldest)
        self.log.append("    daemon: %s (oldest-pass %s)" % (d.detail, d.oldest))
        if not same:
            STATE["differed"] += 1
            raise io.CaseFail("the daemon says arc=%s oldest-pass %s, arcproxy verify %s "
                              "oldest-pass %s: %s" % (d.cv, d.oldest, ap.cv, ap.oldest,
                                                      d.detail))
    return v


def main():
    if len(sys.argv) < 2:
        print("usage: interop_daemon.py ARCPROXY [interop.py options]")
        return 64
    tp.BIN = os.path.abspath(sys.argv[1])
    if not dp.find_unbound():
        print("unbound not installed (scripts/install-deps.sh installs it)")
        return 1 if os.environ.get("CI") == "true" else 77
    io.setup_keys = setup_keys
    io.Case.check = check
    sys.argv = [sys.argv[0], "--arcproxy", tp.BIN] + sys.argv[2:]
    try:
        rc = io.main()
    finally:
        stop_daemon()
    print("daemon: %d verdicts compared, %d differed" % (STATE["compared"], STATE["differed"]))
    if rc == 0 and (STATE["differed"] or (STATE["px"] and not STATE["compared"])):
        rc = 1
    if rc == 0:
        shutil.rmtree(tp.WORK, ignore_errors=True)
    else:
        print("daemon logs kept in", tp.WORK)
    return rc


if __name__ == "__main__":
    sys.exit(main())

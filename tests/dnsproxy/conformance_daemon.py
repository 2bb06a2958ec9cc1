#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""conformance_daemon.py ARCPROXY SUITE_DIR - the ARC conformance suite's validation tests
(arc-draft-validation-tests.yml, see SUITE_DIR/SOURCE.md) run THROUGH THE DAEMON: arcproxy
in mode v, its keys from unbound serving a zone made from the suite's txt-records (several
255-byte strings per record where needed), each message sent over SMTP and the arc= result
of the Authentication-Results the daemon adds compared with the expected cv (tests/arc/
conformance.c does the same against the engine directly).

Mapping: cv "None" = none, "Pass" = pass, "Fail" or empty (three tests, SOURCE.md) = fail;
arc=permerror (the daemon could not parse the ARC fields or the message) counts as fail,
as cv would be fail for it (RFC 8617 §5.2). Messages are LF in the YAML: sent with CRLF,
dot-stuffed by the client. A test whose message SMTP cannot carry is skipped with its
reason (none are known: every message is valid SMTP DATA). The 4 names defined twice are
all run (a libyaml node walk keeps duplicates; 175 tests).

Prints one line per failure, then "validation through the daemon: P/N passed, S skipped".
Exit 0 when all passed, 1 otherwise, 77 when the suite or unbound is absent (1 under
CI=true for unbound).
"""

import os
import re
import shutil
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import yaml  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import test_dnsproxy as dp  # noqa: E402
import test_proxy as tp  # noqa: E402
from sink import Sink  # noqa: E402

VALIDATION = "arc-draft-validation-tests.yml"
AUTHSERV = "mx.conformance.test"


def pairs(node):
    """A mapping node's (key, value node) pairs, duplicates kept."""
    return [(k.value, v) for k, v in node.value]


def load(path):
    """[(scenario_no, name, message, cv)], {dns name: txt}."""
    tests, txts = [], {}
    with open(path, "rb") as f:
        docs = list(yaml.compose_all(f, Loader=yaml.SafeLoader))
    for si, doc in enumerate(docs):
        if doc is None:
            continue
        top = dict(pairs(doc))
        for name, tnode in pairs(top["tests"]):
            fields = {k: v for k, v in pairs(tnode)}
            msg = yaml.safe_load(yaml.serialize(fields["message"]))
            cv = fields.get("cv")
            cv = "" if cv is None else (yaml.safe_load(yaml.serialize(cv)) or "")
            tests.append((si, name, msg, cv))
        if "txt-records" in top:
            for dname, vnode in pairs(top["txt-records"]):
                val = yaml.safe_load(yaml.serialize(vnode))
                if dname in txts and txts[dname] != val:
                    raise RuntimeError("txt record %s differs between scenarios" % dname)
                txts[dname] = val
    return tests, txts


def zone_records(txts):
    """{origin: bytes}: the records under their registered domain (last two labels)."""
    zones = {}
    for name, val in sorted(txts.items()):
        origin = ".".join(name.split(".")[-2:])
        val = val.replace("\\", "\\\\").replace('"', '\\"')
        parts = " ".join('"%s"' % val[i:i + 255] for i in range(0, len(val), 255))
        zones.setdefault(origin, b"")
        zones[origin] += ("%s. IN TXT ( %s )\n" % (name, parts)).encode()
    return zones


def main():
    if len(sys.argv) < 3:
        print("usage: conformance_daemon.py ARCPROXY SUITE_DIR")
        return 2
    tp.BIN = os.path.abspath(sys.argv[1])
    path = os.path.join(sys.argv[2], VALIDATION)
    if not os.path.exists(path):
        print("%s absent: skipped" % path)
        return 77
    if not dp.find_unbound():
        print("unbound not installed (scripts/install-deps.sh installs it)")
        return 1 if os.environ.get("CI") == "true" else 77
    tests, txts = load(path)
    ok, failed, skipped, nperm = 0, [], [], 0
    try:
        zones = zone_records(txts)
        # every other domain the signatures name gets an empty zone: NXDOMAIN (the engine
        # test's "absent record"), not a lookup unbound cannot do (SERVFAIL)
        for _, _, msg, _ in tests:
            for d in re.findall(r"\bd=([A-Za-z0-9.-]+)", msg):
                origin = ".".join(d.rstrip(".").split(".")[-2:]).lower()
                if origin.count(".") == 1:
                    zones.setdefault(origin, b"")
        dp.start_unbound(zones)
        with Sink() as sink:
            px = tp.Proxy(sink.port, config="mode: v\nauthserv_id: %s\n%s" % (
                AUTHSERV, dp.dns_conf()))
            try:
                c = px.conv(timeout=30)
                c.ehlo()
                for si, name, msg, cv in tests:
                    data = msg.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8",
                                                                                  "surrogateescape")
                    want = {"none": "none", "pass": "pass", "fail": "fail", "": "fail"}[cv.lower()]
                    n0 = len(sink.messages())
                    try:
                        c.send_message("a@example.org", ["b@example.net"], data)
                    except Exception as e:  # noqa: BLE001
                        failed.append("%d/%s: SMTP: %s" % (si, name, str(e)[-300:]))
                        c.close()
                        c = px.conv(timeout=30)
                        c.ehlo()
                        continue
                    got = sink.messages()[n0]["data"] if len(sink.messages()) > n0 else b""
                    m = re.match(rb"Authentication-Results: " + re.escape(AUTHSERV.encode()) +
                                 rb";\s+arc=(\w+)", got)
                    res = m.group(1).decode() if m else "(no A-R)"
                    res_cv = "fail" if res == "permerror" else res
                    nperm += res == "permerror"
                    if res_cv == want:
                        ok += 1
                    else:
                        failed.append("%d/%s: arc=%s, expected cv %r" % (si, name, res, cv))
                c.quit()
                c.close()
            finally:
                rc = px.stop()
                if rc != 0:
                    failed.append("daemon exit status %r" % rc)
                if dp.sanitizer_report(px):
                    failed.append("sanitizer report in %s" % px.log)
    finally:
        dp.stop_unbound()
    for f in failed:
        print("FAIL", f)
    print("validation through the daemon: %d/%d passed (%d of them arc=permerror for cv "
          "fail), %d skipped" % (ok, len(tests), nperm, len(skipped)))
    if failed:
        print("logs kept in", tp.WORK)
        return 1
    shutil.rmtree(tp.WORK, ignore_errors=True)
    return 0 if ok == len(tests) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dnsproxy.py ARCPROXY - the daemon looking ARC keys up in real DNS: unbound from
Debian on a free loopback port (as tests/dns/test_resolver.c starts it) serving the zone
dnsint.test with the keys made here, SERVFAIL for servfail.test (a forward-zone unbound
cannot use); tests/smtp/harness/sink.py as the return port. Cases:

  - chains sealed by keys served there verify as pass (A-R arc=pass) and get sealed; the
    result verifies with the CLI against the same server
  - a key lookup that SERVFAILs: 451 4.7.0 upstream (proxy and queue mode); with
    on_temperror: pass the message is delivered with arc=temperror
  - NXDOMAIN for the key: arc=fail, delivered
  - the loop stays responsive while a lookup hangs (dns.servers = a UDP socket that never
    answers): another session completes; the hanging session's close cancels its lookup
  - a server that never answers: 451 after dns.lookup_timeout; SIGHUP with new
    dns.servers makes a new resolver (pass), a SIGHUP without dns.* changes keeps its cache
  - the cache: 100 messages with one sealer key = 1 query in unbound's query log, and the
    metrics scrape says dns queries 1, cache hits 99
  - Authentication-Results with our authserv-id from upstream are removed (proxy and queue
    mode, and sealed over: the chain still verifies), another id's are kept, and with
    remove_own_authres: false ours are kept

Without unbound: exit 77 (skip), or 1 under CI=true. Every wait is bounded; processes are
signalled by PID.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "proxy"))
sys.path.insert(0, os.path.join(HERE, "..", "smtp", "harness"))

import test_proxy as tp  # noqa: E402
from test_proxy import Proxy, check, run, wait_until  # noqa: E402
from sink import Sink  # noqa: E402

MSG = (b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: dns test\r\n"
       b"Message-ID: <dns-1@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
       b"Hello over DNS.\r\n")
UNBOUND = None  # (pid, port, dir)
KEYS = {}       # name -> (keyfile, record)


def find_unbound():
    for p in ("/usr/sbin/unbound", "/usr/local/sbin/unbound"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("unbound")


def keygen(domain, selector):
    key, rec = tp.keygen(domain, selector)
    KEYS[domain] = (key, rec)
    return key, rec


def start_unbound(zones, servfail="servfail.test"):
    """unbound on a free loopback port: each zones[origin] (records relative to nothing:
    absolute names) as an auth-zone with a SOA, servfail as a zone it cannot resolve."""
    d = os.path.join(tp.WORK, "unbound")
    os.makedirs(d, exist_ok=True)
    port = tp.free_port()
    conf = os.path.join(d, "unbound.conf")
    text = ('server:\n  interface: 127.0.0.1\n  port: %d\n  do-ip6: no\n'
            '  do-daemonize: no\n  chroot: ""\n  username: ""\n  directory: "%s"\n'
            '  pidfile: ""\n  logfile: "%s/unbound.log"\n  use-syslog: no\n'
            '  log-queries: yes\n  verbosity: 1\n  num-threads: 1\n'
            '  access-control: 127.0.0.0/8 allow\n  module-config: "iterator"\n'
            '  local-zone: "test." nodefault\n' % (port, d, d))
    for origin, records in zones.items():
        zone = os.path.join(d, origin + ".zone")
        with open(zone, "wb") as f:
            f.write(("$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.%s. admin.%s. 1 7200 900 1209600 60\n"
                     "@ IN NS ns\nns IN A 127.0.0.1\n" % (origin, origin, origin)).encode())
            f.write(records)
        text += ('auth-zone:\n  name: "%s."\n  zonefile: "%s"\n'
                 '  for-downstream: yes\n  for-upstream: no\n' % (origin, zone))
    # do-not-query-localhost (default yes) leaves no usable server: SERVFAIL
    text += 'forward-zone:\n  name: "%s."\n  forward-addr: 127.0.0.1@9\n' % servfail
    with open(conf, "w") as f:
        f.write(text)
    out = open(os.path.join(d, "unbound.out"), "wb")
    p = subprocess.Popen([find_unbound(), "-d", "-c", conf], stdout=out, stderr=subprocess.STDOUT)
    global UNBOUND
    UNBOUND = (p, port, d)
    probe = next(iter(zones))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("unbound exited: " + open(os.path.join(d, "unbound.out")).read())
        if dns_probe(port, probe):
            return port
        time.sleep(0.1)
    raise RuntimeError("unbound did not answer")


def dns_probe(port, origin):
    """One SOA query for origin over UDP: True when an answer comes."""
    qname = b"".join(bytes([len(x)]) + x.encode() for x in origin.split(".")) + b"\x00"
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00\x06\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data = s.recv(4096)
        return data[:2] == b"\x12\x34"
    except OSError:
        return False
    finally:
        s.close()


def stop_unbound():  # noqa: D103
    if UNBOUND and UNBOUND[0].poll() is None:
        UNBOUND[0].send_signal(signal.SIGTERM)
        try:
            UNBOUND[0].wait(10)
        except subprocess.TimeoutExpired:
            UNBOUND[0].kill()
            UNBOUND[0].wait(5)


def sanitizer_report(px):
    """The daemon's log names a sanitizer report: the log path, else None."""
    with open(px.log, "rb") as f:
        t = f.read().decode("utf-8", "replace")
    bad = re.search(r"AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:", t)
    return px.log if bad else None


def server_count(name):
    """Queries unbound logged for name (TXT)."""
    with open(os.path.join(UNBOUND[2], "unbound.log"), "rb") as f:
        log = f.read().decode("utf-8", "replace")
    return log.count(" %s. TXT IN" % name)


def seal(domain, selector, data, authserv="mx.up.example"):
    key = KEYS[domain][0]
    out = subprocess.run([tp.BIN, "seal", "-d", domain, "-s", selector, "-k", key,
                          "--authserv-id", authserv], input=data, capture_output=True,
                         timeout=60)
    check(out.returncode == 0, "seal: %r" % out.stderr)
    return out.stdout


def verify_dns(data):
    out = subprocess.run([tp.BIN, "verify", "--dns-server", "127.0.0.1:%d" % UNBOUND[1]],
                         input=data, capture_output=True, timeout=60)
    return out.returncode, out.stdout.decode().splitlines()


def dns_conf(extra=""):
    return 'dns:\n  servers: ["127.0.0.1:%d"]\n  timeout: 2s\n  attempts: 1\n%s' % (
        UNBOUND[1], extra)


def vproxy(sink, mode="v", extra="", dns=None, seal_key=None):
    conf = "mode: %s\nauthserv_id: mx.v.test\n" % mode
    if seal_key:
        conf += ('keys:\n  domain: b.dnsint.test\n  selector: s2\n  key_file: "%s"\n'
                 '  min_rsa_bits: 1024\n' % seal_key)
    conf += dns if dns is not None else dns_conf()
    return Proxy(sink.port, config=conf + extra)


def t_pass_and_sealed(sink):
    """i=1 sealed by a.dnsint.test; the daemon (sv) verifies it from DNS and seals i=2."""
    msg = seal("a.dnsint.test", "s1", MSG)
    px = vproxy(sink, mode="sv", seal_key=KEYS["b.dnsint.test"][0])
    try:
        with px.conv() as c:
            c.ehlo()
            c.cmd("XFORWARD ADDR=192.0.2.7", "250")
            c.send_message("a@example.org", ["b@example.net"], msg)
            c.quit()
        got = sink.last()["data"]
        check(got.endswith(msg), "message not kept after the new fields")
        added = got[:len(got) - len(msg)]
        check(b"Authentication-Results: mx.v.test;\r\n\tarc=pass (i=1) smtp.remote-ip=192.0.2.7"
              in added, "A-R: %r" % added)
        check(b"ARC-Seal: i=2" in added or re.search(rb"ARC-Seal:[^\r]*i=2", added) or
              b" i=2;" in added, "no i=2 set: %r" % added[:400])
        rc, out = verify_dns(got)
        check(rc == 0 and out and out[0] == "arc=pass" and "instances: 2" in out,
              "CLI verify over DNS: %r %r" % (rc, out))
    finally:
        check(px.stop() == 0, "exit status")


def t_servfail_451(sink):
    msg = seal("f.servfail.test", "s1", MSG)
    for delivery in ("proxy", "queue"):
        px = vproxy(sink, extra="delivery: %s\n" % delivery)
        try:
            n = len(sink.messages())
            with px.conv() as c:
                c.ehlo()
                c.cmd("MAIL FROM:<a@example.org>", "250")
                c.cmd("RCPT TO:<b@example.net>", "250")
                c.cmd("DATA", "354")
                c.data(msg)
                r = c.expect("451")
                check("4.7.0" in str(r), "%s: reply %r" % (delivery, r))
                c.quit()
            time.sleep(0.3)
            check(len(sink.messages(accepted_only=True)) <= n or
                  all(m["data"] != msg for m in sink.messages(accepted_only=True)[n:]),
                  "%s: delivered anyway" % delivery)
            check(not [f for f in px.spool_files() if f.startswith("queue/")],
                  "%s: left in the queue: %r" % (delivery, px.spool_files()))
        finally:
            check(px.stop() == 0, "exit status")
    check(server_count("s1._domainkey.f.servfail.test") >= 1, "unbound never asked")


def t_servfail_pass(sink):
    msg = seal("f.servfail.test", "s1", MSG)
    for delivery in ("proxy", "queue"):
        sink.reset()
        px = vproxy(sink, extra="on_temperror: pass\ndelivery: %s\n" % delivery)
        try:
            with px.conv() as c:
                c.ehlo()
                c.send_message("a@example.org", ["b@example.net"], msg)
                c.quit()
            check(wait_until(lambda: sink.messages(accepted_only=True), 10), "not delivered")
            got = sink.messages(accepted_only=True)[-1]["data"]
            check(got.endswith(msg), "message changed")
            added = got[:len(got) - len(msg)]
            check(added.startswith(b"Authentication-Results: mx.v.test;\r\n\tarc=temperror (i=1)"),
                  "%s: A-R %r" % (delivery, added))
        finally:
            check(px.stop() == 0, "exit status")


def t_nxdomain_fail(sink):
    msg = seal("m.dnsint.test", "s1", MSG)  # no record published for it
    px = vproxy(sink)
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], msg)
            c.quit()
        got = sink.last()["data"]
        added = got[:len(got) - len(msg)]
        check(added.startswith(b"Authentication-Results: mx.v.test;\r\n\tarc=fail (i=1)"),
              "A-R %r" % added)
        check(server_count("s1._domainkey.m.dnsint.test") >= 1, "unbound never asked")
    finally:
        check(px.stop() == 0, "exit status")


def t_loop_responsive(sink):
    """A lookup that hangs (a UDP socket that never answers) does not hold the loop."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    sport = silent.getsockname()[1]
    msg = seal("a.dnsint.test", "s1", MSG)
    px = vproxy(sink, dns='dns:\n  servers: ["127.0.0.1:%d"]\n  timeout: 60s\n'
                '  lookup_timeout: 120s\n' % sport)
    try:
        # more hanging sessions than libuv has worker threads (4): a lookup that blocked
        # a worker would starve the spool jobs of everyone else
        hangs = []
        for i in range(6):
            hang = px.conv(timeout=30)
            hangs.append(hang)
            hang.ehlo()
            hang.cmd("MAIL FROM:<a@example.org>", "250")
            hang.cmd("RCPT TO:<b@example.net>", "250")
            hang.cmd("DATA", "354")
            hang.data(msg)
        # the lookup is out: the query reached the silent socket
        silent.settimeout(10)
        q, _ = silent.recvfrom(4096)
        check(b"\x02s1\x0a_domainkey\x01a\x06dnsint\x04test\x00" in q, "query %r" % q)
        # meanwhile: three other sessions (no chain: no lookup) complete
        for i in range(3):
            sink.reset()
            with px.conv(timeout=10) as c:
                c.ehlo()
                c.send_message("a@example.org", ["b@example.net"], MSG)
                c.quit()
            got = sink.last()["data"]
            check(got.startswith(b"Authentication-Results: mx.v.test;\r\n\tarc=none"),
                  "other session: %r" % got[:200])
        # the hanging session has had no reply; SIGTERM waits for it (a transaction under
        # way), a second SIGTERM closes it: its lookup is cancelled, the daemon exits 0
        for hang in hangs:
            hang.expect_silence(0.1)
        px.p.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        check(px.p.poll() is None, "the drain did not wait for the session in its lookup")
        px.p.send_signal(signal.SIGTERM)
        try:
            px.p.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("no exit after the second SIGTERM")
        for hang in hangs:
            hang.close()
    finally:
        silent.close()
        check(px.stop() == 0, "exit status")
        check(not px.spool_files(), "spool left: %r" % px.spool_files())


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read().decode()


def metric(text, name):
    m = re.search(r"^%s (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def t_cache_100(sink):
    msg = seal("c.dnsint.test", "s1", MSG)
    mport = tp.free_port()
    px = vproxy(sink, extra='metrics:\n  listen: ["127.0.0.1:%d"]\n' % mport)
    try:
        before = server_count("s1._domainkey.c.dnsint.test")
        sink.reset()
        with px.conv(timeout=30) as c:
            c.ehlo()
            for i in range(100):
                c.send_message("a@example.org", ["b@example.net"], msg)
            c.quit()
        ms = sink.messages(accepted_only=True)[-100:]
        check(len(ms) == 100 and all(b"arc=pass (i=1)" in m["data"][:200] for m in ms),
              "not 100 passes")
        n = server_count("s1._domainkey.c.dnsint.test") - before
        check(n == 1, "unbound saw %d queries for the key" % n)
        text = scrape(mport)
        q = metric(text, "arcproxy_dns_queries_total")
        h = metric(text, "arcproxy_dns_cache_hits_total")
        check(q == 1 and h == 99, "metrics: queries %r, cache hits %r" % (q, h))
    finally:
        check(px.stop() == 0, "exit status")


FORGED = (b"Authentication-Results: mx.v.test; arc=pass\r\n"
          b"Authentication-Results: other.example; dkim=pass\r\n")


def t_authres_removed(sink):
    msg = FORGED + MSG
    body_at = msg.index(b"\r\n\r\n")
    for delivery in ("proxy", "queue"):
        sink.reset()
        px = vproxy(sink, extra="delivery: %s\n" % delivery)
        try:
            with px.conv() as c:
                c.ehlo()
                c.send_message("a@example.org", ["b@example.net"], msg)
                c.quit()
            check(wait_until(lambda: sink.messages(accepted_only=True), 10), "not delivered")
            got = sink.messages(accepted_only=True)[-1]["data"]
            check(got.count(b"Authentication-Results: mx.v.test;") == 1, "%s: ours %r" %
                  (delivery, got[:400]))
            check(got.startswith(b"Authentication-Results: mx.v.test;\r\n\tarc=none"),
                  "%s: not ours first: %r" % (delivery, got[:200]))
            check(b"mx.v.test; arc=pass" not in got, "%s: forged one kept" % delivery)
            check(b"Authentication-Results: other.example; dkim=pass\r\n" in got,
                  "%s: other id dropped" % delivery)
            check(got.endswith(MSG), "%s: rest of the message changed: %r" % (delivery, got))
            check(got.endswith(msg[body_at:]), "body")
        finally:
            check(px.stop() == 0, "exit status")
    # sealed over (sv): what was sealed is what was sent, the chain verifies
    sink.reset()
    px = vproxy(sink, mode="sv", seal_key=KEYS["b.dnsint.test"][0])
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], msg)
            c.quit()
        got = sink.last()["data"]
        check(b"mx.v.test; arc=pass" not in got and got.endswith(MSG), "sv: %r" % got[:600])
        rc, out = verify_dns(got)
        check(rc == 0 and out and out[0] == "arc=pass", "sv verify: %r %r" % (rc, out))
    finally:
        check(px.stop() == 0, "exit status")
    # the option off: kept
    sink.reset()
    px = vproxy(sink, extra="remove_own_authres: false\n")
    try:
        with px.conv() as c:
            c.ehlo()
            c.send_message("a@example.org", ["b@example.net"], msg)
            c.quit()
        got = sink.last()["data"]
        check(got.endswith(msg) and got.count(b"Authentication-Results: mx.v.test;") == 2,
              "option off: %r" % got[:400])
    finally:
        check(px.stop() == 0, "exit status")


def t_timeout_then_reload(sink):
    """A server that never answers: temperror after dns.lookup_timeout (451). SIGHUP with
    dns.servers changed to unbound makes a new resolver: the message now passes; a SIGHUP
    that changes nothing of dns.* keeps the resolver and its cache (no new query)."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    msg = seal("a.dnsint.test", "s1", MSG)
    base = "mode: v\nauthserv_id: mx.v.test\n"
    px = Proxy(sink.port, config=base + 'dns:\n  servers: ["127.0.0.1:%d"]\n  timeout: 300ms\n'
               '  attempts: 1\n  lookup_timeout: 1s\n' % silent.getsockname()[1])
    path = os.path.join(tp.WORK, "arcproxy-%d.yaml" % px.port)
    head = open(path).read().split("mode: v")[0]
    try:
        with px.conv() as c:
            c.ehlo()
            t0 = time.monotonic()
            c.send_message("a@example.org", ["b@example.net"], msg, final="451")
            check(time.monotonic() - t0 < 10, "no bound on the lookup")
            c.quit()
        with open(path, "w") as f:
            f.write(head + base + dns_conf())
        px.p.send_signal(signal.SIGHUP)
        check(wait_until(lambda: "new resolver" in px.text(), 10), "no new resolver: " +
              px.text()[-500:])
        n0 = server_count("s1._domainkey.a.dnsint.test")
        for i in range(2):
            sink.reset()
            with px.conv() as c:
                c.ehlo()
                c.send_message("a@example.org", ["b@example.net"], msg)
                c.quit()
            check(sink.last()["data"].startswith(b"Authentication-Results: mx.v.test;\r\n"
                                                 b"\tarc=pass (i=1)"), "after reload: %r" %
                  sink.last()["data"][:100])
            if i == 0:  # the same dns.* again: the resolver (and its cache) stays
                px.p.send_signal(signal.SIGHUP)
                check(wait_until(lambda: px.text().count("configuration reloaded") == 2, 10),
                      "second reload")
        check(px.text().count("new resolver") == 1, "resolver replaced without a change")
        check(server_count("s1._domainkey.a.dnsint.test") - n0 == 1, "cache lost at reload")
    finally:
        silent.close()
        check(px.stop() == 0, "exit status")


def main():
    if not tp.BIN or not os.access(tp.BIN, os.X_OK):
        print("usage: test_dnsproxy.py path/to/arcproxy")
        return 2
    if not find_unbound():
        print("unbound not installed (scripts/install-deps.sh installs it)")
        return 1 if os.environ.get("CI") == "true" else 77
    recs = b""
    for dom, sel in (("a.dnsint.test", "s1"), ("b.dnsint.test", "s2"), ("c.dnsint.test", "s1")):
        recs += keygen(dom, sel)[1]
    keygen("m.dnsint.test", "s1")    # not published: NXDOMAIN
    keygen("f.servfail.test", "s1")  # in the zone unbound cannot reach: SERVFAIL
    try:
        start_unbound({"dnsint.test": recs})
        with Sink() as sink:
            for name, fn in [("pass_verified_from_dns_and_sealed", t_pass_and_sealed),
                             ("servfail_451_proxy_and_queue", t_servfail_451),
                             ("servfail_on_temperror_pass", t_servfail_pass),
                             ("nxdomain_fail_delivered", t_nxdomain_fail),
                             ("loop_responsive_while_lookup_hangs", t_loop_responsive),
                             ("cache_100_messages_1_query", t_cache_100),
                             ("timeout_451_then_reload_new_servers", t_timeout_then_reload),
                             ("own_authres_removed", t_authres_removed)]:
                sink.reset()
                run(name, fn, sink)
    finally:
        stop_unbound()
    return tp.finish_run()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mta_e2e.py - what the end-to-end tests behind a real MTA share (tests/postfix, tests/exim).

    from mta_e2e import E2E
    t = E2E(bin_path, workdir)          # results, key, zone, arcproxy processes
    t.check(name, cond, detail)         # one "ok"/"FAILED" line, counted
    ports = free_ports(n)               # loopback ports free right now
    wait_listen(port, timeout, proc)    # True once 127.0.0.1:port accepts
    t.make_key()                        # arcproxy keygen -> t.key, t.zone (False on failure)
    t.start_arcproxy(listen, downstream, tag)  # generated YAML config, `arcproxy -c`; a Popen
    t.stop_arcproxy(proc)               # SIGTERM, bounded wait, SIGKILL; the exit status
    message(i, tag)                     # (Message-ID, bytes) of a test message with 8-bit body
    submit(port, msgs, ...)             # send over SMTP from 127.0.0.2; exception or None
    t.check_sealed(rec, sent, remote_ip, layout)  # the per-message checks, both oracles
    t.finish()                          # "N passed, N failed"; the exit status

Only processes started here are signalled, by PID; every wait is bounded. The oracles are
dkimpy (Debian's /usr/bin/python3, tests run it in a child) and `arcproxy verify`, both with
the zone file that `arcproxy keygen` printed, so nothing queries DNS.
"""

import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import traceback

SEAL_DOMAIN = "arc.e2e.test"
SELECTOR = "e2e1"
AUTHSERV = "mx.e2e.test"
CLIENT_IP = "127.0.0.2"
ARC_NAMES = {b"arc-seal", b"arc-message-signature", b"arc-authentication-results"}


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_listen(port, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_until(pred, timeout, step=0.2):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
    except OSError as e:
        return str(e)


def message(i, tag):
    """(Message-ID, message bytes): a small message with an 8-bit body and a leading dot."""
    mid = "<%s-%d-%d@client.e2e.test>" % (tag, os.getpid(), i)
    body = ("From: Alice <alice@client.e2e.test>\r\nTo: bob@far.e2e.test\r\n"
            "Subject: %s e2e %d\r\nMessage-ID: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            "Hello %d.\r\n8-bit: gr\u00fc\u00dfe\r\n.leading dot\r\n"
            % (tag, i, mid, i)).encode("utf-8")
    return mid, body


def submit(port, msgs, source=CLIENT_IP):
    """Send [(mid, bytes)] in one SMTP session from `source` to 127.0.0.1:port, one
    recipient each. Returns None, or the exception (smtplib's carry smtp_code)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, source_address=(source, 0),
                          local_hostname="client.e2e.test", timeout=60) as c:
            c.ehlo()
            for i, (mid, body) in enumerate(msgs):
                c.sendmail("alice@client.e2e.test", ["bob%d@far.e2e.test" % i], body,
                           mail_options=["BODY=8BITMIME"])
            c.quit()
        return None
    except (OSError, smtplib.SMTPException) as e:
        return e


def smtp_code(exc):
    """The SMTP reply code an smtplib exception carries (first recipient's for
    SMTPRecipientsRefused), or None."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        for code, _ in exc.recipients.values():
            return code
        return None
    return getattr(exc, "smtp_code", None)


def header_fields(data):
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def instance_one(fields):
    """True if the one ARC-Seal has the tag i=1 (tags in any order)."""
    seals = [f for f in fields if f.lower().startswith(b"arc-seal:")]
    if len(seals) != 1:
        return False
    tags = re.sub(rb"\s+", b"", seals[0].split(b":", 1)[1]).split(b";")
    return b"i=1" in tags


def message_id(data):
    m = re.search(rb"(?im)^Message-ID:\s*(<[^>]+>)", data)
    return m.group(1).decode() if m else "?"


DKIMPY = r"""
import re, sys, dkim
recs = {}
text = open(sys.argv[1]).read()
for m in re.finditer(r'(\S+)\s+IN\s+TXT\s+\(([^)]*)\)', text):
    recs[m.group(1).lower().encode()] = "".join(re.findall(r'"([^"]*)"', m.group(2))).encode()
def dnsfunc(name, timeout=5):
    if isinstance(name, str):
        name = name.encode()
    name = name.lower()
    if not name.endswith(b"."):
        name += b"."
    return recs.get(name)
cv, results, reason = dkim.arc_verify(sys.stdin.buffer.read(), dnsfunc=dnsfunc)
print(cv.decode() if isinstance(cv, bytes) else cv, reason)
"""


class E2E:
    def __init__(self, bin_path, work):
        self.bin = os.path.abspath(bin_path)
        self.work = os.path.abspath(work)
        self.results = []
        self.key = None
        self.zone = None
        self.nconf = 0

    def check(self, name, cond, detail=""):
        self.results.append(bool(cond))
        if cond:
            print("ok      %s" % name, flush=True)
        else:
            print("FAILED  %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return bool(cond)

    def finish(self):
        passed = sum(self.results)
        failed = len(self.results) - passed
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed or not passed else 0

    def run(self, main, cleanup=None):
        """Run main(); an unexpected exception is a failure (cleanup() then stops what main's
        own finally could not); exit with the result."""
        try:
            main()
        except Exception:  # noqa: BLE001
            self.results.append(False)
            print("FAILED  unexpected error: %s" % traceback.format_exc()[-3000:], flush=True)
            if cleanup is not None:
                cleanup()
        sys.exit(self.finish())

    def end(self, px, sink):
        """The common end of a run: arcproxy stopped (exit 0 on SIGTERM checked), then the
        sink."""
        if px is not None:
            self.check("arcproxy exited 0 on SIGTERM", self.stop_arcproxy(px) == 0,
                       tail(os.path.join(self.work, "arcproxy-back.log")))
        sink.stop()

    # ---- arcproxy --------------------------------------------------------------------------

    def make_key(self):
        kdir = os.path.join(self.work, "keys")
        os.makedirs(kdir, exist_ok=True)
        kg = subprocess.run([self.bin, "keygen", "-d", SEAL_DOMAIN, "-s", SELECTOR, "--out",
                             kdir], capture_output=True, timeout=60)
        if not self.check("arcproxy keygen", kg.returncode == 0 and b"IN TXT" in kg.stdout,
                          kg.stderr.decode()):
            return False
        self.zone = os.path.join(self.work, "zone")
        with open(self.zone, "wb") as f:
            f.write(kg.stdout)
        self.key = os.path.join(kdir, SELECTOR + ".private")
        return True

    def arcproxy_config(self, listen_port, downstream_port):
        """Write a YAML config for `arcproxy -c` (mode sv, the test key and zone); its path."""
        self.nconf += 1
        path = os.path.join(self.work, "arcproxy-%d.yaml" % self.nconf)
        text = """\
# generated by tests/deploy/mta_e2e.py
listen:
  - "127.0.0.1:{lp}"
downstream:
  address: "127.0.0.1:{dp}"
  connect_timeout: 10s
delivery: proxy
mode: sv
authserv_id: "{auth}"
hostname: "arcproxy.e2e.test"
xforward_hosts:
  - "127.0.0.0/8"
keys:
  domain: "{dom}"
  selector: "{sel}"
  key_file: "{key}"
dns:
  zone_file: "{zone}"
spool_dir: "{spool}"
# the tests run as root and keep it (no user switch)
allow_root: true
""".format(lp=listen_port, dp=downstream_port, auth=AUTHSERV, dom=SEAL_DOMAIN, sel=SELECTOR,
           key=self.key, zone=self.zone, spool=os.path.join(self.work, "spool"))
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_arcproxy(self, listen_port, downstream_port, tag="arcproxy"):
        """arcproxy -c CONFIG listening on 127.0.0.1:listen_port, re-injecting to
        127.0.0.1:downstream_port; the Popen (its log: WORK/TAG.log), or None if it did not
        come up."""
        conf = self.arcproxy_config(listen_port, downstream_port)
        log = os.path.join(self.work, tag + ".log")
        chk = subprocess.run([self.bin, "-c", conf, "--check-config"], capture_output=True,
                             timeout=30)
        if not self.check("arcproxy -c %s --check-config" % os.path.basename(conf),
                          chk.returncode == 0, chk.stderr.decode()[-1000:]):
            return None
        with open(log, "ab") as logf:
            px = subprocess.Popen([self.bin, "-c", conf], stdout=logf, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        if not self.check("%s listens on 127.0.0.1:%d (downstream :%d)"
                          % (tag, listen_port, downstream_port),
                          wait_listen(listen_port, 15, px), tail(log)):
            self.stop_arcproxy(px)
            return None
        return px

    @staticmethod
    def stop_arcproxy(px):
        if px is None:
            return None
        if px.poll() is None:
            px.send_signal(signal.SIGTERM)
            try:
                px.wait(30)
            except subprocess.TimeoutExpired:
                px.kill()
                px.wait(5)
        return px.returncode

    # ---- the oracles -----------------------------------------------------------------------

    def dkimpy_verify(self, data):
        r = subprocess.run(["/usr/bin/python3", "-c", DKIMPY, self.zone], input=data,
                           capture_output=True, timeout=60)
        return r.returncode, r.stdout.decode("utf-8", "replace").strip(), r.stderr.decode()[-500:]

    def arcproxy_verify(self, data):
        r = subprocess.run([self.bin, "verify", "--dns-zone", self.zone], input=data,
                           capture_output=True, timeout=60)
        return r.returncode, r.stdout.decode("utf-8", "replace").splitlines()

    def check_sealed(self, rec, sent, remote_ip, received_above=1, received_below=1):
        """The checks on one message as the sink got it: one ARC set i=1 (and at most an
        Authentication-Results) added by arcproxy, with `received_above` Received fields
        above it (the MTA's return listener) and `received_below` between it and the
        original fields; AAR names remote_ip (None: names no address); dkimpy and `arcproxy verify` say pass; the
        original message is kept byte-exact. Returns the Message-ID."""
        data = rec["data"]
        mid = message_id(data)
        fields = header_fields(data)
        names = [f.split(b":", 1)[0].lower() for f in fields]
        try:
            first_orig = names.index(b"from")
        except ValueError:
            first_orig = len(names)
        top = names[:first_orig]
        added = top[received_above:len(top) - received_below]
        layout = (len(top) == received_above + received_below + len(added)
                  and all(n == b"received" for n in top[:received_above])
                  and all(n == b"received" for n in top[len(top) - received_below:])
                  and ARC_NAMES <= set(added)
                  and set(added) <= ARC_NAMES | {b"authentication-results"}
                  and sum(1 for n in names if n in ARC_NAMES) == 3)
        self.check("%s: ARC set i=1 where expected (%s)"
                   % (mid, ",".join(n.decode() for n in top)),
                   layout and instance_one(fields), repr(data[:700]))
        aar = [f for f in fields if f.lower().startswith(b"arc-authentication-results:")]
        aar = aar[0].decode("utf-8", "replace") if aar else ""
        if remote_ip is None:  # no XFORWARD: arcproxy must not claim the MTA's address
            ip_ok, ip_text = "smtp.remote-ip" not in aar, "no smtp.remote-ip"
        else:
            ip_ok, ip_text = ("smtp.remote-ip=%s" % remote_ip) in aar, "smtp.remote-ip=" + remote_ip
        self.check("%s: AAR %s, arc=none" % (mid, ip_text),
                   ip_ok and "arc=none" in aar and AUTHSERV in aar, aar)
        rc, out, err = self.dkimpy_verify(data)
        self.check("%s: dkimpy arc_verify pass" % mid, rc == 0 and out.split()[:1] == ["pass"],
                   "%s %s" % (out, err))
        rc, out = self.arcproxy_verify(data)
        self.check("%s: arcproxy verify arc=pass" % mid, rc == 0 and out[:1] == ["arc=pass"],
                   repr(out))
        body = sent.get(mid)
        self.check("%s: original message kept (body and header fields byte-exact)" % mid,
                   body is not None and data.endswith(body), repr(data[-200:]))
        return mid

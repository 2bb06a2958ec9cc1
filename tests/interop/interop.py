#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""ARC interop tests: arcproxy against dkimpy (python3-dkim) and mailauth (npm, 4.6.9).

Usage: /usr/bin/python3 interop.py --arcproxy PATH [--oracles-only] [--keep] [--only ID,...]

At run time it generates RSA keys (1024..4096 bits; some with `arcproxy keygen`, some with
openssl), writes them to a BIND zone file (read by arcproxy --dns-zone) and to a JSON map
(read by the two oracle drivers), builds ARC chains with the three sealers and checks every
verdict against the two oracles. One line per case; the last line is `N passed, N failed`.
Exit 0 when nothing failed, 1 otherwise, 77 when an oracle is not installed.

Failed cases leave their messages, keys and verdicts under /tmp/interop-failures/<case>/.
See docs/interop.md.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

SKIP = 77
FAIL_DIR = "/tmp/interop-failures"
SKIP_DIR = "/tmp/interop-skips"
NOW = int(time.time()) - 60

# ---------------------------------------------------------------------------------------------
# message helpers (bytes in, bytes out; the line ending of the message is kept)


def nl_of(msg):
    return b"\r\n" if (b"\r\n" in msg or b"\n" not in msg) else b"\n"


def split(msg):
    """(fields, blank, body): fields are whole header fields with their folding and line ends;
    blank is the empty line ending the header section (b'' when there is none)."""
    fields, pos = [], 0
    while pos < len(msg):
        end = msg.find(b"\n", pos)
        end = len(msg) if end < 0 else end + 1
        line = msg[pos:end]
        if line in (b"\r\n", b"\n"):
            return fields, line, msg[end:]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = end
    return fields, b"", b""


def join(fields, blank, body):
    return b"".join(fields) + blank + body


def fname(field):
    return field.split(b":", 1)[0].strip().lower()


def finst(field):
    m = re.search(rb"(?:^|[;:\s])i\s*=\s*(\d+)", field.split(b":", 1)[1] if b":" in field else b"")
    return int(m.group(1)) if m else None


ARC_NAMES = (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")


def arc_instances(msg):
    fields, _, _ = split(msg)
    return sorted({finst(f) for f in fields if fname(f) in ARC_NAMES and finst(f)})


def build(headers, body, nl=b"\r\n", blank=True):
    """headers: list of str/bytes, each one field (use \\n inside for folding)."""
    out = b""
    for h in headers:
        h = h.encode("utf-8") if isinstance(h, str) else h
        out += h.replace(b"\n", nl) + nl
    if blank:
        out += nl
    body = body.encode("utf-8") if isinstance(body, str) else body
    return out + body.replace(b"\r\n", b"\n").replace(b"\n", nl)


def add_authres(msg, srvid, cv):
    return b"Authentication-Results: %s; arc=%s%s" % (srvid.encode(), cv.encode(), nl_of(msg)) + msg


# forwarder-style edits (a mailing list): made after the hop verified, before it seals


def edit_subject(msg):
    fields, blank, body = split(msg)
    for k, f in enumerate(fields):
        if fname(f) == b"subject":
            m = re.match(rb"(?i)subject:[ \t]*", f)
            fields[k] = f[: m.end()] + b"[list] " + f[m.end():]
            break
    return join(fields, blank, body)


def edit_footer(msg):
    nl = nl_of(msg)
    fields, blank, body = split(msg)
    if not blank:
        blank = nl
    if body and not body.endswith(b"\n"):
        body += nl
    body += b"-- " + nl + b"Test list: to leave, write to leave@lists.example" + nl
    return join(fields, blank, body)


def edit_listhdrs(msg):
    nl = nl_of(msg)
    fields, blank, body = split(msg)
    fields.append(b"List-Id: Interop test list <test.lists.example>" + nl)
    fields.append(b"List-Unsubscribe: <mailto:leave@lists.example>," + nl +
                  b" <https://lists.example/leave>" + nl)
    return join(fields, blank, body)


EDITS = {"subject": edit_subject, "footer": edit_footer, "listhdrs": edit_listhdrs}


def apply_edits(msg, edits):
    for e in (["subject", "footer", "listhdrs"] if edits == "all" else edits or []):
        msg = EDITS[e](msg)
    return msg


# tampering after the last seal


def tamper_header(msg, name):
    fields, blank, body = split(msg)
    for k, f in enumerate(fields):
        if fname(f) == name.lower().encode():
            eol = b"\r\n" if f.endswith(b"\r\n") else b"\n"
            fields[k] = f[: -len(eol)] + b" (altered)" + eol
            return join(fields, blank, body)
    raise AssertionError("no %s field to tamper with" % name)


def tamper_body(msg):
    fields, blank, body = split(msg)
    nl = nl_of(msg)
    body = body.replace(b"test", b"TEST", 1) if b"test" in body else body + b"appended" + nl
    return join(fields, blank or nl, body)


def tamper_arc(msg, name, inst, what):
    """what: 'b' flips one character of the b= value; 'cv' changes cv=; 'text' edits the AAR."""
    fields, blank, body = split(msg)
    for k, f in enumerate(fields):
        if fname(f) == name.lower().encode() and finst(f) == inst:
            if what == "b":
                m = re.search(rb"[;\s]b=\s*([A-Za-z0-9+/])", f)
                p = m.start(1)
                fields[k] = f[:p] + (b"B" if f[p:p + 1] == b"A" else b"A") + f[p + 1:]
            elif what == "cv":
                fields[k] = re.sub(rb"cv=pass", b"cv=none", f, count=1)
            else:
                fields[k] = f.replace(b"arc=", b"arc=pass (forged) arc=", 1) if b"arc=" in f \
                    else f.replace(b";", b"; x-forged=1;", 1)
            return join(fields, blank, body)
    raise AssertionError("no %s i=%d" % (name, inst))


def drop_arc(msg, name, inst):
    fields, blank, body = split(msg)
    keep = [f for f in fields if not (fname(f) == name.lower().encode() and finst(f) == inst)]
    assert len(keep) == len(fields) - 1
    return join(keep, blank, body)


def reorder_sets_ascending(msg):
    """ARC fields grouped by instance with i=1 on top (sealers prepend, so i=N is on top)."""
    fields, blank, body = split(msg)
    arc = [f for f in fields if fname(f) in ARC_NAMES]
    rest = [f for f in fields if fname(f) not in ARC_NAMES]
    arc.sort(key=lambda f: finst(f))
    return join(arc + rest, blank, body)


def nospace_arc(msg):
    """`ARC-Seal:i=2;` as kernel.org's relays write it: no space after the ARC fields' colon."""
    fields, blank, body = split(msg)
    fields = [re.sub(rb"^(ARC-[A-Za-z-]+):[ \t]+", rb"\1:", f) for f in fields]
    return join(fields, blank, body)


# ---------------------------------------------------------------------------------------------
# the three implementations


class Verdict:
    def __init__(self, cv, oldest=None, detail="", results=None):
        self.cv, self.oldest, self.detail, self.results = cv, oldest, detail, results

    def __repr__(self):
        return self.cv


class CaseFail(Exception):
    pass


class CaseSkip(Exception):
    pass


class MailauthServer:
    def __init__(self, node):
        self.p = subprocess.Popen([node, os.path.join(HERE, "mailauth_oracle.js"), "serve"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=HERE)
        self.lock = threading.Lock()

    def call(self, req):
        with self.lock:
            self.p.stdin.write((json.dumps(req) + "\n").encode())
            self.p.stdin.flush()
            line = self.p.stdout.readline()
        if not line:
            err = self.p.stderr.read().decode(errors="replace")
            raise RuntimeError("mailauth oracle died: " + err[-2000:])
        return json.loads(line)

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=10)
        except Exception:
            self.p.kill()


class Env:
    def __init__(self, args, work):
        self.args, self.work = args, work
        self.arcproxy = args.arcproxy
        self.oracles_only = args.oracles_only
        self.zone = os.path.join(work, "keys.zone")
        self.zjson = os.path.join(work, "keys.json")
        self.keys = {}  # name -> dict(domain, selector, bits, pem, origin)
        self.txt = {}   # owner name (no trailing dot) -> TXT record
        self.zone_lines = ["$TTL 300"]
        self.mailauth = None
        self.tmpn = 0

    @property
    def sealers(self):
        return ["dkimpy", "mailauth"] if self.oracles_only else ["arcproxy", "dkimpy", "mailauth"]

    @property
    def verifiers(self):
        return ["dkimpy", "mailauth"] if self.oracles_only else ["dkimpy", "mailauth", "arcproxy"]

    def tmpfile(self, data, suffix=".eml"):
        self.tmpn += 1
        p = os.path.join(self.work, "tmp", "%05d%s" % (self.tmpn, suffix))
        with open(p, "wb") as f:
            f.write(data)
        return p

    # --- sealing -------------------------------------------------------------------------
    def seal(self, who, msg, key, srvid, cv_from_authres=False, headers=None):
        k = self.keys[key]
        if who == "arcproxy":
            cmd = [self.arcproxy, "seal", "-d", k["domain"], "-s", k["selector"], "-k", k["pem"],
                   "--authserv-id", srvid, "--dns-zone", self.zone, "--time", str(NOW)]
            if cv_from_authres:
                cmd.append("--cv-from-authres")
            if headers:
                cmd += ["--headers", headers]
            cmd.append(self.tmpfile(msg))
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            if r.returncode != 0:
                raise CaseFail("arcproxy seal exit %d: %s" % (r.returncode,
                               r.stderr.decode(errors="replace").strip()[:300]))
            return r.stdout
        if who == "dkimpy":
            import dkimpy_oracle
            with open(k["pem"], "rb") as f:
                pem = f.read()
            hl = headers.split(":") if headers else None
            return dkimpy_oracle.sign(msg, self.txt, pem, k["domain"], k["selector"], srvid,
                                      timestamp=NOW, include_headers=hl)
        if who == "mailauth":
            out = self.tmpfile(b"", ".out")
            ans = self.mailauth.call({"op": "sign", "file": self.tmpfile(msg), "zone": self.zjson,
                                      "key": k["pem"], "domain": k["domain"],
                                      "selector": k["selector"], "srvid": srvid, "time": NOW,
                                      "out": out})
            if not ans.get("ok"):
                raise CaseFail("mailauth seal: " + ans.get("error", "?")[:500])
            with open(out, "rb") as f:
                return f.read()
        raise ValueError(who)

    # --- verifying -----------------------------------------------------------------------
    def verify(self, who, msg):
        if who == "arcproxy":
            cmd = [self.arcproxy, "verify", "--dns-zone", self.zone, self.tmpfile(msg)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            out = r.stdout.decode(errors="replace")
            first = out.split("\n", 1)[0].strip()
            m = re.match(r"arc=(pass|fail|none|temperror|permerror)\b", first)
            if not m:
                return Verdict("bad-output", detail="exit %d, stdout %r, stderr %r" % (
                    r.returncode, out[:200], r.stderr.decode(errors="replace")[:200]))
            cv = m.group(1)
            want_rc = {"pass": 0, "none": 0, "fail": 1, "permerror": 1, "temperror": 75}[cv]
            if r.returncode != want_rc:
                return Verdict("bad-exit", detail="arc=%s but exit %d (want %d)" % (
                    cv, r.returncode, want_rc))
            om = re.search(r"oldest[-_ ]?pass\s*[=:]\s*(\d+)", out, re.I)
            return Verdict(cv, oldest=int(om.group(1)) if om else None,
                           detail=" ".join(out.split())[:200])
        if who == "dkimpy":
            import dkimpy_oracle
            try:
                cv, reason, results = dkimpy_oracle.verify(msg, self.txt)
            except Exception as exc:  # dkimpy's known crashes (ORACLES.md)
                return Verdict("crash", detail="%s: %s" % (type(exc).__name__, exc))
            return Verdict(cv, oldest=dkimpy_oracle.oldest_pass(results) if cv == "pass" else None,
                           detail=reason, results=results)
        if who == "mailauth":
            ans = self.mailauth.call({"op": "verify", "file": self.tmpfile(msg),
                                      "zone": self.zjson})
            if not ans.get("ok"):
                return Verdict("crash", detail=ans.get("error", "?")[:300])
            return Verdict(ans["cv"], detail=ans.get("comment", ""))
        raise ValueError(who)


# ---------------------------------------------------------------------------------------------
# cases


class Case:
    def __init__(self, env, cid, title):
        self.env, self.cid, self.title = env, cid, title
        self.dir = os.path.join(env.work, "cases", cid)
        os.makedirs(self.dir, exist_ok=True)
        self.n = 0
        self.log = []
        self.notes = []
        self.known = {}  # oracle -> [note, verdicts it gave]

    def save(self, label, msg):
        self.n += 1
        p = os.path.join(self.dir, "%02d-%s.eml" % (self.n, re.sub(r"[^A-Za-z0-9_.-]", "_", label)))
        with open(p, "wb") as f:
            f.write(msg)
        return p

    def hop(self, msg, sealer, key, edits=None, srvid=None, headers=None):
        """One relay: seals msg with `sealer`. With edits (a mailing list), the relay first
        verifies with its own implementation and records `arc=<cv>` in an Authentication-Results
        field, then edits, then seals with that cv (arcproxy: --cv-from-authres)."""
        i = (max(arc_instances(msg)) if arc_instances(msg) else 0) + 1
        srvid = srvid or "hop%d.%s" % (i, self.env.keys[key]["domain"])
        if edits:
            v = self.env.verify(sealer, msg)
            if v.cv in ("crash", "bad-output", "bad-exit"):
                raise CaseFail("%s could not verify before editing: %s" % (sealer, v.detail))
            msg = add_authres(msg, srvid, v.cv)
            msg = apply_edits(msg, edits)
            self.save("i%d-edited-by-%s" % (i, sealer), msg)
            out = self.env.seal(sealer, msg, key, srvid, cv_from_authres=True, headers=headers)
        else:
            out = self.env.seal(sealer, msg, key, srvid, headers=headers)
        self.save("i%d-sealed-by-%s-%s" % (i, sealer, key), out)
        if not out.endswith(msg):
            raise CaseFail("%s changed the message below its new fields" % sealer)
        if b"\r" not in msg and b"\r" in out:
            raise CaseFail("%s put CR into an LF-only message" % sealer)
        got = arc_instances(out)
        if not got or max(got) != i:
            raise CaseFail("%s sealed i=%d but the result carries instances %s" % (sealer, i, got))
        return out

    def check(self, msg, expect, label="", known=None, rfc=None, who=None, oldest=None):
        """Verify msg with every verifier. The two oracles must agree (else: skip, naming the
        RFC 8617 section that decides); their verdict must be `expect` (when given); arcproxy
        must give the same verdict. known = {oracle: note}: a documented fault, its verdict
        is ignored (and noted)."""
        env = self.env
        known = known or {}
        who = who or env.verifiers
        v = {w: env.verify(w, msg) for w in who}
        p = self.save("check-%s" % (label or "final"), msg)
        line = " ".join("%s=%s" % (w, v[w].cv) for w in who)
        self.log.append("%s: %s  [%s]" % (label or "final", line, os.path.basename(p)))
        for w in who:
            self.log.append("    %s: %s" % (w, v[w].detail))
        oracles = [w for w in ("dkimpy", "mailauth") if w in who and w not in known]
        for w, note in known.items():
            if w in v:
                self.known.setdefault(w, [note, []])[1].append(v[w].cv)
        verdicts = {v[w].cv for w in oracles}
        if len(verdicts) > 1:
            if "arcproxy" in v and expect and v["arcproxy"].cv != expect:
                raise CaseFail("%s: oracles disagree (%s); arcproxy says %s but RFC 8617 %s "
                               "gives %s" % (label or "final", line, v["arcproxy"].cv,
                                             rfc or "section 5.2", expect))
            raise CaseSkip("oracles disagree at %s (%s); RFC 8617 %s decides" % (
                label or "final", line, rfc or "section 5.2"))
        consensus = verdicts.pop() if verdicts else expect
        if expect and consensus != expect:
            raise CaseFail("%s: oracles say %s, expected %s (%s)" % (label or "final", consensus,
                                                                     expect, line))
        if "arcproxy" in v:
            ap = v["arcproxy"]
            ok = ap.cv == consensus or (consensus == "fail" and ap.cv == "permerror")
            if not ok:
                raise CaseFail("%s: arcproxy says %s, oracles %s (%s) %s" % (
                    label or "final", ap.cv, consensus, line, ap.detail))
            if ap.cv == "permerror":
                self.notes.append("arcproxy said permerror where the oracles say fail")
            if consensus == "pass" and oldest is not False:
                self.check_oldest(v, oldest)
        return v

    def check_oldest(self, v, expected):
        """arcproxy's oldest-pass against RFC 8617 section 5.2 step 5 as computed from dkimpy's
        per-instance AMS results (or the case's own expectation); 0 when all AMSs validate
        (RFC 8617 section 7, docs/cli.md)."""
        ap = v["arcproxy"]
        if ap.oldest is None:
            raise CaseFail("arcproxy verify printed no 'oldest-pass: N' line (docs/cli.md)")
        if expected is None and "dkimpy" in v and v["dkimpy"].cv == "pass":
            expected = v["dkimpy"].oldest
        if expected is None:
            return
        if ap.oldest != expected:
            raise CaseFail("arcproxy oldest-pass=%d, expected %d (RFC 8617 section 5.2 step 5)"
                           % (ap.oldest, expected))
        self.log.append("    oldest-pass: arcproxy %d, expected %d" % (ap.oldest, expected))


CASES = []


def case(cid, title, needs_arcproxy=False):
    def deco(fn):
        CASES.append((cid, title, needs_arcproxy, fn))
        return fn
    return deco


def base_msg(cid, nl=b"\r\n", extra=(), body=None, subject=None):
    hdrs = ["From: Alice Example <alice@origin.example>",
            "To: Bob Example <bob@dest.example>",
            "Subject: %s" % (subject or "Interop test %s" % cid),
            "Date: Thu, 01 Feb 2024 10:00:00 +0000",
            "Message-ID: <%s.%d@origin.example>" % (cid, NOW),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii"] + list(extra)
    if body is None:
        body = "Hello Bob,\n\nthis is a test message for %s.\n\nAlice\n" % cid
    return build(hdrs, body, nl)


def run_chain(c, msg, plan, expect_each="pass", known_each=None):
    """plan: list of (sealer, key, edits). Verifies after every hop."""
    for n, (sealer, key, edits) in enumerate(plan, 1):
        msg = c.hop(msg, sealer, key, edits=edits)
        c.check(msg, expect_each, label="after-i%d" % n, known=known_each)
    return msg


# --- K: keys ---------------------------------------------------------------------------------

@case("K1", "arcproxy keygen rsa-2048: PEM 0600, TXT line matches the private key",
      needs_arcproxy=True)
def k1(c):
    check_keygen(c, "r2048")


@case("K2", "arcproxy keygen rsa-4096: PEM 0600, TXT line matches the private key",
      needs_arcproxy=True)
def k2(c):
    check_keygen(c, "r4096")


def check_keygen(c, key):
    k = c.env.keys[key]
    if k["origin"] != "arcproxy":
        raise CaseFail("arcproxy keygen failed earlier: %s" % k.get("keygen_error", "?"))
    st = os.stat(k["pem"])
    if st.st_mode & 0o777 != 0o600:
        raise CaseFail("%s has mode %o, want 600" % (k["pem"], st.st_mode & 0o777))
    bits = key_bits(k["pem"])
    if bits != k["bits"]:
        raise CaseFail("key has %s bits, want %d" % (bits, k["bits"]))
    rec = c.env.txt["%s._domainkey.%s" % (k["selector"], k["domain"])]
    tags = dict(t.strip().split("=", 1) for t in rec.split(";") if "=" in t)
    if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa") != "rsa":
        raise CaseFail("TXT record tags: %r" % rec)
    if tags.get("p", "").replace(" ", "") != pubkey_b64(k["pem"]):
        raise CaseFail("p= of the TXT record is not the public half of %s" % k["pem"])
    c.log.append("TXT: " + k["zone_line"])


# --- A: our seals, verified by the oracles ------------------------------------------------------

def _a_single(key):
    def fn(c):
        msg = c.hop(base_msg(c.cid), "arcproxy", key)
        c.check(msg, "pass")
    return fn


for _n, _k in enumerate(["r1024", "r2048", "r3072", "r4096"], 1):
    case("A%d" % _n, "arcproxy seals i=1 with rsa-%s" % _k[1:], needs_arcproxy=True)(_a_single(_k))


@case("A5", "arcproxy seals i=2 over a dkimpy i=1", needs_arcproxy=True)
def a5(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r2048b", None), ("arcproxy", "r2048", None)])


@case("A6", "arcproxy seals i=2 over a mailauth i=1", needs_arcproxy=True)
def a6(c):
    run_chain(c, base_msg(c.cid), [("mailauth", "r3072", None), ("arcproxy", "r1024", None)])


@case("A7", "arcproxy seals i=3 over dkimpy+mailauth", needs_arcproxy=True)
def a7(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r1024", None), ("mailauth", "r2048b", None),
                                   ("arcproxy", "r4096", None)])


@case("A8", "arcproxy seal --headers from:to:subject:date:message-id", needs_arcproxy=True)
def a8(c):
    msg = c.hop(base_msg(c.cid), "dkimpy", "r1024")
    msg = c.hop(msg, "arcproxy", "r2048", headers="from:to:subject:date:message-id")
    fields, _, _ = split(msg)
    ams = [f for f in fields if fname(f) == b"arc-message-signature" and finst(f) == 2][0]
    h = re.search(rb"[;\s]h=([^;]*)", ams).group(1)
    names = [x.strip().lower() for x in re.sub(rb"\s+", b"", h).split(b":")]
    if set(names) - {b"from", b"to", b"subject", b"date", b"message-id"} or b"from" not in names:
        raise CaseFail("AMS h= is %r" % h)
    c.check(msg, "pass")


@case("A9", "arcproxy seals i=1, i=2, i=3 (arcproxy-only chain)", needs_arcproxy=True)
def a9(c):
    run_chain(c, base_msg(c.cid), [("arcproxy", "r1024", None), ("arcproxy", "r3072", None),
                                   ("arcproxy", "r2048b", None)])


@case("A10", "arcproxy as a mailing list (verify, edit all, seal --cv-from-authres)",
      needs_arcproxy=True)
def a10(c):
    msg = run_chain(c, base_msg(c.cid), [("mailauth", "r2048b", None),
                                         ("arcproxy", "r2048", "all")])
    v = c.check(msg, "pass", label="oldest-pass", oldest=2)
    del v


@case("A11", "arcproxy seal and verify read standard input", needs_arcproxy=True)
def a11(c):
    env = c.env
    k = env.keys["r3072"]
    msg = c.hop(base_msg(c.cid), "mailauth", "r1024")
    r = subprocess.run([env.arcproxy, "seal", "-d", k["domain"], "-s", k["selector"],
                        "-k", k["pem"], "--authserv-id", "stdin.three.example",
                        "--dns-zone", env.zone, "--time", str(NOW)], input=msg,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode:
        raise CaseFail("seal from stdin: exit %d %s" % (r.returncode,
                                                        r.stderr.decode(errors="replace")))
    c.save("sealed-from-stdin", r.stdout)
    v = subprocess.run([env.arcproxy, "verify", "--dns-zone", env.zone], input=r.stdout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if not v.stdout.startswith(b"arc=pass") or v.returncode:
        raise CaseFail("verify from stdin: %r exit %d" % (v.stdout[:100], v.returncode))
    c.check(r.stdout, "pass")


# --- B: oracle chains with forwarder edits, verified by arcproxy ------------------------------

@case("B1", "dkimpy -> [subject tag] dkimpy")
def b1(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r1024", None), ("dkimpy", "r2048b", ["subject"])])


@case("B2", "mailauth -> [footer] mailauth")
def b2(c):
    run_chain(c, base_msg(c.cid), [("mailauth", "r2048", None), ("mailauth", "r1024", ["footer"])])


@case("B3", "dkimpy -> [List-Id, List-Unsubscribe] mailauth")
def b3(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r3072", None), ("mailauth", "r2048b", ["listhdrs"])])


@case("B4", "mailauth -> [all edits] dkimpy")
def b4(c):
    run_chain(c, base_msg(c.cid), [("mailauth", "r1024", None), ("dkimpy", "r4096", "all")])


@case("B5", "dkimpy -> [subject] mailauth -> [footer] dkimpy -> mailauth")
def b5(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r2048", None), ("mailauth", "r2048b", ["subject"]),
                                   ("dkimpy", "r1024", ["footer"]), ("mailauth", "r3072", None)])


@case("B6", "mailauth -> dkimpy -> [all edits] mailauth: oldest-pass 3")
def b6(c):
    msg = run_chain(c, base_msg(c.cid), [("mailauth", "r1024", None), ("dkimpy", "r2048", None),
                                         ("mailauth", "r2048b", "all")])
    c.check(msg, "pass", label="oldest-pass", oldest=3)


@case("B7", "list edits the message before verifying: its own seal says cv=fail")
def b7(c):
    msg = c.hop(base_msg(c.cid), "dkimpy", "r2048")
    msg = apply_edits(msg, ["subject", "footer"])
    c.check(msg, "fail", label="edited-unsealed")
    msg = c.hop(msg, "mailauth", "r1024")  # verifies (fail) and seals cv=fail
    if b"cv=fail" not in msg:
        raise CaseFail("mailauth did not seal with cv=fail")
    c.check(msg, "fail", label="sealed-cv-fail")


@case("B8", "dkimpy -> [footer] dkimpy -> [subject] dkimpy (dkimpy-only, edits twice)")
def b8(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r1024", None), ("dkimpy", "r2048", ["footer"]),
                                   ("dkimpy", "r2048b", ["subject"])])


@case("B9", "mailauth -> [listhdrs] mailauth -> [subject, footer] mailauth")
def b9(c):
    run_chain(c, base_msg(c.cid), [("mailauth", "r3072", None), ("mailauth", "r1024", ["listhdrs"]),
                                   ("mailauth", "r2048", ["subject", "footer"])])


# --- C: mixed chains of 5+ hops, all three sealers -------------------------------------------

@case("C1", "5 hops: arcproxy, dkimpy, mailauth, arcproxy, dkimpy", needs_arcproxy=True)
def c1(c):
    run_chain(c, base_msg(c.cid), [("arcproxy", "r2048", None), ("dkimpy", "r1024", None),
                                   ("mailauth", "r3072", None), ("arcproxy", "r4096", None),
                                   ("dkimpy", "r2048b", None)])


@case("C2", "6 hops with list edits: mailauth, arcproxy*, dkimpy, mailauth*, arcproxy, dkimpy*",
      needs_arcproxy=True)
def c2(c):
    run_chain(c, base_msg(c.cid), [("mailauth", "r1024", None), ("arcproxy", "r2048", ["subject"]),
                                   ("dkimpy", "r3072", None), ("mailauth", "r2048b", ["footer"]),
                                   ("arcproxy", "r1024", None), ("dkimpy", "r2048", ["listhdrs"])])


@case("C3", "7 hops: dkimpy, arcproxy, mailauth*, dkimpy, arcproxy*, mailauth, arcproxy",
      needs_arcproxy=True)
def c3(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r2048b", None), ("arcproxy", "r1024", None),
                                   ("mailauth", "r2048", "all"), ("dkimpy", "r1024", None),
                                   ("arcproxy", "r3072", ["footer"]), ("mailauth", "r1024", None),
                                   ("arcproxy", "r2048b", None)])


@case("C4", "12 hops round-robin arcproxy, mailauth, dkimpy", needs_arcproxy=True)
def c4(c):
    sealers = ["arcproxy", "mailauth", "dkimpy"]
    plan = [(sealers[n % 3], ["r1024", "r2048"][n % 2], ["subject"] if n == 6 else None)
            for n in range(12)]
    msg = base_msg(c.cid)
    for n, (s, k, e) in enumerate(plan, 1):
        msg = c.hop(msg, s, k, edits=e)
        if n in (5, 12):
            c.check(msg, "pass", label="after-i%d" % n)


@case("C5", "6 hops dkimpy/mailauth alternating with edits (oracles only, arcproxy verifies)")
def c5(c):
    run_chain(c, base_msg(c.cid), [("dkimpy", "r1024", None), ("mailauth", "r2048", ["subject"]),
                                   ("dkimpy", "r2048b", None), ("mailauth", "r1024", ["footer"]),
                                   ("dkimpy", "r3072", ["listhdrs"]), ("mailauth", "r2048b", None)])


# --- D: negative cases ---------------------------------------------------------------------

def _chain3(c, first="arcproxy"):
    order = {"arcproxy": ["dkimpy", "mailauth", "arcproxy"],
             "dkimpy": ["mailauth", "arcproxy", "dkimpy"],
             "mailauth": ["arcproxy", "dkimpy", "mailauth"]}[first]
    if c.env.oracles_only:
        order = [s if s != "arcproxy" else ("dkimpy" if n % 2 else "mailauth")
                 for n, s in enumerate(order)]
    msg = base_msg(c.cid)
    for s, k in zip(order, ["r1024", "r2048b", "r2048"]):
        msg = c.hop(msg, s, k)
    c.check(msg, "pass", label="before-tamper")
    return msg


@case("D1", "arcproxy-sealed, Subject altered after the last seal", needs_arcproxy=True)
def d1(c):
    c.check(tamper_header(_chain3(c, "arcproxy"), "Subject"), "fail")


@case("D2", "arcproxy-sealed, body altered after the last seal", needs_arcproxy=True)
def d2(c):
    c.check(tamper_body(_chain3(c, "arcproxy")), "fail")


@case("D3", "dkimpy-sealed, body altered after the last seal")
def d3(c):
    c.check(tamper_body(_chain3(c, "dkimpy")), "fail")


@case("D4", "mailauth-sealed, From altered after the last seal")
def d4(c):
    c.check(tamper_header(_chain3(c, "mailauth"), "From"), "fail")


@case("D5", "ARC-Seal i=1 b= altered (older seal broken)")
def d5(c):
    c.check(tamper_arc(_chain3(c, "dkimpy"), "ARC-Seal", 1, "b"), "fail")


@case("D6", "last ARC-Authentication-Results altered (covered by the seal)")
def d6(c):
    msg = _chain3(c, "mailauth")
    c.check(tamper_arc(msg, "ARC-Authentication-Results", 3, "text"), "fail")


@case("D7", "ARC-Message-Signature i=2 removed (incomplete set)")
def d7(c):
    c.check(drop_arc(_chain3(c, "arcproxy"), "ARC-Message-Signature", 2), "fail",
            rfc="section 5.2 step 3 (structure)")


@case("D8", "ARC-Seal i=2 cv=pass changed to cv=none")
def d8(c):
    c.check(tamper_arc(_chain3(c, "dkimpy"), "ARC-Seal", 2, "cv"), "fail",
            rfc="section 5.2 step 3 (cv=none only at i=1)")


@case("D14", "ARC set i=2 duplicated")
def d14(c):
    msg = _chain3(c, "dkimpy")
    fields, blank, body = split(msg)
    dup = [f for f in fields if fname(f) in ARC_NAMES and finst(f) == 2]
    c.check(join(dup + fields, blank, body), "fail",
            rfc="section 5.2 step 3 (exactly one AAR, AMS and AS per instance)")


@case("D15", "ARC set i=2 removed whole (gap in the instances)")
def d15(c):
    msg = _chain3(c, "mailauth")
    fields, blank, body = split(msg)
    keep = [f for f in fields if not (fname(f) in ARC_NAMES and finst(f) == 2)]
    c.check(join(keep, blank, body), "fail", rfc="section 5.2 step 3 (instances 1..N, no gap)")


def _reseal_after_tamper(sealer):
    def fn(c):
        msg = tamper_body(_chain3(c, "mailauth"))
        c.check(msg, "fail", label="tampered")
        msg = c.hop(msg, sealer, "r3072")
        fields, _, _ = split(msg)
        top = [f for f in fields if fname(f) == b"arc-seal" and finst(f) == 4]
        if not top or not re.search(rb"cv\s*=\s*fail", top[0]):
            raise CaseFail("%s did not seal i=4 with cv=fail" % sealer)
        c.check(msg, "fail", label="resealed-cv-fail")
    return fn


case("D9", "tampered chain resealed by arcproxy: cv=fail, all fail",
     needs_arcproxy=True)(_reseal_after_tamper("arcproxy"))
case("D10", "tampered chain resealed by dkimpy: cv=fail, all fail")(
    _reseal_after_tamper("dkimpy"))
case("D11", "tampered chain resealed by mailauth: cv=fail, all fail")(
    _reseal_after_tamper("mailauth"))


@case("D12", "seal made with a key whose DNS record is revoked (p=)")
def d12(c):
    msg = c.hop(base_msg(c.cid), "mailauth", "revoked")
    c.check(msg, "fail", rfc="section 5.2.1 (all failures are permanent)")


@case("D13", "seal whose selector has no DNS record")
def d13(c):
    msg = c.hop(base_msg(c.cid), "dkimpy", "nokey")
    c.check(msg, "fail", rfc="section 5.2.1 (all failures are permanent)")


@case("N1", "message without ARC: none")
def n1(c):
    c.check(base_msg(c.cid), "none")


@case("K3", "key records without v=, with t=y s=email h=sha256, with spaces in p=")
def k3(c):
    msg = base_msg(c.cid)
    for sealer, key in (("dkimpy", "nov"), ("mailauth", "spaced")) + (
            () if c.env.oracles_only else (("arcproxy", "nov"), ("arcproxy", "spaced"))):
        msg = c.hop(msg, sealer, key)
        c.check(msg, "pass", label="after-%s-%s" % (sealer, key),
                rfc="section 5.2 with RFC 6376 section 3.6.1 (key record tags)")


@case("K4", "key record h=sha1 (rsa-sha256 seal not allowed)")
def k4(c):
    # RFC 6376 section 6.1.2: a key whose h= does not list the signature's hash algorithm
    # makes the signature PERMFAIL. Neither oracle reads h= of a key record: both pass it.
    msg = c.hop(base_msg(c.cid), "mailauth", "sha1only")
    ignores = "ignores h= of the key record (RFC 6376 section 6.1.2 says PERMFAIL)"
    c.check(msg, "fail", known={"dkimpy": ignores, "mailauth": ignores},
            rfc="section 5.2 with RFC 6376 sections 3.6.1 and 6.1.2 (h= of the key record)")


@case("K5", "key record k=ed25519 holding an RSA key")
def k5(c):
    msg = c.hop(base_msg(c.cid), "dkimpy", "wrongk")
    c.check(msg, "fail", rfc="section 5.2 with RFC 6376 section 3.6.1 (k= of the key record)")


@case("A12", "rich Authentication-Results (folded, comments, several methods) into the AAR")
def a12(c):
    env = c.env
    msg = c.hop(base_msg(c.cid), "mailauth", "r1024")
    order = ["dkimpy", "mailauth"] if env.oracles_only else ["arcproxy", "dkimpy", "mailauth"]
    for n, sealer in enumerate(order):
        i = max(arc_instances(msg)) + 1
        srvid = "mx%d.lists.example" % i
        nl = nl_of(msg)
        ar = (b"Authentication-Results: " + srvid.encode() + b";" + nl +
              b"\tdkim=pass (1024-bit key; unprotected) header.d=origin.example header.s=s1" +
              b" header.b=AbCdEf12;" + nl +
              b"\tspf=pass (" + srvid.encode() + b": domain of alice@origin.example designates" +
              b" 192.0.2.1 as permitted sender) smtp.mailfrom=alice@origin.example;" + nl +
              b"\tdmarc=pass (p=none dis=none) header.from=origin.example;" + nl +
              b"\tarc=pass (i=%d)" % (i - 1) + nl)
        # a foreign Authentication-Results (another authserv-id) must stay out of our AAR
        other = b"Authentication-Results: elsewhere.example; spf=fail smtp.mailfrom=x@y" + nl
        msg2 = other + ar + msg
        out = env.seal(sealer, msg2, ["r2048", "r3072", "r2048b"][n], srvid, cv_from_authres=True)
        c.save("i%d-sealed-by-%s" % (i, sealer), out)
        fields, _, _ = split(out)
        aar = [f for f in fields if fname(f) == b"arc-authentication-results" and finst(f) == i]
        if not aar or b"header.from=origin.example" not in aar[0] or b"elsewhere" in aar[0]:
            raise CaseFail("%s's AAR i=%d: %r" % (sealer, i, aar[:1]))
        msg = out
        c.check(msg, "pass", label="after-i%d-%s" % (i, sealer))


# --- E: message variety -------------------------------------------------------------------

def variety(cid, title, make, known=None, sealers=None):
    def fn(c):
        msg = make(c.cid)
        c.check(msg, "none", label="unsealed", known=known)
        order = sealers or ["arcproxy", "dkimpy", "mailauth"]
        if c.env.oracles_only:
            order = [s for s in order if s != "arcproxy"]
        keys = ["r1024", "r2048", "r2048b"]
        for n, s in enumerate(order):
            msg = c.hop(msg, s, keys[n % 3])
            c.check(msg, "pass", label="after-i%d" % (n + 1), known=known)
        # and as a list would: verify, edit, seal (with the first sealer once more)
        if known is None:
            msg = c.hop(msg, order[0], "r3072", edits="all")
            c.check(msg, "pass", label="after-list-edit")
    case(cid, title)(fn)


variety("E1", "8-bit Latin-1 body", lambda cid: base_msg(
    cid, extra=["Content-Transfer-Encoding: 8bit"],
    body=b"Gr\xfc\xdfe aus K\xf6ln,\n\xe9t\xe9 \xe0 la plage, \xa3 10.\n"))

variety("E2", "UTF-8 header (RFC 6532) and UTF-8 body", lambda cid: base_msg(
    cid, extra=["Content-Transfer-Encoding: 8bit"],
    subject="Gr\u00fc\u00dfe \u2014 \u65e5\u672c \U0001F30D",
    body="Sch\u00f6ne Gr\u00fc\u00dfe,\n"
         "\u041f\u0440\u0438\u0432\u0435\u0442 \u4e16\u754c \U0001F600\n"),
    sealers=["dkimpy", "mailauth", "arcproxy"])


def _folded(cid):
    hdrs = ["From: Alice Example\n <alice@origin.example>",
            "To: Bob One <bob1@dest.example>,\n\tBob Two <bob2@dest.example>,\n"
            "   Bob Three <bob3@dest.example>",
            "Subject:   a   long subject line that a client folded\n\tover   two lines   ",
            "Date: Thu, 01 Feb 2024 10:00:00 +0000",
            "Message-ID: <%s.%d@origin.example>" % (cid, NOW),
            "Received: from a.example (a.example [192.0.2.1])\n\tby b.example with ESMTP id 1\n"
            "\tfor <bob1@dest.example>; Thu, 01 Feb 2024 10:00:01 +0000",
            "Received: from c.example\n by a.example; Thu, 01 Feb 2024 10:00:00 +0000",
            "MIME-Version: 1.0",
            "Content-Type: text/plain;\n charset=us-ascii;\n format=flowed"]
    return build(hdrs, "Folded   header   test\t with\ttabs   \nline two  \n")


variety("E3", "folded headers, repeated Received, odd whitespace", _folded,
        sealers=["mailauth", "arcproxy", "dkimpy"])

variety("E4", "empty body", lambda cid: base_msg(cid, body=b""))

variety("E5", "no final CRLF", lambda cid: base_msg(
    cid, body=b"first line\r\nlast line without a line end"),
    sealers=["dkimpy", "arcproxy", "mailauth"])

variety("E6", "LF-only line endings", lambda cid: base_msg(cid, nl=b"\n"))

variety("E7", "trailing blank lines and trailing whitespace in the body", lambda cid: base_msg(
    cid, body=b"text with trailing space   \r\n\ttabbed\t \r\n\r\n\r\n\r\n"),
    sealers=["mailauth", "dkimpy", "arcproxy"])

variety("E8", "large body (300 KiB)", lambda cid: base_msg(
    cid, body=("".join("line %06d of a large test body, the quick brown fox\n" % n
                       for n in range(6000))).encode()))

variety("E9", "header names in odd case, no space after colon", lambda cid: build(
    ["FROM:Alice <alice@origin.example>", "to:bob@dest.example", "SUBJECT:no space",
     "date:Thu, 01 Feb 2024 10:00:00 +0000", "message-id:<%s.%d@origin.example>" % (cid, NOW)],
    "body\n"), sealers=["dkimpy", "mailauth", "arcproxy"])

variety("E10", "header section only, no empty line (mailauth cannot parse it)",
        lambda cid: base_msg(cid).split(b"\r\n\r\n")[0] + b"\r\n",
        known={"mailauth": "ORACLES.md: cannot parse a message with no empty line after "
                           "the header"},
        sealers=["dkimpy", "arcproxy"])

variety("E11", "body only blank lines", lambda cid: base_msg(cid, body=b"\r\n\r\n\r\n"),
        sealers=["arcproxy", "mailauth", "dkimpy"])


variety("E12", "DKIM-Signature and Received present; empty and whitespace-only header values",
        lambda cid: build(
            ["Received: from relay.origin.example by mx.dest.example;\n"
             " Thu, 01 Feb 2024 10:00:02 +0000",
             "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=origin.example; s=s1;\n"
             "\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\n"
             "\tb=dGVzdA==",
             "From: Alice <alice@origin.example>", "To: bob@dest.example   ",
             "Subject:", "X-Blank:    ", "Date:\tThu, 01 Feb 2024 10:00:00 +0000",
             "Message-ID: <%s.%d@origin.example>" % (cid, NOW)], "body\n"),
        sealers=["mailauth", "arcproxy", "dkimpy"])

variety("E13", "body lines of only whitespace", lambda cid: base_msg(
    cid, body=b"  \r\n\t\r\n \t \r\n"), sealers=["dkimpy", "mailauth", "arcproxy"])


# --- F: inputs where an oracle has a known fault -------------------------------------------

@case("F1", "'ARC-Seal:i=2;' etc. with no space after the colons (dkimpy crashes on it)")
def f1(c):
    msg = base_msg(c.cid)
    order = ["mailauth", "dkimpy"] if c.env.oracles_only else ["arcproxy", "mailauth"]
    for s, k in zip(order, ["r1024", "r2048"]):
        msg = c.hop(msg, s, k)
    msg = nospace_arc(msg)
    c.check(msg, "pass", known={"dkimpy": "ORACLES.md: IndexError on 'ARC-Message-Signature:i=2;'"},
            rfc="section 5.1.1 with RFC 6376 section 3.4.2 (relaxed header canonicalization)")


@case("F2", "ARC sets stacked in ascending order (dkimpy fails such chains)")
def f2(c):
    msg = _chain3(c, "mailauth")
    msg = reorder_sets_ascending(msg)
    c.check(msg, "pass", known={"dkimpy": "ORACLES.md: fails sets not stacked in instance order"},
            rfc="section 5.1.1 (ARC sets are hashed in increasing instance order, "
                "wherever they stand)")


# --- G: the 50-set limit (RFC 8617 section 4.2.1) ----------------------------------------

@case("G1", "50 sets pass; no 51st from arcproxy or dkimpy; mailauth's 51st fails")
def g1(c):
    env = c.env
    sealer = "dkimpy" if env.oracles_only else "arcproxy"
    msg = base_msg(c.cid)
    for n in range(50):
        msg = env.seal(sealer if n % 10 else ("mailauth" if n % 20 else "dkimpy"), msg, "r1024",
                       "hop%d.one.example" % (n + 1))
    if max(arc_instances(msg)) != 50:
        raise CaseFail("expected 50 sets, got %s" % max(arc_instances(msg)))
    c.save("50-sets", msg)
    c.check(msg, "pass", label="50-sets")
    if not env.oracles_only:
        out = env.seal("arcproxy", msg, "r2048", "hop51.two.example")
        if out != msg:
            c.save("arcproxy-51st", out)
            raise CaseFail("arcproxy added a 51st set (docs/cli.md: the message must come out "
                           "unchanged)")
    try:
        env.seal("dkimpy", msg, "r2048", "hop51.two.example")
        raise CaseFail("dkimpy sealed a 51st set")
    except CaseFail:
        raise
    except Exception as exc:  # ParameterError: Maximum instance tag value exceeded
        c.log.append("dkimpy refuses i=51: %s" % exc)
    out = env.seal("mailauth", msg, "r2048", "hop51.two.example")
    if max(arc_instances(out)) != 51:
        raise CaseFail("mailauth did not seal i=51 (instances up to %s)" % max(arc_instances(out)))
    c.check(out, "fail", label="51-sets",
            known={"dkimpy": "ORACLES.md: accepts a 51-set chain"},
            rfc="section 4.2.1 (at most 50 ARC sets)")


# --- O: the oracle drivers' own command lines -----------------------------------------------

@case("O1", "dkimpy_oracle.py and mailauth_oracle.js command lines (sign, verify)")
def o1(c):
    env = c.env
    k = env.keys["r2048b"]
    src = c.save("input", base_msg(c.cid))
    py, js = [sys.executable, os.path.join(HERE, "dkimpy_oracle.py")], \
        [env.args.node, os.path.join(HERE, "mailauth_oracle.js")]
    r1 = run(py + ["sign", src, env.zjson, k["pem"], k["domain"], k["selector"], "a.lists.example",
                   "--time", str(NOW)])
    if r1.returncode:
        raise CaseFail("dkimpy_oracle.py sign: %s" % r1.stderr.decode(errors="replace"))
    m1 = c.save("dkimpy-cli", r1.stdout)
    r2 = run(js + ["sign", m1, env.zjson, k["pem"], k["domain"], k["selector"], "b.lists.example",
                   "--time", str(NOW)])
    if r2.returncode:
        raise CaseFail("mailauth_oracle.js sign: %s" % r2.stderr.decode(errors="replace"))
    m2 = c.save("mailauth-cli", r2.stdout)
    for tool in (py, js):
        r = run(tool + ["verify", m2, env.zjson])
        if r.stdout.decode().strip() != "pass" or r.returncode != 0:
            raise CaseFail("%s verify: %r exit %d" % (os.path.basename(tool[1]), r.stdout,
                                                      r.returncode))
    c.check(r2.stdout, "pass")


# ---------------------------------------------------------------------------------------------
# keys and zone


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def key_bits(pem):
    r = run(["openssl", "pkey", "-in", pem, "-noout", "-text"])
    m = re.search(rb"Private-Key: \((\d+) bit", r.stdout)
    return int(m.group(1)) if m else None


def pubkey_b64(pem):
    r = run(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"])
    if r.returncode != 0:
        raise RuntimeError("openssl pkey: " + r.stderr.decode(errors="replace"))
    return base64.b64encode(r.stdout).decode()


def zone_line(owner, record):
    chunks = [record[i:i + 250] for i in range(0, len(record), 250)]
    return "%s. IN TXT ( %s )" % (owner, " ".join('"%s"' % s for s in chunks))


def parse_zone_txt(text):
    """(owner, record) from `NAME. [TTL] [IN] TXT ( "..." "..." )` (keygen's output)."""
    m = re.search(r'^\s*(\S+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+\(?(.*?)\)?\s*$', text, re.S | re.M)
    if not m:
        return None, None
    strings = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
    return m.group(1).rstrip(".").lower(), "".join(strings)


KEYSPECS = [  # name, bits, generator, domain, selector
    ("r1024", 1024, "openssl", "one.example", "sel1024"),
    ("r2048", 2048, "arcproxy", "two.example", "sel2048"),
    ("r3072", 3072, "openssl", "three.example", "sel3072"),
    ("r4096", 4096, "arcproxy", "four.example", "sel4096"),
    ("r2048b", 2048, "openssl", "lists.example", "list-2024"),
]


def setup_keys(env):
    kdir = os.path.join(env.work, "keys")
    os.makedirs(kdir)
    procs = {}
    for name, bits, gen, dom, sel in KEYSPECS:
        if gen == "arcproxy" and not env.oracles_only:
            out = os.path.join(kdir, name)
            os.makedirs(out)
            procs[name] = subprocess.Popen(
                [env.arcproxy, "keygen", "-d", dom, "-s", sel, "--bits", str(bits), "--type", "rsa",
                 "--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        else:
            procs[name] = subprocess.Popen(
                ["openssl", "genrsa", "-out", os.path.join(kdir, name + ".pem"), str(bits)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for name, bits, gen, dom, sel in KEYSPECS:
        out, err = procs[name].communicate(timeout=300)
        k = {"domain": dom, "selector": sel, "bits": bits}
        owner = "%s._domainkey.%s" % (sel, dom)
        if gen == "arcproxy" and not env.oracles_only:
            pem = os.path.join(kdir, name, sel + ".private")
            o, rec = parse_zone_txt(out.decode(errors="replace"))
            if procs[name].returncode == 0 and os.path.exists(pem) and o == owner and rec:
                k.update(pem=pem, origin="arcproxy", zone_line=out.decode().strip())
                env.keys[name] = k
                env.txt[owner] = rec
                env.zone_lines.append(out.decode().strip())
                continue
            k["keygen_error"] = "exit %d, stdout %r, stderr %r" % (
                procs[name].returncode, out.decode(errors="replace")[:200],
                err.decode(errors="replace")[:200])
            pem = os.path.join(kdir, name + ".pem")  # fall back: the other cases still run
            r = run(["openssl", "genrsa", "-out", pem, str(bits)])
            if r.returncode:
                raise RuntimeError("openssl genrsa failed: " + r.stderr.decode(errors="replace"))
        else:
            pem = os.path.join(kdir, name + ".pem")
            if procs[name].returncode:
                raise RuntimeError("openssl genrsa failed: " + err.decode(errors="replace"))
        rec = "v=DKIM1; k=rsa; p=" + pubkey_b64(pem)
        k.update(pem=pem, origin="openssl")
        env.keys[name] = k
        env.txt[owner] = rec
        env.zone_lines.append(zone_line(owner, rec))
    # a revoked key (empty p=) and a selector with no record, both signing with r1024's key
    env.keys["revoked"] = dict(env.keys["r1024"], selector="revoked", origin="openssl")
    env.txt["revoked._domainkey.one.example"] = "v=DKIM1; k=rsa; p="
    env.zone_lines.append(zone_line("revoked._domainkey.one.example", "v=DKIM1; k=rsa; p="))
    env.keys["nokey"] = dict(env.keys["r1024"], selector="nokey", origin="openssl")
    # record variants for r1024's public key
    p1024 = env.txt["sel1024._domainkey.one.example"].split("p=", 1)[1]
    spaced = " ".join(p1024[i:i + 64] for i in range(0, len(p1024), 64))
    for sel, rec in (("nov", "k=rsa; t=y; s=email; h=sha256; p=" + p1024),
                     ("spaced", "v=DKIM1; k=rsa; p=" + spaced),
                     ("sha1only", "v=DKIM1; k=rsa; h=sha1; p=" + p1024),
                     ("wrongk", "v=DKIM1; k=ed25519; p=" + p1024)):
        env.keys[sel] = dict(env.keys["r1024"], selector=sel, origin="openssl")
        env.txt["%s._domainkey.one.example" % sel] = rec
        env.zone_lines.append(zone_line("%s._domainkey.one.example" % sel, rec))
    with open(env.zone, "w") as f:
        f.write("\n".join(env.zone_lines) + "\n")
    with open(env.zjson, "w") as f:
        json.dump(env.txt, f, indent=1)


# ---------------------------------------------------------------------------------------------


def save_failure(env, c, why, base=FAIL_DIR):
    dst = os.path.join(base, c.cid)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(c.dir, dst)
    shutil.copy(env.zone, dst)
    shutil.copy(env.zjson, dst)
    kd = os.path.join(dst, "keys")
    os.makedirs(kd, exist_ok=True)
    for name, k in env.keys.items():
        if os.path.exists(k["pem"]):
            shutil.copy(k["pem"], os.path.join(kd, name + ".pem"))
    with open(os.path.join(dst, "VERDICTS.txt"), "w") as f:
        f.write("%s  %s\n%s\n\n" % (c.cid, c.title, why))
        keys = {n: {x: k[x] for x in ("domain", "selector", "bits", "origin")}
                for n, k in env.keys.items()}
        f.write("keys: %s\n\n" % json.dumps(keys))
        f.write("\n".join(c.log) + "\n")
        f.write("\nreplay: arcproxy verify --dns-zone keys.zone FILE\n"
                "        /usr/bin/python3 %s/dkimpy_oracle.py verify FILE keys.json\n"
                "        node %s/mailauth_oracle.js verify FILE keys.json\n" % (HERE, HERE))
    return dst


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arcproxy", help="the arcproxy binary")
    ap.add_argument("--oracles-only", action="store_true",
                    help="dkimpy and mailauth only (arcproxy neither seals nor verifies)")
    ap.add_argument("--only", help="comma-separated case ids")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print every verdict")
    args = ap.parse_args()
    if not args.oracles_only and not (args.arcproxy and os.access(args.arcproxy, os.X_OK)):
        print("interop: no executable arcproxy given (--arcproxy PATH)")
        return 64

    try:
        import dkim  # noqa: F401
        import authres  # noqa: F401
    except ImportError as exc:
        print("skip: interop needs python3-dkim and python3-authres (%s)" % exc)
        return SKIP
    if shutil.which(args.node) is None:
        print("skip: interop needs node (Debian: nodejs)")
        return SKIP
    if not os.path.isdir(os.path.join(HERE, "node_modules", "mailauth")):
        print("skip: interop needs mailauth: run `npm ci` in %s" % HERE)
        return SKIP
    if shutil.which("openssl") is None:
        print("skip: interop needs openssl")
        return SKIP

    t0 = time.time()
    work = tempfile.mkdtemp(prefix="arcproxy-interop-")
    os.makedirs(os.path.join(work, "tmp"))
    env = Env(args, work)
    try:
        setup_keys(env)
    except Exception as exc:
        print("FAIL setup: %s" % exc)
        print("0 passed, 1 failed")
        return 1
    env.mailauth = MailauthServer(args.node)
    only = set(args.only.split(",")) if args.only else None
    passed = failed = skipped = 0
    print("interop: keys %s (setup %.1fs); work dir %s" % (
        ", ".join("%s/%s" % (n, k["origin"]) for n, k in env.keys.items() if n.startswith("r")),
        time.time() - t0, work))
    groups = "KABCDNEFGO"
    cases = sorted(CASES, key=lambda t: (groups.index(t[0][0]), int(t[0][1:])))
    try:
        for cid, title, needs_ap, fn in cases:
            if only and cid not in only:
                continue
            if needs_ap and args.oracles_only:
                continue
            c = Case(env, cid, title)
            t1 = time.time()
            try:
                fn(c)
            except CaseSkip as exc:
                skipped += 1
                dst = save_failure(env, c, "skipped: %s" % exc, SKIP_DIR)
                print("skip %-4s %s: %s [saved in %s]" % (cid, title, exc, dst))
                continue
            except CaseFail as exc:
                failed += 1
                dst = save_failure(env, c, "FAILED: %s" % exc)
                print("FAIL %-4s %s: %s [saved in %s]" % (cid, title, exc, dst))
                continue
            except Exception as exc:  # a harness or oracle error is a failure too
                failed += 1
                import traceback
                why = "%s: %s" % (type(exc).__name__, exc)
                c.log.append(traceback.format_exc())
                dst = save_failure(env, c, "FAILED: " + why)
                print("FAIL %-4s %s: %s [saved in %s]" % (cid, title, why, dst))
                continue
            passed += 1
            shutil.rmtree(os.path.join(FAIL_DIR, cid), ignore_errors=True)
            notes = sorted(set(c.notes)) + ["%s ignored, known fault: %s (it said %s)" % (
                w, n, ",".join(vs)) for w, (n, vs) in sorted(c.known.items())]
            note = ("  (note: %s)" % "; ".join(notes)) if notes else ""
            print("ok   %-4s %s  [%.1fs]%s" % (cid, title, time.time() - t1, note))
            if args.verbose:
                for line in c.log:
                    print("        " + line)
    finally:
        env.mailauth.close()
        if not args.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)
    print("interop: %d skipped (oracle disagreement), %.0fs" % (skipped, time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

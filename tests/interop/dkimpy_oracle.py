#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dkimpy (Debian python3-dkim) as an offline ARC oracle for the interop tests.

Run with Debian's /usr/bin/python3 (another Python may not see python3-dkim/python3-authres).

  dkimpy_oracle.py verify FILE ZONEJSON
      prints the chain validation status: pass | fail | none
      (dkimpy returns an empty cv for a chain that carries a cv=fail seal: printed as fail)
      exit 0 pass/none, 1 fail

  dkimpy_oracle.py sign FILE ZONEJSON KEY DOMAIN SELECTOR SRVID [--time T]
      prints the whole message with a new ARC set prepended.

ZONEJSON maps a key name to its TXT record: {"sel._domainkey.example.org": "v=DKIM1; k=rsa; p=..."}.
FILE "-" is stdin.

Sealing and the Authentication-Results field: dkimpy's arc_sign takes the cv (and the AAR payload)
from an Authentication-Results field whose authserv-id is SRVID, and seals nothing without one.
A real sealer verifies on receipt and records the verdict in such a field, so `sign` does the
same: if the message has no `Authentication-Results: SRVID; ...` field, it verifies the chain
itself and prepends `Authentication-Results: SRVID; arc=<cv>` (and it stays in the output, as
it would in a real relay). If the field is already there (a hop that verified before it edited
the message, as a mailing list does), its arc= result is used as it stands.
"""

import json
import re
import sys

try:
    import dkim
    import authres  # noqa: F401  (arc_sign needs it; fail early and clearly)
except ImportError as exc:  # pragma: no cover
    sys.stderr.write("dkimpy_oracle: %s (install python3-dkim python3-authres)\n" % exc)
    sys.exit(77)


def load_keys(path):
    with open(path, "r", encoding="utf-8") as f:
        raw = json.load(f)
    return {k.lower().rstrip("."): v for k, v in raw.items()}


def dnsfunc_for(keys):
    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        rec = keys.get(name.lower().rstrip("."))
        return rec.encode("ascii") if rec is not None else None
    return dnsfunc


def linesep_of(msg):
    """The message's line ending: LF-only messages get LF-only new fields."""
    return b"\r\n" if b"\r\n" in msg or b"\n" not in msg else b"\n"


def verify(msg, keys):
    """Returns (cv, reason, results) with cv one of 'pass', 'fail', 'none'."""
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc_for(keys))
    if cv is None:
        cv = b"fail"  # "chain terminated": a cv=fail seal is in the chain
    cv = cv.decode("ascii") if isinstance(cv, bytes) else str(cv)
    return (cv or "fail"), reason, results


def oldest_pass(results):
    """RFC 8617 section 5.2 step 7 from dkimpy's per-instance results (newest first):
    the lowest instance whose AMS and all later AMSs validate; 0 when all of them do."""
    inst = sorted(results, key=lambda r: r["instance"])
    if not inst:
        return None
    oldest = 0
    for r in reversed(inst):
        if not r.get("ams-valid"):
            oldest = r["instance"] + 1
            break
    return oldest


_AR_RE = re.compile(rb"(?im)^Authentication-Results:[ \t]*([^;\r\n]+?)[ \t]*;")


def has_authres(msg, srvid):
    hdr_end = re.search(rb"\r?\n\r?\n", msg)
    head = msg[: hdr_end.start() + 1] if hdr_end else msg
    for m in _AR_RE.finditer(head):
        if m.group(1).strip().lower() == srvid.lower():
            return True
    return False


def add_authres(msg, srvid, cv):
    nl = linesep_of(msg)
    return b"Authentication-Results: " + srvid + b"; arc=" + cv.encode("ascii") + nl + msg


def sign(msg, keys, keypem, domain, selector, srvid, timestamp=None, include_headers=None):
    """Seal msg; returns the whole sealed message (bytes)."""
    if isinstance(srvid, str):
        srvid = srvid.encode("ascii")
    if isinstance(domain, str):
        domain = domain.encode("ascii")
    if isinstance(selector, str):
        selector = selector.encode("ascii")
    if not has_authres(msg, srvid):
        cv, _, _ = verify(msg, keys)
        msg = add_authres(msg, srvid, cv)
    kw = {}
    if timestamp is not None:
        kw["timestamp"] = int(timestamp)
    if include_headers:
        kw["include_headers"] = [h.encode("ascii") if isinstance(h, str) else h
                                 for h in include_headers]
    new_set = dkim.arc_sign(msg, selector, domain, keypem, srvid, **kw)
    if not new_set:
        raise RuntimeError("dkimpy arc_sign sealed nothing (no usable Authentication-Results)")
    out = b"".join(new_set)
    nl = linesep_of(msg)
    if nl == b"\n":
        out = out.replace(b"\r\n", b"\n")
    return out + msg


def _read(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def main(argv):
    if len(argv) >= 3 and argv[0] == "verify":
        cv, reason, _ = verify(_read(argv[1]), load_keys(argv[2]))
        print(cv)
        sys.stderr.write("dkimpy: %s\n" % reason)
        return 0 if cv in ("pass", "none") else 1
    if len(argv) >= 7 and argv[0] == "sign":
        rest = argv[7:]
        ts = None
        if rest[:1] == ["--time"] and len(rest) >= 2:
            ts = int(rest[1])
        elif rest:
            sys.stderr.write("dkimpy_oracle: unknown argument %s\n" % rest[0])
            return 64
        with open(argv[3], "rb") as f:
            keypem = f.read()
        out = sign(_read(argv[1]), load_keys(argv[2]), keypem, argv[4], argv[5], argv[6], ts)
        sys.stdout.buffer.write(out)
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

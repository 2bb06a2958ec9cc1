#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""dsn_check.py FILE - parse a DSN made by src/queue/dsn.c with Python's email package
(an independent MIME parser) and check its structure; print what was found.

Checks (exit 1 with "FAIL: ..." on the first that fails):
  - every line ends with CRLF, no bare CR or LF, no line over 998 octets;
  - the top level is multipart/report; report-type=delivery-status, with 2 or 3 parts:
    text/plain, message/(global-)delivery-status, [text/rfc822-headers or
    message/global-headers];
  - the boundary occurs nowhere inside a part;
  - the top header section has exactly the expected field names, once each;
  - the status part is a per-message block and one block per recipient, with only the
    RFC 3464 fields we write, Final-Recipient/Action/Status in each.
Output, one per line: "top.NAME=value", "partN.type=...", "partN.cte=...",
"msg.NAME=value", "rcptN.NAME=value" (values unfolded), "rcpts=N",
"hdrs=<the returned header section, decoded, with \\r\\n shown as |>".
"""

import base64
import email
import email.policy
import re
import sys

TOP = ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted",
       "Content-Type"]
TOP_OPT = ["Content-Transfer-Encoding"]
MSG_FIELDS = {"Reporting-MTA", "X-Arcproxy-Queue-ID", "Original-Envelope-Id", "Arrival-Date"}
RCPT_FIELDS = {"Original-Recipient", "Final-Recipient", "Action", "Status", "Remote-MTA",
               "Diagnostic-Code"}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def unfold(v):
    return re.sub(r"\r\n(?=[ \t])", "", str(v))


def blocks(text):
    """Header blocks of a delivery-status body: [(name, value), ...] per block."""
    out = []
    for chunk in re.split(r"\r\n\r\n", text.strip("\r\n")):
        fields = []
        for m in re.finditer(r"^([!-9;-~]+):[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", chunk, re.M):
            fields.append((m.group(1), unfold(m.group(2)).strip()))
        lines = [ln for ln in chunk.split("\r\n") if ln and ln[0] not in " \t"]
        if len(lines) != len(fields):
            fail("status block has a line that is not a field: %r" % chunk[:200])
        out.append(fields)
    return out


def main():
    data = open(sys.argv[1], "rb").read()
    for i, line in enumerate(data.split(b"\r\n")[:-1]):
        if b"\r" in line or b"\n" in line:
            fail("bare CR or LF in line %d" % i)
        if len(line) > 998:
            fail("line %d has %d octets" % (i, len(line)))
    if not data.endswith(b"\r\n"):
        fail("does not end with CRLF")

    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    names = [k for k, _ in msg.items()]
    want = TOP + [n for n in TOP_OPT if n in names]
    if sorted(names) != sorted(want):
        fail("top fields %r, want %r" % (names, want))
    top = blocks(data.split(b"\r\n\r\n", 1)[0].decode("utf-8"))
    if len(top) != 1 or [k for k, _ in top[0]] != names:
        fail("raw top header section differs from the parser's")
    for k, v in top[0]:
        print("top.%s=%s" % (k, v))
    if msg.get_content_type() != "multipart/report":
        fail("not multipart/report")
    if msg.get_param("report-type") != "delivery-status":
        fail("report-type %r" % msg.get_param("report-type"))
    boundary = msg.get_boundary()
    if not boundary:
        fail("no boundary")
    parts = msg.get_payload()
    if not isinstance(parts, list) or len(parts) not in (2, 3):
        fail("want 2 or 3 parts")
    raw_parts = data.split(b"\r\n--" + boundary.encode() + b"\r\n")[1:]
    raw_parts[-1] = raw_parts[-1].split(b"\r\n--" + boundary.encode() + b"--\r\n")[0]
    if len(raw_parts) != len(parts):
        fail("raw split found %d parts, parser %d" % (len(raw_parts), len(parts)))
    for rp in raw_parts:
        if boundary.encode() in rp:
            fail("boundary inside a part")
    types = [p.get_content_type() for p in parts]
    for i, (p, t) in enumerate(zip(parts, types)):
        print("part%d.type=%s" % (i, t))
        print("part%d.cte=%s" % (i, p.get("Content-Transfer-Encoding", "7bit")))
    if types[0] != "text/plain":
        fail("part 0 is %s" % types[0])
    if types[1] not in ("message/delivery-status", "message/global-delivery-status"):
        fail("part 1 is %s" % types[1])
    if len(parts) == 3 and types[2] not in ("text/rfc822-headers", "message/global-headers"):
        fail("part 2 is %s" % types[2])
    text = parts[0].get_payload(decode=True).decode("utf-8")
    print("text=%s" % re.sub(r"\s+", " ", text))

    body = raw_parts[1].split(b"\r\n\r\n", 1)[1].decode("utf-8")
    bl = blocks(body)
    if len(bl) < 2:
        fail("no recipient block")
    for k, v in bl[0]:
        if k not in MSG_FIELDS:
            fail("unexpected per-message field %s" % k)
        print("msg.%s=%s" % (k, v))
    for k in ("Reporting-MTA", "Arrival-Date"):
        if k not in dict(bl[0]):
            fail("no %s" % k)
    for n, b in enumerate(bl[1:]):
        seen = [k for k, _ in b]
        if len(seen) != len(set(seen)):
            fail("repeated field in recipient block %d" % n)
        for k, v in b:
            if k not in RCPT_FIELDS:
                fail("unexpected per-recipient field %s" % k)
            print("rcpt%d.%s=%s" % (n, k, v))
        for k in ("Final-Recipient", "Action", "Status"):
            if k not in seen:
                fail("recipient block %d has no %s" % (n, k))
    print("rcpts=%d" % (len(bl) - 1))
    if len(parts) == 3:
        h = raw_parts[2].split(b"\r\n\r\n", 1)[1]
        if parts[2].get("Content-Transfer-Encoding", "").lower() == "base64":
            h = base64.b64decode(h, validate=False)
        sys.stdout.buffer.write(b"hdrs=" + h.replace(b"\r\n", b"|") + b"\n")
    print("ok")


main()

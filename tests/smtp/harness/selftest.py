#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""selftest.py - tests of the SMTP test harness itself (sink.py, smtpclient.py,
scenario.py), before the daemon's tests rely on them. Python's smtplib serves as an
independent client, so the sink is not only checked against our own client.

    selftest.py [-v] [NAME_SUBSTRING...]

One line per test, then "N passed, N failed"; exit status 1 when any failed.
Each test runs under a 20 s alarm; the whole run takes a few seconds.
"""

import asyncio
import io
import json
import os
import random
import select
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sink import Sink, SinkClient, xtext_decode, xtext_encode, format_reply  # noqa: E402
from smtpclient import (Conversation, SMTPFailure, dot_stuff, can_connect, free_port,  # noqa
                        wait_port)
import scenario  # noqa: E402

PYTHON = sys.executable or "/usr/bin/python3"
TEST_TIMEOUT = 20
TESTS = []
VERBOSE = False


def test(fn):
    TESTS.append(fn)
    return fn


def eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def hello(sink, timeout=3.0):
    c = Conversation("127.0.0.1", sink.port, timeout=timeout)
    c.expect("220")
    c.ehlo("client.test")
    return c


def raises(exc, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, getattr(fn, "__name__", fn)))


ALL_BYTES_BODY = (b"From: a@example.org\r\nTo: b@example.org\r\nSubject: 8-bit\r\n"
                  b"Content-Type: text/plain; charset=latin1\r\n"
                  b"Content-Transfer-Encoding: 8bit\r\n\r\n"
                  + b"".join(bytes(range(lo, lo + 16)) + b"\r\n" for lo in range(0x80, 0x100, 16))
                  + b"tab\there, trailing space \r\nlast line\r\n")

DOTS_BODY = (b".first line starts with a dot\r\nSubject: dots\r\n\r\n.\r\n..\r\n...\r\n"
             b".x\r\n. \r\n .\r\n.\r\n\r\n..\r\nend.\r\n.\r\n.")


# --- basics -------------------------------------------------------------------------------

@test
def ehlo_advertises_the_required_extensions():
    with Sink() as s, hello(s) as c:
        for k in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN"):
            check(c.has(k), "EHLO lacks %s: %r" % (k, c.capabilities))
        eq(c.capabilities["SIZE"], [str(64 << 20)], "SIZE parameter")
        eq(c.capabilities["XFORWARD"], "NAME ADDR PORT PROTO HELO IDENT SOURCE".split(),
           "XFORWARD attributes")
        check(s.port > 0, "port reported")


@test
def helpers_dot_stuff_xtext_and_reply_format():
    eq(dot_stuff(b".a\r\n.b\r\nc"), b"..a\r\n..b\r\nc\r\n", "dot_stuff")
    eq(dot_stuff(b"x\n.y\r\n"), b"x\n.y\r\n", "dot_stuff leaves bare-LF lines alone")
    eq(xtext_decode("a+2Bb+3Dc+20d"), "a+b=c d", "xtext_decode")
    eq(xtext_encode("a+b=c d\u00e9"), "a+2Bb+3Dc+20d+C3+A9", "xtext_encode")
    raises(ValueError, xtext_decode, "bad+2")
    eq(format_reply(["451 4.3.0 a", "451 4.3.0 b"])[0], b"451-4.3.0 a\r\n451 4.3.0 b\r\n",
       "multi-line reply")
    raises(ValueError, format_reply, "hello")
    raises(ValueError, format_reply, ["250 a", "251 b"])


@test
def message_with_8bit_body_is_byte_exact():
    with Sink() as s, hello(s) as c:
        r = c.send_message("a@example.org", ["b@example.org"], ALL_BYTES_BODY,
                           mail_params=["BODY=8BITMIME"])
        eq(r.code, 250, "final reply")
        c.quit()
        rec = s.last()
        eq(rec["data"], ALL_BYTES_BODY, "message bytes")
        eq(rec["size"], len(ALL_BYTES_BODY), "size")
        eq(rec["reply"], str(r), "recorded reply")
        check(rec["accepted"], "accepted")
        eq(s.errors(), [], "protocol errors")


@test
def smtplib_message_with_8bit_body_is_byte_exact():
    with Sink() as s:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
            refused = cl.sendmail("a@example.org", ["b@example.org", "c@example.org"],
                                  ALL_BYTES_BODY, mail_options=["BODY=8BITMIME"])
        eq(refused, {}, "refused recipients")
        rec = s.last()
        eq(rec["data"], ALL_BYTES_BODY, "message bytes")
        eq([r["addr"] for r in rec["rcpts"]], ["b@example.org", "c@example.org"], "rcpts")
        eq(rec["mail_params"], ["size=%d" % len(ALL_BYTES_BODY), "BODY=8BITMIME"], "params")
        eq(s.errors(), [], "protocol errors")


@test
def leading_dot_lines_round_trip():
    with Sink() as s, hello(s) as c:
        c.send_message("a@example.org", ["b@example.org"], DOTS_BODY)
        rec = s.last()
        eq(rec["data"], DOTS_BODY + b"\r\n", "message bytes (final CRLF added by the client)")
        eq(s.errors(), [], "protocol errors")


@test
def smtplib_leading_dot_lines_round_trip():
    body = DOTS_BODY + b"\r\n"
    with Sink() as s:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
            cl.sendmail("a@example.org", ["b@example.org"], body)
        eq(s.last()["data"], body, "message bytes")


@test
def data_ends_only_at_crlf_dot_crlf():
    with Sink() as s, hello(s) as c:
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.org>")
        c.cmd("DATA", "354")
        c.send_raw(b"one\n.\ntwo\r.\rthree\r\n.\nfour\r\n.\r\n")
        c.expect("250")
        rec = s.last()
        eq(rec["data"], b"one\n.\ntwo\r.\rthree\r\n\nfour\r\n", "message bytes")
        check(rec["bare_lf"] and rec["bare_cr"], "bare LF and CR flagged")
        check(any("bare LF" in e for e in s.errors()), "bare LF noted: %r" % s.errors())
        eq(s.count(), 1, "messages")


@test
def data_parser_survives_any_chunk_boundaries():
    rnd = random.Random(3)
    pieces = [b".", b"..", b"...", b".\r", b"x.", b"\xff.", b" ", b"\r", b"\n", b"a" * 40]
    lines = [b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 6)))
             for _ in range(300)]
    body = b"".join(x.replace(b"\r", b"").replace(b"\n", b"") + b"\r\n" for x in lines)
    wire = dot_stuff(body) + b".\r\n"
    with Sink() as s, hello(s) as c:
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<b@example.org>")
        c.cmd("DATA", "354")
        pos = 0
        for _ in range(len(wire)):
            if pos >= len(wire) - 3:
                break
            step = rnd.randrange(1, 6)
            c.sock.sendall(wire[pos:min(pos + step, len(wire) - 3)])    # raw: short transcript
            pos += step
            time.sleep(0.0003)
        for b in (b".", b"\r", b"\n"):       # the final CRLF.CRLF split at every point
            time.sleep(0.03)
            c.sock.sendall(b)
        c.expect("250")
        rec = s.last()
        eq(rec["data"], body, "message bytes")
        eq((rec["bare_lf"], rec["bare_cr"], rec["long_lines"]), (False, False, 0), "flags")
        big = b"".join(b"." * (i % 3) + bytes([0x80 + i % 100]) * (i % 1200) + b"\r\n"
                       for i in range(4000))
        c.send_message("a@example.org", ["b@example.org"], big)
        rec = s.last()
        eq(rec["size"], len(big), "big message size")
        check(rec["data"] == big, "big message bytes differ")
        wire_len = [i % 3 + (i % 3 > 0) + i % 1200 + 2 for i in range(4000)]   # stuffed
        eq(rec["long_lines"], sum(1 for n in wire_len if n > 1000), "lines over 1000 octets")


@test
def pipelined_transactions():
    with Sink() as s, hello(s) as c:
        c.pipeline(["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>",
                    "RCPT TO:<c@example.org>", "DATA"])
        for want in ("250", "250", "250", "354"):
            c.expect(want)
        c.send_raw(dot_stuff(b"Subject: one\r\n\r\n.1\r\n") + b".\r\n"
                   + b"MAIL FROM:<d@example.org>\r\nRCPT TO:<e@example.org>\r\nDATA\r\n")
        for want in ("250 2.0.0", "250 2.1.0", "250 2.1.5", "354"):
            c.expect(want)
        c.data(b"Subject: two\r\n\r\n.2\r\n")
        c.expect("250")
        c.quit()
        m = s.messages()
        eq(len(m), 2, "messages")
        eq([x["mail_from"] for x in m], ["a@example.org", "d@example.org"], "senders")
        eq(m[0]["data"], b"Subject: one\r\n\r\n.1\r\n", "first message")
        eq(m[1]["data"], b"Subject: two\r\n\r\n.2\r\n", "second message")
        eq((m[0]["conn"], m[0]["txn"], m[1]["conn"], m[1]["txn"]), (1, 1, 1, 2), "conn/txn")
        eq(s.errors(), [], "protocol errors")


@test
def content_before_354_is_noted_as_a_pipelining_violation():
    with Sink() as s, hello(s) as c:
        c.pipeline(["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA",
                    "Subject: early", "", "x", "."])
        for want in ("250", "250", "354", "250"):
            c.expect(want)
        check(any("PIPELINING" in e for e in s.errors()), "violation noted: %r" % s.errors())


@test
def rset_discards_the_transaction():
    with Sink() as s, hello(s) as c:
        c.cmd("MAIL FROM:<dropped@example.org>")
        c.cmd("RCPT TO:<x@example.org>")
        c.cmd("RSET", "250")
        c.send_message("kept@example.org", ["y@example.org"], b"Subject: k\r\n\r\nk\r\n")
        c.cmd("RSET", "250")
        c.cmd("NOOP", "250")
        eq(s.count(), 1, "messages")
        rec = s.last()
        eq((rec["mail_from"], [r["addr"] for r in rec["rcpts"]]),
           ("kept@example.org", ["y@example.org"]), "envelope")
        eq(s.errors(), [], "protocol errors")


@test
def several_transactions_per_connection_and_record_fields():
    with Sink() as s, hello(s) as c:
        for i in range(3):
            c.send_message("s%d@example.org" % i, ["r@example.org"], b"n: %d\r\n\r\n" % i)
        c.quit()
        m = s.messages()
        eq([x["txn"] for x in m], [1, 2, 3], "transaction numbers")
        eq({x["conn"] for x in m}, {1}, "one connection")
        r = m[2]
        check(r["t_connect"] <= r["t_mail"] <= r["t_data"] <= r["t_end"] <= r["t_reply"],
              "timestamps in order: %r" % r)
        eq(r["peer"][0], "127.0.0.1", "peer address")
        eq(r["helo"], "client.test", "helo")
        for _ in range(100):        # the sink closes its end just after "221"
            conns = s.connections()
            if conns[0]["t_close"] is not None:
                break
            time.sleep(0.02)
        eq(len(conns), 1, "connections")
        eq(conns[0]["messages"], 3, "messages on the connection")
        check(conns[0]["t_close"] is not None, "connection closed")
        eq(conns[0]["end"], "quit (in command)", "how the connection ended")


# --- envelope details ---------------------------------------------------------------------

@test
def xforward_recorded_decoded_and_reset_per_transaction():
    with Sink() as s, hello(s) as c:
        c.cmd("XFORWARD NAME=mail.example.net ADDR=192.0.2.1 PORT=25000", "250")
        c.cmd("XFORWARD PROTO=ESMTP HELO=a+2Bb.example SOURCE=REMOTE IDENT=[UNAVAILABLE]",
              "250")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("XFORWARD ADDR=192.0.2.9", "503 5.5.1")
        c.cmd("RCPT TO:<b@example.org>")
        c.cmd("DATA", "354")
        c.data(b"x: 1\r\n\r\n")
        c.expect("250")
        want = {"NAME": "mail.example.net", "ADDR": "192.0.2.1", "PORT": "25000",
                "PROTO": "ESMTP", "HELO": "a+b.example", "SOURCE": "REMOTE",
                "IDENT": "[UNAVAILABLE]"}
        eq(s.last()["xforward"], want, "xforward attributes")
        eq(len(s.last()["xforward_lines"]), 2, "xforward lines")
        c.send_message("a@example.org", ["b@example.org"], b"x: 2\r\n\r\n")
        eq(s.last()["xforward"], {}, "attributes cleared after the transaction")
        c.cmd("XFORWARD ADDR=192.0.2.2", "250")
        c.cmd("XFORWARD ADDR=192.0.2.3", "250")
        c.send_message("a@example.org", ["b@example.org"], b"x: 3\r\n\r\n")
        eq(s.last()["xforward"], {"ADDR": "192.0.2.3"}, "later XFORWARD overrides")
        c.cmd("XFORWARD BOGUS=1", "501")
        c.cmd("XFORWARD NAME=bad+zz", "501")
        eq(len(s.errors()), 3, "errors noted: %r" % s.errors())
    with Sink() as s, hello(s) as c:
        s.without_extension("XFORWARD")
        c.ehlo()
        check(not c.has("XFORWARD"), "XFORWARD no longer offered")
        c.cmd("XFORWARD ADDR=192.0.2.1", "550")
        check(any("not offered" in e for e in s.errors()), "noted: %r" % s.errors())


@test
def dsn_and_smtputf8_parameters_recorded_verbatim():
    sender = "j\u00f6rg@b\u00fccher.example"
    with Sink() as s, hello(s) as c:
        c.cmd("MAIL FROM:<%s> SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=abc+2Bdef SIZE=99" % sender)
        c.cmd("RCPT TO:<r\u00e9@example.org> NOTIFY=SUCCESS,DELAY "
              "ORCPT=utf-8;r\\x{E9}@example.org")
        c.cmd("RCPT TO:<plain@example.org> NOTIFY=NEVER")
        c.cmd("DATA", "354")
        c.data("Subject: \u00fc\r\n\r\nb\u00f6dy\r\n".encode())
        c.expect("250")
        rec = s.last()
        eq(rec["mail_from"], sender, "sender")
        eq(rec["mail_params"], ["SMTPUTF8", "BODY=8BITMIME", "RET=HDRS", "ENVID=abc+2Bdef",
                                "SIZE=99"], "MAIL params")
        eq(rec["mail_params_map"]["ENVID"], "abc+2Bdef", "ENVID kept as xtext")
        eq(rec["mail_params_map"]["SMTPUTF8"], None, "SMTPUTF8 has no value")
        eq(rec["rcpts"][0]["params"], ["NOTIFY=SUCCESS,DELAY",
                                       "ORCPT=utf-8;r\\x{E9}@example.org"], "RCPT params")
        eq(rec["rcpts"][1]["params_map"], {"NOTIFY": "NEVER"}, "RCPT 2 params")
        eq(s.errors(), [], "protocol errors")
    with Sink() as s:
        with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
            cl.sendmail(sender, ["b@example.org"], b"Subject: x\r\n\r\ny\r\n",
                        mail_options=["SMTPUTF8", "RET=FULL", "ENVID=q1"],
                        rcpt_options=["NOTIFY=FAILURE", "ORCPT=rfc822;b@example.org"])
        rec = s.last()
        eq(rec["mail_from"], sender, "smtplib sender")
        eq(rec["mail_params"][1:], ["SMTPUTF8", "RET=FULL", "ENVID=q1"], "smtplib MAIL params")
        eq(rec["rcpts"][0]["params"], ["NOTIFY=FAILURE", "ORCPT=rfc822;b@example.org"],
           "smtplib RCPT params")


@test
def size_limit_552_on_mail_and_at_end_of_data():
    with Sink(max_message=1000) as s, hello(s) as c:
        eq(c.capabilities["SIZE"], ["1000"], "advertised SIZE")
        c.cmd("MAIL FROM:<a@example.org> SIZE=1001", "552 5.3.4")
        c.cmd("MAIL FROM:<a@example.org> SIZE=900")
        c.cmd("RCPT TO:<b@example.org>")
        c.cmd("DATA", "354")
        c.data(b"x" * 600 + b"\r\n" + b"y" * 600 + b"\r\n")
        c.expect("552 5.3.4")
        rec = s.last()
        check(rec["oversize"] and not rec["accepted"] and rec["data"] is None, "oversize record")
        eq(s.count(), 0, "accepted messages")
        eq(s.count(accepted_only=False), 1, "recorded messages")
        c.send_message("a@example.org", ["b@example.org"], b"small\r\n")
        eq(s.count(), 1, "the session goes on")


@test
def per_recipient_mixed_replies():
    with Sink() as s, hello(s) as c:
        s.fail("rcpt", "451 4.2.0 later", n=2)
        s.fail("rcpt", "550 5.1.1 no such user", match="nobody@example.org")
        s.fail("rcpt", "452 4.2.2 full", match="@full.example")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<r1@example.org>", "250")
        c.cmd("RCPT TO:<r2@example.org>", "451 4.2.0")
        c.cmd("RCPT TO:<NoBody@example.org>", "550 5.1.1")
        c.cmd("RCPT TO:<x@full.example>", "452")
        c.cmd("RCPT TO:<r5@example.org>", "250")
        c.cmd("DATA", "354")
        c.data(b"s: 1\r\n\r\n")
        c.expect("250")
        rec = s.last()
        eq([r["addr"] for r in rec["rcpts"]], ["r1@example.org", "r5@example.org"], "accepted")
        eq([(r["n"], r["reply"]) for r in rec["rcpts_rejected"]],
           [(2, "451 4.2.0 later"), (3, "550 5.1.1 no such user"), (4, "452 4.2.2 full")],
           "rejected")
        c.cmd("MAIL FROM:<a@example.org>")
        c.cmd("RCPT TO:<r1@example.org>", "250")
        c.cmd("RCPT TO:<r2@example.org>", "451")     # numbering restarts per transaction
        c.cmd("DATA", "354")
        c.data(b"s: 2\r\n\r\n")
        c.expect("250")
    with Sink() as s:
        s.fail("rcpt", "550 5.1.1 no such user", match="bad@example.org")
        with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
            refused = cl.sendmail("a@example.org", ["ok@example.org", "bad@example.org"],
                                  b"x: y\r\n\r\n")
        eq(list(refused), ["bad@example.org"], "smtplib sees the refused recipient")
        eq([r["addr"] for r in s.last()["rcpts"]], ["ok@example.org"], "sink recipients")


# --- faults -------------------------------------------------------------------------------

def _drive_to(c, step):
    """Run a conversation up to the command of `step`; returns the line that triggers it."""
    if step in ("connect",):
        return None
    c.expect("220")
    if step == "ehlo":
        return "EHLO client.test"
    if step == "helo":
        return "HELO client.test"
    c.ehlo()
    if step in ("xforward", "noop", "rset", "quit", "vrfy"):
        return {"xforward": "XFORWARD ADDR=192.0.2.1", "noop": "NOOP", "rset": "RSET",
                "quit": "QUIT", "vrfy": "VRFY x"}[step]
    if step == "mail":
        return "MAIL FROM:<a@example.org>"
    c.cmd("MAIL FROM:<a@example.org>")
    if step == "rcpt":
        return "RCPT TO:<b@example.org>"
    c.cmd("RCPT TO:<b@example.org>")
    if step == "data":
        return "DATA"
    c.cmd("DATA", "354")
    return "BODY"


def _trigger(c, line):
    if line == "BODY":
        c.data(b"Subject: fault\r\n\r\nbody\r\n")
    elif line is not None:
        c.send(line)


@test
def fault_replies_4xx_and_5xx_at_each_step():
    steps = ("connect", "ehlo", "helo", "xforward", "mail", "rcpt", "data", "eod", "rset",
             "noop", "vrfy", "quit")
    seen = 0
    with Sink() as s:
        for step in steps:
            for reply in ("451 4.3.0 try later", "554 5.7.1 go away"):
                s.reset()
                s.fail(step, reply)
                with Conversation("127.0.0.1", s.port, timeout=3) as c:
                    _trigger(c, _drive_to(c, step))
                    r = c.expect(reply[:3])
                    eq(r.first, reply, "reply at %s" % step)
                    seen += 1
                    if step == "eod":
                        rec = s.last()
                        eq((rec["reply"], rec["accepted"]), (reply, False), "eod record")
                        eq(s.count(), 0, "accepted after a failed eod")
                    if step == "connect":
                        c.cmd("MAIL FROM:<a@example.org>", "503")   # only QUIT after that
                        c.cmd("QUIT", "221")
                    if step == "mail":
                        c.cmd("RCPT TO:<b@example.org>", "503")     # no transaction began
                    if step == "data":
                        c.cmd("RSET", "250")
        eq(seen, 2 * len(steps), "cases")


@test
def fault_421_reply_closes_the_connection():
    with Sink() as s:
        for step in ("connect", "mail", "eod"):
            s.reset()
            s.fail(step, "421 4.3.2 shutting down")
            with Conversation("127.0.0.1", s.port, timeout=3) as c:
                _trigger(c, _drive_to(c, "eod" if step == "eod" else step))
                c.expect("421 4.3.2")
                c.expect_closed(2.0)


@test
def fault_multi_line_reply():
    with Sink() as s:
        s.fail("mail", ["450-4.7.1 first line", "450 4.7.1 second line"])
        with Conversation("127.0.0.1", s.port, timeout=3) as c:
            c.expect("220")
            c.ehlo()
            r = c.cmd("MAIL FROM:<a@example.org>", "450")
            eq(r.lines, ["4.7.1 first line", "4.7.1 second line"], "reply lines")


@test
def fault_delay_before_a_reply():
    with Sink() as s:
        s.delay("mail", 0.6)
        s.fail("eod", "451 4.3.0 slow and failed", delay=0.3)
        with hello(s) as c:
            t0 = time.monotonic()
            c.cmd("MAIL FROM:<a@example.org>")
            took = time.monotonic() - t0
            check(0.55 <= took < 3.0, "MAIL reply after %.2f s, want about 0.6" % took)
            c.cmd("RCPT TO:<b@example.org>")
            c.cmd("DATA", "354")
            t0 = time.monotonic()
            c.data(b"x: y\r\n\r\n")
            c.expect("451")
            took = time.monotonic() - t0
            check(0.25 <= took < 3.0, "eod reply after %.2f s, want about 0.3" % took)
        s.reset()
        s.delay("eod", 3.0)
        with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
            cl.sock.settimeout(0.4)
            t0 = time.monotonic()
            e = raises((socket.timeout, smtplib.SMTPServerDisconnected), cl.sendmail,
                       "a@example.org", ["b@example.org"], b"x: y\r\n\r\n")
            check(time.monotonic() - t0 < 2.0, "smtplib timed out quickly (%r)" % e)


@test
def fault_close_at_each_step():
    for step in ("connect", "ehlo", "xforward", "mail", "rcpt", "data", "body", "eod", "rset"):
        with Sink() as s:
            s.close_at(step)
            with Conversation("127.0.0.1", s.port, timeout=3) as c:
                _trigger(c, _drive_to(c, "eod" if step == "body" else step))
                c.expect_closed(2.0)
            if step == "eod":
                rec = s.last()
                eq((rec["reply"], rec["accepted"]), (None, False), "record of a closed eod")
            if step == "body":
                eq(s.count(False), 0, "no record when closed mid-data")
            check(s.wait_connections(1, 2.0), "connection seen")


@test
def fault_close_after_a_delay():
    with Sink() as s:
        s.close_at("mail", delay=0.3)
        with hello(s) as c:
            t0 = time.monotonic()
            c.send("MAIL FROM:<a@example.org>")
            c.expect_closed(3.0)
            check(time.monotonic() - t0 >= 0.25, "closed after the delay")


@test
def fault_no_greeting_and_hang():
    with Sink(max_hang=5.0) as s:
        s.no_greeting()
        with Conversation("127.0.0.1", s.port, timeout=3) as c:
            e = raises(SMTPFailure, c.expect, "220", 0.4)
            check("timeout" in str(e), "client reports a timeout: %s" % e)
        s.reset()
        s.hang_at("eod")
        with hello(s) as c:
            c.cmd("MAIL FROM:<a@example.org>")
            c.cmd("RCPT TO:<b@example.org>")
            c.cmd("DATA", "354")
            c.data(b"x: y\r\n\r\n")
            c.expect_silence(0.4)
            eq(s.last()["reply"], None, "a hung eod is recorded without a reply")
        s.reset()
        s.no_greeting(times=1)
        with Conversation("127.0.0.1", s.port, timeout=3) as c:
            c.expect_silence(0.2)
        with Conversation("127.0.0.1", s.port, timeout=3) as c:
            c.expect("220")     # times=1: the second connection is greeted


@test
def fault_refuse_then_accept_on_the_same_port():
    with Sink() as s:
        port = s.port
        with hello(s) as old:
            s.refuse()
            check(not s.listening(), "not listening")
            raises(ConnectionRefusedError, Conversation, "127.0.0.1", port, timeout=1)
            check(not can_connect("127.0.0.1", port), "can_connect says no")
            old.cmd("NOOP", "250")      # an existing session goes on
            s.accept()
            eq(s.port, port, "same port")
            with hello(s) as c:
                c.cmd("NOOP", "250")
            s.refuse(drop_existing=True)
            old.expect_closed(2.0)
        s.accept()
        with smtplib.SMTP("127.0.0.1", port, timeout=3) as cl:
            eq(cl.noop()[0], 250, "smtplib NOOP after accept")


@test
def fault_close_after_the_reply_and_only_on_a_reused_connection():
    with Sink() as s:
        s.close_at("mail", reused=True)
        s.close_after("eod", times=2)
        with hello(s) as c:     # first message: the MAIL rule does not apply yet
            c.send_message("a@example.org", ["b@example.org"], b"x: y\r\n\r\n")
            c.expect_closed(2.0)
        eq(s.last()["accepted"], True, "the reply was sent before the close")
        with hello(s) as c:     # a new connection has no message: MAIL goes through
            c.send_message("a@example.org", ["b@example.org"], b"x: y\r\n\r\n")
            c.expect_closed(2.0)
        with hello(s) as c:     # the eod rule is used up: the second MAIL hits reused=True
            c.send_message("a@example.org", ["b@example.org"], b"x: y\r\n\r\n")
            c.send("MAIL FROM:<a@example.org>")
            c.expect_closed(2.0)
        eq(s.count(), 3, "messages")
        ends = [x["end"] for x in s.connections()]
        check(ends[0].startswith("closed by rule after eod") and
              ends[2].startswith("closed by rule at mail"), "ends %r" % ends)
        raises(ValueError, s.rule, "mail", after=True, close=True)


@test
def times_limits_a_rule():
    with Sink() as s, hello(s) as c:
        r = s.fail("mail", "451 4.3.0 once", times=1)
        c.cmd("MAIL FROM:<a@example.org>", "451")
        c.cmd("MAIL FROM:<a@example.org>", "250")
        eq(r.fired, 1, "fired")
        eq(s.rules()[0]["fired"], 1, "rules() reports fired")


@test
def rules_reject_bad_arguments():
    with Sink() as s:
        raises(ValueError, s.fail, "nosuchstep", "451 x")
        raises(ValueError, s.fail, "mail", "not a reply")
        raises(ValueError, s.fail, "mail", "451 x", n=2)
        raises(ValueError, s.rule, "mail")
        raises(ValueError, s.delay, "mail", -1)


# --- limits and strictness ----------------------------------------------------------------

@test
def limits_line_length_connections_idle_timeout():
    with Sink(max_line=200, max_connections=2, idle_timeout=0.4) as s:
        with hello(s) as c:
            c.cmd("NOOP " + "x" * 500, "500 5.5.2")
            c.cmd("NOOP", "250")        # the session survives
            with hello(s):
                with Conversation("127.0.0.1", s.port, timeout=3) as third:
                    third.expect("421 4.3.2")
                    third.expect_closed(2.0)
                eq(s.refused_full(), 1, "refused_full")
            time.sleep(0.5)
            c.expect("421 4.4.2")
            c.expect_closed(2.0)


@test
def sequence_errors_get_real_replies_and_are_noted():
    with Sink() as s:
        with Conversation("127.0.0.1", s.port, timeout=3) as c:
            c.expect("220")
            c.cmd("MAIL FROM:<a@example.org>", "503")
            c.cmd("EHLO client.test", "250")
            c.cmd("RCPT TO:<b@example.org>", "503")
            c.cmd("DATA", "503")
            c.cmd("MAIL FROM:<a@example.org>", "250")
            c.cmd("MAIL FROM:<a@example.org>", "503")
            c.cmd("DATA", "554")        # no valid recipients
            c.cmd("BDAT 10 LAST", "500")
            c.cmd("FROBNICATE", "500 5.5.2")
            c.send_raw(b"NOOP\n")
            c.expect("250")
            c.cmd("MAIL FROM:a@example.org", "503")
            c.cmd("VRFY x", "252")
            c.cmd("HELP", "214")
        errs = s.errors()
        for frag in ("MAIL before", "RCPT without", "DATA without", "nested MAIL", "BDAT",
                     "FROBNICATE", "bare LF"):
            check(any(frag in e for e in errs), "%r noted in %r" % (frag, errs))


@test
def wait_for_counts_messages():
    with Sink() as s:
        def later():
            time.sleep(0.2)
            with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
                cl.sendmail("a@example.org", ["b@example.org"], b"x: y\r\n\r\n")
        t = threading.Thread(target=later)
        t.start()
        check(s.wait_for(1, timeout=5), "wait_for(1)")
        t.join(5)
        check(not s.wait_for(2, timeout=0.2), "wait_for(2) times out")
        eq(s.connection_count(), 1, "connection_count")


@test
def asyncio_mode():
    async def main():
        s = Sink()
        await s.start_async()
        try:
            def client():
                with smtplib.SMTP("127.0.0.1", s.port, timeout=3) as cl:
                    cl.sendmail("a@example.org", ["b@example.org"], b"x: async\r\n\r\n")
            await asyncio.wait_for(asyncio.to_thread(client), 5)
            check(await s.wait_for_async(1, 2), "wait_for_async")
            await s.refuse_async()
            check(not can_connect("127.0.0.1", s.port, 0.5), "refused")
            await s.accept_async()
        finally:
            await s.stop_async()
        return s.last()
    rec = asyncio.run(main())
    eq(rec["data"], b"x: async\r\n\r\n", "message")


@test
def client_failure_message_shows_the_transcript():
    with Sink() as s, hello(s) as c:
        e = raises(SMTPFailure, c.cmd, "MAIL FROM:<a@example.org>", "451")
        text = str(e)
        for frag in ("expected a reply matching '451'", "--- transcript ---",
                     "C: EHLO client.test", "S: 250 2.1.0 Ok"):
            check(frag in text, "%r in the failure message:\n%s" % (frag, text))
        c.send("QUIT")
        c.expect("221")
        e = raises(SMTPFailure, c.expect, "250", 2.0)
        check("closed by peer" in str(e), "EOF reported: %s" % e)


# --- CLI and scenarios --------------------------------------------------------------------

def _start_cli(tmp, *extra):
    args = [PYTHON, os.path.join(HERE, "sink.py"), "--port", "0", "--lifetime", "60"]
    args += list(extra)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    ready, _, _ = select.select([p.stdout], [], [], 5.0)
    if not ready:
        _end(p)
        raise AssertionError("sink.py printed no port within 5 s")
    line = p.stdout.readline()
    try:
        return p, int(line)
    except ValueError:
        _end(p)
        raise AssertionError("sink.py printed %r, not a port" % line)


def _end(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
    for f in (p.stdout, p.stderr):
        if f:
            f.close()


@test
def cli_sink_with_maildir_and_control_socket():
    with tempfile.TemporaryDirectory() as tmp:
        md = os.path.join(tmp, "Maildir")
        ctl = os.path.join(tmp, "sink.sock")
        pf = os.path.join(tmp, "port")
        p, port = _start_cli(tmp, "--maildir", md, "--control", ctl, "--port-file", pf)
        try:
            with open(pf) as f:
                eq(int(f.read()), port, "port file")
            sc = SinkClient(ctl, timeout=5)
            check(sc.ping(), "ping")
            eq(sc.port, port, "port over control")
            sc.fail("rcpt", "550 5.1.1 no such user", match="bad@example.org")
            eq(len(sc.rules()), 1, "rules over control")
            with smtplib.SMTP("127.0.0.1", port, timeout=3) as cl:
                refused = cl.sendmail("a@example.org", ["b@example.org", "bad@example.org"],
                                      ALL_BYTES_BODY, mail_options=["BODY=8BITMIME"])
            eq(list(refused), ["bad@example.org"], "refused")
            check(sc.wait_for(1, timeout=3), "wait_for over control")
            rec = sc.last()
            eq(rec["data"], ALL_BYTES_BODY, "message bytes over control")
            eq(sc.count(), 1, "count over control")
            files = os.listdir(os.path.join(md, "new"))
            eq(len(files), 1, "Maildir files")
            with open(os.path.join(md, "new", files[0]), "rb") as f:
                eq(f.read(), ALL_BYTES_BODY, "Maildir file bytes")
            with open(os.path.join(md, "meta", files[0] + ".json")) as f:
                meta = json.load(f)
            eq([r["addr"] for r in meta["rcpts"]], ["b@example.org"], "meta rcpts")
            sc.refuse()
            check(not can_connect("127.0.0.1", port), "refused via control")
            sc.accept()
            check(can_connect("127.0.0.1", port), "accepting again")
            raises(Exception, sc.call, "nosuchop")
            sc.reset()
            eq(sc.count(), 0, "reset over control")
            sc.shutdown()
            eq(p.wait(5), 0, "exit status after shutdown")
        finally:
            _end(p)


@test
def cli_sink_on_a_given_port_ends_on_sigterm():
    with tempfile.TemporaryDirectory() as tmp:
        want = free_port()
        check(not can_connect("127.0.0.1", want), "free_port gave a free port")
        p, port = _start_cli(tmp, "--port", str(want))
        try:
            eq(port, want, "the port asked for")
            check(wait_port("127.0.0.1", port, 5, proc=p), "wait_port")
            os.kill(p.pid, signal.SIGTERM)
            eq(p.wait(5), 0, "exit status after SIGTERM")
        finally:
            _end(p)


@test
def scenario_file_passes_against_an_in_process_sink():
    out = io.StringIO()
    with Sink() as s:
        passed, failed = scenario.run_files([os.path.join(HERE, "scenarios", "sink.scn")],
                                            "127.0.0.1", s.port, s, out=out)
    if failed or passed != 5 or not out.getvalue().endswith("5 passed, 0 failed\n"):
        raise AssertionError("scenario run: %d passed, %d failed\n%s"
                             % (passed, failed, out.getvalue()))


@test
def scenario_runner_reports_failures():
    bad = """
scenario wrong reply code
<< 220
>> EHLO x
<< 250
>> MAIL FROM:<a@example.org>
<< tempfail

scenario wrong sink expectation
<< 220
>> EHLO x
<< 250
== sink count 1

scenario closed expected but open
<< 220
== closed 0.3

scenario passes
<< ok
>> QUIT
<< 221
"""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bad.scn")
        with open(path, "w") as f:
            f.write(bad)
        out = io.StringIO()
        with Sink() as s:
            passed, failed = scenario.run_files([path], "127.0.0.1", s.port, s, out=out)
        text = out.getvalue()
        eq((passed, failed), (1, 3), "passed/failed\n" + text)
        check("line 7: " in text and "sink count is 0, want 1" in text
              and "still open" in text and text.endswith("1 passed, 3 failed\n"),
              "failure lines:\n" + text)
    # every "== sink last" check must be able to fail: one message, then one wrong check
    # per scenario (the sink is not reset between them), then all of them right
    checks = [("from", "a@example.org", "x@example.org"),
              ("rcpts", "b@example.org c@example.org", "b@example.org"),
              ("rejected", "bad@example.org", ""),
              ("mail-params", "BODY=8BITMIME RET=HDRS", "BODY=8BITMIME"),
              ("rcpt-params", "b@example.org NOTIFY=NEVER", "b@example.org NOTIFY=SUCCESS"),
              ("xforward", "ADDR 192.0.2.1", "ADDR 192.0.2.2"),
              ("contains", '"\\r\\n.x"', '"\\r\\n..x"'),
              ("lacks", "zzz", "Subject"),
              ("header", "Subject", "From"),
              ("reply", "250", "251"),
              ("size", "18", "17"),
              ("bare-lf", "no", "yes")]
    text = """scenario send
<< 220
>> EHLO x
<< 250
!! sink fail rcpt bad@example.org "550 5.1.1 no"
>> XFORWARD ADDR=192.0.2.1
<< 250
>> MAIL FROM:<a@example.org> BODY=8BITMIME RET=HDRS
<< 250
>> RCPT TO:<b@example.org> NOTIFY=NEVER
<< 250
>> RCPT TO:<bad@example.org>
<< 550
>> RCPT TO:<c@example.org>
<< 250
>> DATA
<< 354
|| Subject: s
||
|| .x
<< 250
== sink count 1
"""
    for what, right, wrong in checks:
        if wrong is not None:
            text += "scenario wrong %s\n== sink last %s %s\n" % (what, what, wrong)
    text += "scenario wrong count\n== sink count 2\n"
    text += "scenario all right\n" + "".join("== sink last %s %s\n" % (w, r)
                                               for w, r, _ in checks)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checks.scn")
        with open(path, "w") as f:
            f.write(text)
        out = io.StringIO()
        with Sink() as s:
            passed, failed = scenario.run_files([path], "127.0.0.1", s.port, s, out=out,
                                                reset=False)
        report = out.getvalue()
        want_failed = sum(1 for c in checks if c[2] is not None) + 1
        eq((passed, failed), (2, want_failed), "passed/failed\n" + report)
        check("ok      checks.scn: send" in report, "the sending scenario passed:\n" + report)
    # same-as-sent and ends-with-sent compare with what this scenario sent: checked here
    out = io.StringIO()
    with Sink() as s:
        s.fail("eod", "250 2.0.0 fine")
        r = scenario.Runner("127.0.0.1", s.port, s, out=out)
        sc = scenario.parse("scenario x\n<< 220\n>> EHLO x\n<< 250\n"
                            ">> MAIL FROM:<a@example.org>\n<< 250\n>> RCPT TO:<b@example.org>\n"
                            "<< 250\n>> DATA\n<< 354\n|| a\n<< 250\n>> MAIL FROM:<a@example.org>\n"
                            "<< 250\n>> RCPT TO:<b@example.org>\n<< 250\n>> DATA\n<< 354\n"
                            "|| b\n<< 250\n!! sink clear\n== sink last same-as-sent\n", "f")[0]
        sc.steps.insert(14, (0, "==", "sink last same-as-sent"))   # after the first message
        ok, why = r.run_scenario(sc)
        check(ok, "same-as-sent right: " + why)
        sc.steps.insert(14, (0, "==", "sink last ends-with-sent"))
        sc.steps.insert(len(sc.steps), (0, "==", "sink count 9"))
        ok, why = r.run_scenario(sc)
        check(not ok and "sink count is 2, want 9" in why, "count wrong: " + why)
    raises(scenario.ScenarioError, scenario.parse, ">> x\n", "f")
    raises(scenario.ScenarioError, scenario.parse, "scenario a\nfoo bar\n", "f")
    raises(scenario.ScenarioError, scenario.parse, "scenario a\ncall nothing\n", "f")
    eq(scenario.unescape("a\\r\\n\\x00\\\\\u00e9"), b"a\r\n\x00\\\xc3\xa9", "unescape")


@test
def scenario_cli_against_a_sink_process():
    with tempfile.TemporaryDirectory() as tmp:
        ctl = os.path.join(tmp, "sink.sock")
        p, port = _start_cli(tmp, "--control", ctl)
        try:
            r = subprocess.run([PYTHON, os.path.join(HERE, "scenario.py"), "--port", str(port),
                                "--sink-control", ctl,
                                os.path.join(HERE, "scenarios", "sink.scn")],
                               capture_output=True, timeout=30,
                               env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
            out = r.stdout.decode(errors="replace")
            eq(r.returncode, 0, "scenario.py exit status\n" + out + r.stderr.decode())
            check(out.endswith("5 passed, 0 failed\n"), "summary line:\n" + out)
        finally:
            _end(p)


# --- runner -------------------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout("test ran over %d s" % TEST_TIMEOUT)


def main(argv):
    global VERBOSE
    args = [a for a in argv if a != "-v"]
    VERBOSE = len(args) != len(argv)
    chosen = [t for t in TESTS if not args or any(a in t.__name__ for a in args)]
    signal.signal(signal.SIGALRM, _alarm)
    passed = failed = 0
    t_all = time.monotonic()
    for t in chosen:
        t0 = time.monotonic()
        signal.alarm(TEST_TIMEOUT)
        try:
            t()
            ok, why = True, ""
        except Exception as e:  # any failure of the test, reported below
            ok = False
            why = "%s: %s" % (e.__class__.__name__, e)
            if VERBOSE or not isinstance(e, AssertionError):
                why += "\n" + traceback.format_exc()
        finally:
            signal.alarm(0)
        took = time.monotonic() - t0
        if ok:
            passed += 1
            print("ok      %s (%.2fs)" % (t.__name__, took), flush=True)
        else:
            failed += 1
            print("FAILED  %s (%.2fs): %s" % (t.__name__, took,
                                             why.rstrip().replace("\n", "\n        ")),
                  flush=True)
    print("total %.1fs" % (time.monotonic() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not chosen else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sink.py - the downstream SMTP test server (the "return port" stand-in) for arcproxy's tests.

It listens on 127.0.0.1 (port 0 picks a free port), speaks ESMTP with PIPELINING, SIZE,
8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, DSN and XFORWARD, records every message byte-exact
with its envelope, and replies with faults a test sets at run time (a reply, a delay, a
close or a hang at a given step). It is strict: what a correct SMTP client would not do is
answered as a real server would and also noted in errors(), so a test can assert that the
daemon's re-injection client behaved.

Library (a thread runs the event loop):

    from sink import Sink
    with Sink() as sink:
        sink.fail("rcpt", "451 4.2.0 later", n=2)
        ... send mail to sink.port ...
        assert sink.wait_for(1)
        rec = sink.last()        # dict: mail_from, rcpts, xforward, data (bytes), reply, ...

or inside a running asyncio loop: `await sink.start_async()` ... `await sink.stop_async()`.

CLI:

    sink.py --port 0 --maildir DIR --control SOCKET [--port-file FILE] [--lifetime SECONDS]

prints the port it listens on (one line), then serves until SIGTERM/SIGINT, a "shutdown"
request on the control socket, or --lifetime seconds. The control socket is a Unix-domain
socket taking one JSON request per line with the library's calls; SinkClient wraps it.

docs/testing-smtp.md describes the tools and how the daemon's tests use them.
"""

import argparse
import asyncio
import base64
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import threading
import time

STEPS = ("connect", "ehlo", "helo", "xforward", "mail", "rcpt", "data", "body", "eod", "rset",
         "noop", "quit", "vrfy")
XFORWARD_ATTRS = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
DEFAULT_EXTENSIONS = ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN",
                      "XFORWARD " + " ".join(XFORWARD_ATTRS))
RFC_LINE_LIMIT = 1000       # octets, CRLF included (RFC 5321 4.5.3.1.6)
MAX_DELAY = 600.0           # no rule sleeps longer than this
MAX_LOG = 2000              # log lines kept per connection
MAX_ERRORS = 1000           # protocol errors kept
MAX_CONN_RECORDS = 10000    # connection records kept
MAX_RCPTS = 1000            # recipients per transaction
MAX_COMMANDS = 100000       # commands per connection

_REPLY_RE = re.compile(r"^([2-5][0-9][0-9])(?:([ -])(.*))?$", re.S)
_MAIL_RE = re.compile(r"^FROM:\s*(<[^>]*>|[^\s<>]+)(?:\s+(.*?))?\s*$", re.I | re.S)
_RCPT_RE = re.compile(r"^TO:\s*(<[^>]*>|[^\s<>]+)(?:\s+(.*?))?\s*$", re.I | re.S)
_XTEXT_RE = re.compile(r"\+([0-9A-Fa-f]{2})")


def xtext_decode(value):
    """RFC 3461 xtext to str (octets decoded as UTF-8, bad octets kept as surrogates)."""
    if re.search(r"\+(?![0-9A-Fa-f]{2})", value):
        raise ValueError("bad xtext escape in %r" % value)
    out = bytearray()
    pos = 0
    for m in _XTEXT_RE.finditer(value):
        out += value[pos:m.start()].encode("utf-8", "surrogateescape")
        out.append(int(m.group(1), 16))
        pos = m.end()
    out += value[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")


def xtext_encode(value):
    """str to RFC 3461 xtext ("+" "=" controls, space and non-ASCII as +XX)."""
    out = []
    for b in value.encode("utf-8", "surrogateescape"):
        if 33 <= b <= 126 and b not in (0x2B, 0x3D):
            out.append(chr(b))
        else:
            out.append("+%02X" % b)
    return "".join(out)


def parse_params(params):
    """["SIZE=12", "BODY=8BITMIME", "SMTPUTF8"] -> {"SIZE": "12", "BODY": "8BITMIME",
    "SMTPUTF8": None}; keys upper-cased, values verbatim."""
    out = {}
    for p in params:
        key, eq, val = p.partition("=")
        out[key.upper()] = val if eq else None
    return out


def format_reply(reply):
    """A reply given as "451 4.3.0 try later", a list of such lines, or one string with
    newlines -> (wire bytes with the right continuation marks, text with lines joined by
    "\\n"). Raises ValueError for anything that is not an SMTP reply."""
    if isinstance(reply, (list, tuple)):
        lines = [str(x) for x in reply]
    else:
        lines = str(reply).split("\n")
    lines = [x.rstrip("\r") for x in lines if x.strip("\r") != ""]
    if not lines:
        raise ValueError("empty SMTP reply")
    code = None
    texts = []
    for x in lines:
        m = _REPLY_RE.match(x)
        if m is None:
            raise ValueError("not an SMTP reply line: %r" % x)
        if code is None:
            code = m.group(1)
        elif m.group(1) != code:
            raise ValueError("reply lines with different codes: %r" % lines)
        texts.append(m.group(3) or "")
    wire = "".join("%s%s%s\r\n" % (code, "-" if i < len(texts) - 1 else " ", t)
                   for i, t in enumerate(texts))
    return wire.encode("utf-8", "surrogateescape"), "\n".join(code + " " + t for t in texts)


class Rule:
    """One fault: at `step`, optionally only for recipient number `n` (1-based, per
    transaction) or for address `match` (exact, case-insensitive; "@domain" matches the
    domain), only on a connection that already took a message (`reused`), at most `times`
    times: sleep `delay` seconds, then hang, close, or send `reply` instead of the normal
    reply; with `after`, send the reply (normal or `reply`) and then close."""

    def __init__(self, step, reply=None, delay=0.0, close=False, hang=False, n=None,
                 match=None, times=None, after=False, reused=False):
        if step not in STEPS:
            raise ValueError("unknown step %r (steps: %s)" % (step, " ".join(STEPS)))
        if reply is not None:
            format_reply(reply)
        delay = float(delay or 0.0)
        if not 0.0 <= delay <= MAX_DELAY:
            raise ValueError("delay %r outside 0..%s" % (delay, MAX_DELAY))
        if reply is None and not delay and not close and not hang and not after:
            raise ValueError("a rule needs a reply, a delay, close, hang or after")
        if after and (close or hang):
            raise ValueError("after= closes after the reply: not with close= or hang=")
        if n is not None and step != "rcpt":
            raise ValueError("n= only applies to the rcpt step")
        if times is not None and int(times) < 1:
            raise ValueError("times must be >= 1")
        self.step = step
        self.reply = reply
        self.delay = delay
        self.close = bool(close)
        self.hang = bool(hang)
        self.n = None if n is None else int(n)
        self.match = None if match is None else str(match).strip("<>").lower()
        self.times = None if times is None else int(times)
        self.after = bool(after)
        self.reused = bool(reused)
        self.fired = 0

    def applies(self, step, n, addr, conn_msgs=0):
        if step != self.step:
            return False
        if self.reused and conn_msgs < 1:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.n is not None and n != self.n:
            return False
        if self.match is not None:
            a = (addr or "").lower()
            if self.match.startswith("@"):
                return a.endswith(self.match)
            return a == self.match
        return True

    def as_dict(self):
        return {"step": self.step, "reply": self.reply, "delay": self.delay, "close": self.close,
                "hang": self.hang, "n": self.n, "match": self.match, "times": self.times,
                "after": self.after, "reused": self.reused, "fired": self.fired}

    def __repr__(self):
        return "Rule(%r)" % self.as_dict()


class _Closed(Exception):
    """The connection is over: the peer went away, timed out, or a rule closed it."""


class _Session:
    """One SMTP connection to the sink."""

    def __init__(self, sink, reader, writer, cid):
        self.sink = sink
        self.reader = reader
        self.writer = writer
        self.cid = cid
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + sink.max_session
        self.buf = bytearray()
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.t_open = time.time()
        self.conn = {"id": cid, "peer": [peer[0], peer[1]], "t_open": self.t_open,
                     "t_close": None, "helo": None, "transactions": 0, "messages": 0,
                     "end": None, "log": []}
        sink._add_conn(self.conn)
        self.helo = None
        self.esmtp = False
        self.rejected = False
        self.txn = None
        self.txn_no = 0
        self.rcpt_n = 0
        self.xf = {}
        self.xf_lines = []
        self.xf_fresh = True
        self.state = "connect"

    # --- plumbing -------------------------------------------------------------------------

    def _log(self, text):
        log = self.conn["log"]
        if len(log) < MAX_LOG:
            log.append(text)
        elif len(log) == MAX_LOG:
            log.append("... (log truncated)")

    def _note(self, text):
        self._log("!! " + text)
        self.sink._note(self.cid, text)

    async def _fill(self, timeout):
        left = self.deadline - self.loop.time()
        if left <= 0:
            raise _Closed("session lifetime over")
        try:
            chunk = await asyncio.wait_for(self.reader.read(65536), min(timeout, left))
        except asyncio.TimeoutError:
            await self._send_reply("421 4.4.2 %s Error: timeout exceeded" % self.sink.hostname)
            raise _Closed("timeout")
        if not chunk:
            raise _Closed("eof")
        self.buf += chunk

    async def _send_reply(self, reply):
        wire, text = format_reply(reply)
        for x in text.split("\n"):
            self._log("S: " + x)
        self.writer.write(wire)
        try:
            await asyncio.wait_for(self.writer.drain(), self.sink.idle_timeout)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            raise _Closed("write failed")
        return text

    async def _hang(self):
        end = self.loop.time() + self.sink.max_hang
        self._log("-- hanging")
        while True:
            left = end - self.loop.time()
            if left <= 0:
                break
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                break
            if not chunk:
                break
        raise _Closed("hang over")

    async def _step(self, step, default, n=None, addr=None, before_send=None):
        """Reply for `step`: the default, or what a matching rule says. Returns the reply
        text; raises _Closed when the rule closes or hangs, or the reply is 421."""
        rule = self.sink._take_rule(step, n, addr, self.conn["messages"])
        reply = default
        if rule is not None:
            self._log("-- rule %s" % rule.as_dict())
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.hang or rule.close:
                if before_send is not None:
                    before_send(None)
                if rule.hang:
                    await self._hang()
                raise _Closed("closed by rule at %s" % step)
            if rule.reply is not None:
                reply = rule.reply
        text = format_reply(reply)[1]
        if before_send is not None:
            before_send(text)
        await self._send_reply(reply)
        if text.startswith("421"):
            raise _Closed("421")
        if rule is not None and rule.after:
            raise _Closed("closed by rule after %s" % step)
        return text

    async def _read_line(self):
        too_long = False
        for _ in range(MAX_COMMANDS):
            i = self.buf.find(b"\n")
            if i >= 0:
                raw = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if len(raw) > self.sink.max_line and not too_long:
                    self._note("command line over %d octets" % self.sink.max_line)
                    too_long = True
                if too_long:
                    too_long = False
                    await self._send_reply("500 5.5.2 Error: line too long")
                    continue
                break
            if len(self.buf) > self.sink.max_line:
                if not too_long:
                    self._note("command line over %d octets" % self.sink.max_line)
                too_long = True
                del self.buf[:]
            await self._fill(self.sink.idle_timeout)
        else:
            raise _Closed("too many overlong lines")
        if raw.endswith(b"\r\n"):
            raw = raw[:-2]
        else:
            raw = raw[:-1]
            self._note("command line ended by a bare LF")
        line = raw.decode("utf-8", "surrogateescape")
        self._log("C: " + line)
        return line

    # --- the conversation -----------------------------------------------------------------

    async def run(self):
        try:
            greeting = "220 %s ESMTP arcproxy test sink" % self.sink.hostname
            reply = await self._step("connect", greeting)
            if not reply.startswith("2"):
                self.rejected = True    # RFC 5321 3.1: only QUIT from now on
            self.state = "command"
            for _ in range(MAX_COMMANDS):
                line = await self._read_line()
                await self._dispatch(line)
        except _Closed as e:
            self.conn["end"] = "%s (in %s)" % (e, self.state)
        except (ConnectionError, OSError) as e:
            self.conn["end"] = "%s (in %s)" % (e.__class__.__name__, self.state)
        except asyncio.CancelledError:
            self.conn["end"] = "sink stopped (in %s)" % self.state
            raise
        finally:
            self.conn["t_close"] = time.time()
            try:
                self.writer.close()
            except Exception:
                pass

    async def _dispatch(self, line):
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if self.rejected and verb != "QUIT":
            await self._send_reply("503 5.5.1 Error: session rejected, only QUIT")
            return
        handler = {
            "EHLO": self._ehlo, "HELO": self._helo, "XFORWARD": self._xforward,
            "MAIL": self._mail, "RCPT": self._rcpt, "DATA": self._data, "RSET": self._rset,
            "NOOP": self._noop, "QUIT": self._quit, "VRFY": self._vrfy, "HELP": self._help,
        }.get(verb)
        if handler is None:
            self._note("unknown or unoffered command %r" % line[:80])
            await self._send_reply("500 5.5.2 Error: command not recognized")
            return
        await handler(line, arg)

    def _offers(self, keyword):
        return any(e.split()[0].upper() == keyword for e in self.sink._extensions_snapshot())

    def _reset_txn(self):
        self.txn = None
        self.rcpt_n = 0
        self.xf = {}
        self.xf_lines = []
        self.xf_fresh = True

    async def _ehlo(self, line, arg):
        if not arg.strip():
            self._note("EHLO without a name")
            await self._send_reply("501 5.5.4 Syntax: EHLO hostname")
            return
        lines = ["250 " + self.sink.hostname]
        for ext in self.sink._extensions_snapshot():
            if ext.upper() == "SIZE":
                ext = "SIZE %d" % self.sink.max_message
            lines.append("250 " + ext)
        reply = await self._step("ehlo", lines)
        if reply.startswith("2"):
            self.helo = arg.strip()
            self.conn["helo"] = self.helo
            self.esmtp = True
            self._reset_txn()

    async def _helo(self, line, arg):
        if not arg.strip():
            self._note("HELO without a name")
            await self._send_reply("501 5.5.4 Syntax: HELO hostname")
            return
        reply = await self._step("helo", "250 " + self.sink.hostname)
        if reply.startswith("2"):
            self.helo = arg.strip()
            self.conn["helo"] = self.helo
            self.esmtp = False
            self._reset_txn()

    async def _xforward(self, line, arg):
        if not self.esmtp or not self._offers("XFORWARD"):
            self._note("XFORWARD although not offered")
            await self._send_reply("550 5.7.0 Error: insufficient authorization")
            return
        if self.txn is not None:
            self._note("XFORWARD inside a mail transaction")
            await self._send_reply("503 5.5.1 Error: MAIL transaction in progress")
            return
        attrs = arg.split()
        if not attrs:
            self._note("XFORWARD without attributes")
            await self._send_reply("501 5.5.4 Syntax: XFORWARD attribute=value...")
            return
        if len(line.encode("utf-8", "surrogateescape")) + 2 > 512:
            self._note("XFORWARD command over 512 octets")
        parsed = {}
        for a in attrs:
            name, eq, val = a.partition("=")
            name = name.upper()
            if not eq or name not in XFORWARD_ATTRS:
                self._note("bad XFORWARD attribute %r" % a)
                await self._send_reply("501 5.5.4 Error: bad XFORWARD attribute name: %s" % name)
                return
            try:
                dec = xtext_decode(val)
            except ValueError:
                self._note("bad xtext in XFORWARD %r" % a)
                await self._send_reply("501 5.5.4 Error: bad XFORWARD attribute value: %s" % name)
                return
            if len(dec) > 255:
                self._note("XFORWARD %s value over 255 characters" % name)
                await self._send_reply("501 5.5.4 Error: XFORWARD %s value too long" % name)
                return
            parsed[name] = dec
        reply = await self._step("xforward", "250 2.0.0 Ok")
        if reply.startswith("2"):
            if self.xf_fresh:
                self.xf = {}
                self.xf_lines = []
                self.xf_fresh = False
            self.xf.update(parsed)
            self.xf_lines.append(line)

    async def _mail(self, line, arg):
        if self.helo is None:
            self._note("MAIL before HELO/EHLO")
            await self._send_reply("503 5.5.1 Error: send HELO/EHLO first")
            return
        if self.txn is not None:
            self._note("nested MAIL command")
            await self._send_reply("503 5.5.1 Error: nested MAIL command")
            return
        m = _MAIL_RE.match(arg)
        if m is None:
            self._note("bad MAIL syntax %r" % line[:80])
            await self._send_reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        path = m.group(1)
        if not path.startswith("<"):
            self._note("MAIL address without angle brackets")
        addr = path.strip("<>")
        params = m.group(2).split() if m.group(2) else []
        pmap = parse_params(params)
        if params and not self.esmtp:
            self._note("MAIL parameters after HELO")
        if any(ord(c) > 127 for c in addr) and "SMTPUTF8" not in pmap:
            self._note("8-bit sender address without SMTPUTF8")
        if "SIZE" in pmap:
            try:
                declared = int(pmap["SIZE"] or "")
            except ValueError:
                self._note("bad SIZE= value")
                await self._send_reply("501 5.5.4 Error: bad SIZE parameter")
                return
            if declared > self.sink.max_message:
                await self._send_reply("552 5.3.4 Error: message size exceeds fixed limit")
                return
        reply = await self._step("mail", "250 2.1.0 Ok", addr=addr)
        if not reply.startswith("2"):
            return
        self.txn_no += 1
        self.conn["transactions"] = self.txn_no
        self.rcpt_n = 0
        self.xf_fresh = True    # attributes apply to this transaction only
        self.txn = {
            "id": None, "conn": self.cid, "txn": self.txn_no, "peer": list(self.conn["peer"]),
            "helo": self.helo, "esmtp": self.esmtp,
            "mail_from": addr, "mail_line": line, "mail_params": params, "mail_params_map": pmap,
            "mail_reply": reply, "rcpts": [], "rcpts_rejected": [],
            "xforward": dict(self.xf), "xforward_lines": list(self.xf_lines),
            "data": None, "size": 0, "sha256": None, "oversize": False,
            "bare_lf": False, "bare_cr": False, "long_lines": 0,
            "reply": None, "accepted": False, "maildir_file": None,
            "t_connect": self.t_open, "t_mail": time.time(), "t_data": None, "t_end": None,
            "t_reply": None,
        }

    async def _rcpt(self, line, arg):
        if self.txn is None:
            self._note("RCPT without MAIL")
            await self._send_reply("503 5.5.1 Error: need MAIL command")
            return
        m = _RCPT_RE.match(arg)
        if m is None:
            self._note("bad RCPT syntax %r" % line[:80])
            await self._send_reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        path = m.group(1)
        if not path.startswith("<"):
            self._note("RCPT address without angle brackets")
        addr = path.strip("<>")
        params = m.group(2).split() if m.group(2) else []
        if any(ord(c) > 127 for c in addr) and "SMTPUTF8" not in self.txn["mail_params_map"]:
            self._note("8-bit recipient address without SMTPUTF8")
        if len(self.txn["rcpts"]) >= MAX_RCPTS:
            await self._send_reply("452 4.5.3 Error: too many recipients")
            return
        self.rcpt_n += 1
        reply = await self._step("rcpt", "250 2.1.5 Ok", n=self.rcpt_n, addr=addr)
        entry = {"n": self.rcpt_n, "addr": addr, "params": params,
                 "params_map": parse_params(params), "line": line, "reply": reply}
        if reply.startswith("2"):
            self.txn["rcpts"].append(entry)
        else:
            self.txn["rcpts_rejected"].append(entry)

    async def _data(self, line, arg):
        if self.txn is None:
            self._note("DATA without MAIL")
            await self._send_reply("503 5.5.1 Error: need RCPT command")
            return
        if arg.strip():
            self._note("DATA with an argument")
            await self._send_reply("501 5.5.4 Syntax: DATA")
            return
        if not self.txn["rcpts"]:
            await self._send_reply("554 5.5.1 Error: no valid recipients")
            return
        reply = await self._step("data", "354 End data with <CR><LF>.<CR><LF>")
        if not reply.startswith("3"):
            return
        if self.buf:
            self._note("message content sent before the 354 reply (PIPELINING violation)")
        txn = self.txn
        txn["t_data"] = time.time()
        self.state = "data"
        await self._read_data(txn)
        self.state = "command"
        txn["t_end"] = time.time()
        self._log("C: <message %d octets, sha256 %s>" % (txn["size"], txn["sha256"][:16]))
        if txn["bare_lf"]:
            self._note("bare LF in message content")
        if txn["bare_cr"]:
            self._note("bare CR in message content")
        if txn["long_lines"]:
            self._note("%d message lines over %d octets" % (txn["long_lines"], RFC_LINE_LIMIT))
        if txn["oversize"]:
            default = "552 5.3.4 Error: message file too big"
        else:
            default = "250 2.0.0 Ok: queued as S%d.%d" % (self.cid, self.txn_no)
        self._reset_txn()

        def record(text):
            self.sink._record(txn, text)
            self.conn["messages"] += 1

        await self._step("eod", default, before_send=record)

    async def _body_step(self):
        rule = self.sink._take_rule("body", None, None, self.conn["messages"])
        if rule is None:
            return
        self._log("-- rule %s" % rule.as_dict())
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.hang:
            await self._hang()
        if rule.close or rule.hang or (rule.after and rule.reply is None):
            raise _Closed("closed by rule at body")
        if rule.reply is not None:
            await self._send_reply(rule.reply)
            raise _Closed("replied and closed by rule at body")

    async def _read_data(self, txn):
        """Read up to CRLF.CRLF, dot-unstuffing; only CRLF ends a line."""
        sink = self.sink
        chunks = []
        hasher = hashlib.sha256()
        st = {"size": 0, "over": False, "bare_lf": False, "bare_cr": False, "long": 0,
              "line_len": 0}

        def emit(piece, eol):
            """piece: whole lines ending in CRLF (eol) or the start of one line."""
            st["size"] += len(piece)
            hasher.update(piece)
            crlf = piece.count(b"\r\n")
            if piece.count(b"\n") != crlf:
                st["bare_lf"] = True
            if piece.count(b"\r") != crlf:
                st["bare_cr"] = True
            if eol:
                if st["line_len"] + len(piece) > RFC_LINE_LIMIT:
                    parts = piece.split(b"\r\n")
                    if st["line_len"] + len(parts[0]) + 2 > RFC_LINE_LIMIT:
                        st["long"] += 1
                    st["long"] += sum(1 for x in parts[1:-1] if len(x) + 2 > RFC_LINE_LIMIT)
                st["line_len"] = 0
            else:
                st["line_len"] += len(piece)
            if st["over"]:
                return
            if st["size"] > sink.max_message:
                st["over"] = True
                chunks.clear()
            elif sink.keep_data:
                chunks.append(piece)

        at_bol = True
        first = True
        done = False
        for _ in range(1 << 30):
            if first and self.buf:
                first = False
                await self._body_step()
            buf = self.buf
            n = len(buf)
            i = 0
            while i < n:
                if at_bol and buf[i] == 0x2E:
                    if n - i < 3 and bytes(buf[i:n]) in (b".", b".\r"):
                        break
                    if buf[i:i + 3] == b".\r\n":
                        i += 3
                        done = True
                        break
                    i += 1          # the stuffed dot
                    st["line_len"] += 1
                at_bol = False
                j = buf.find(b"\r\n.", i)         # up to the next line starting with "."
                if j < 0:
                    j = buf.rfind(b"\r\n", i)     # or all whole lines there are
                if j < 0:
                    end = n - 1 if buf[n - 1] == 0x0D else n
                    if end > i:
                        emit(bytes(buf[i:end]), False)
                        i = end
                    break
                emit(bytes(buf[i:j + 2]), True)
                i = j + 2
                at_bol = True
            del buf[:i]
            if done:
                break
            await self._fill(sink.data_timeout)
        txn["size"] = st["size"]
        txn["sha256"] = hasher.hexdigest()
        txn["oversize"] = st["over"]
        txn["bare_lf"] = st["bare_lf"]
        txn["bare_cr"] = st["bare_cr"]
        txn["long_lines"] = st["long"]
        txn["data"] = b"".join(chunks) if sink.keep_data and not st["over"] else None

    async def _rset(self, line, arg):
        reply = await self._step("rset", "250 2.0.0 Ok")
        if reply.startswith("2"):
            self._reset_txn()

    async def _noop(self, line, arg):
        await self._step("noop", "250 2.0.0 Ok")

    async def _vrfy(self, line, arg):
        await self._step("vrfy", "252 2.0.0 Cannot VRFY user, but will accept message")

    async def _help(self, line, arg):
        await self._send_reply("214 2.0.0 arcproxy test sink")

    async def _quit(self, line, arg):
        await self._step("quit", "221 2.0.0 Bye")
        raise _Closed("quit")


class Sink:
    """The downstream test server. Thread mode: start()/stop() (or `with Sink() as s`).
    Asyncio mode: await start_async()/stop_async() in the caller's loop; there use the
    *_async variants of refuse/accept/reset/wait_for."""

    def __init__(self, host="127.0.0.1", port=0, *, hostname="sink.test", maildir=None,
                 max_message=64 << 20, max_connections=64, max_line=2048, max_records=10000,
                 keep_data=True, idle_timeout=60.0, data_timeout=60.0, max_hang=120.0,
                 max_session=3600.0, extensions=None, fsync=False):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("the sink listens on loopback only, not %r" % host)
        self.host = host
        self.port = int(port)
        self.hostname = hostname
        self.maildir = maildir
        self.max_message = int(max_message)
        self.max_connections = int(max_connections)
        self.max_line = int(max_line)
        self.max_records = int(max_records)
        self.keep_data = bool(keep_data)
        self.idle_timeout = float(idle_timeout)
        self.data_timeout = float(data_timeout)
        self.max_hang = float(max_hang)
        self.max_session = float(max_session)
        self.fsync = bool(fsync)
        self._default_extensions = list(extensions if extensions is not None
                                        else DEFAULT_EXTENSIONS)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._loop = None
        self._thread = None
        self._server = None
        self._control = None
        self._control_path = None
        self._tasks = set()
        self._shutdown = None
        self._clear_state()
        if maildir:
            for sub in ("tmp", "new", "cur", "meta"):
                os.makedirs(os.path.join(maildir, sub), exist_ok=True)

    def _clear_state(self):
        with self._lock:
            self._rules = []
            self._records = []
            self._n_records = 0
            self._n_accepted = 0
            self._conns = []
            self._n_conns = 0
            self._n_full = 0
            self._errors = []
            self._extensions = list(self._default_extensions)

    # --- life cycle -----------------------------------------------------------------------

    async def start_async(self):
        """Listen (in the running loop); sets self.port to the real port."""
        self._loop = asyncio.get_running_loop()
        await self._listen()
        return self

    async def _listen(self):
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port,
                                                  reuse_address=True, backlog=128)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_async(self):
        """Stop listening, drop every connection, close the control socket."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._control is not None:
            self._control.close()
            self._control = None
            try:
                os.unlink(self._control_path)
            except OSError:
                pass
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3.0)

    def start(self, timeout=5.0):
        """Run the sink in a background thread; returns self once it listens."""
        if self._thread is not None:
            raise RuntimeError("sink already started")
        ready = threading.Event()
        box = {}

        def main():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as e:  # reported to start()'s caller
                box["error"] = e
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="sink", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("sink did not start within %s s" % timeout)
        if "error" in box:
            self._thread = None
            raise box["error"]
        return self

    def stop(self, timeout=5.0):
        if self._thread is None:
            return
        loop = self._loop
        fut = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
        try:
            fut.result(timeout)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _run(self, coro, timeout=10.0):
        """Run a coroutine in the sink's loop from another thread (thread mode)."""
        if self._thread is None:
            coro.close()
            raise RuntimeError("not started in thread mode; use the *_async call")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("called from the sink's own loop; use the *_async call")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- connections ----------------------------------------------------------------------

    async def _on_connect(self, reader, writer):
        task = asyncio.current_task()
        with self._lock:
            full = len(self._tasks) >= self.max_connections
            if full:
                self._n_full += 1
            else:
                self._tasks.add(task)
                self._n_conns += 1
                cid = self._n_conns
        if full:
            try:
                writer.write(b"421 4.3.2 sink.test Error: too many connections\r\n")
                await asyncio.wait_for(writer.drain(), 2.0)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            writer.close()
            return
        try:
            await _Session(self, reader, writer, cid).run()
        except asyncio.CancelledError:
            pass    # stop(): an idle connection (a client's kept one) dropped; not an error
        finally:
            with self._lock:
                self._tasks.discard(task)

    def _add_conn(self, conn):
        with self._lock:
            self._conns.append(conn)
            if len(self._conns) > MAX_CONN_RECORDS:
                del self._conns[0]

    def _note(self, cid, text):
        with self._lock:
            if len(self._errors) < MAX_ERRORS:
                self._errors.append("conn %d: %s" % (cid, text))

    def _take_rule(self, step, n, addr, conn_msgs=0):
        with self._lock:
            for r in self._rules:
                if r.applies(step, n, addr, conn_msgs):
                    r.fired += 1
                    return r
        return None

    def _extensions_snapshot(self):
        with self._lock:
            return list(self._extensions)

    def _record(self, txn, reply):
        with self._cond:
            self._n_records += 1
            txn["id"] = self._n_records
            txn["reply"] = reply
            txn["accepted"] = reply is not None and reply.startswith("2")
            txn["t_reply"] = time.time()
            if txn["accepted"]:
                self._n_accepted += 1
                if self.maildir:
                    txn["maildir_file"] = self._write_maildir(txn)
            self._records.append(txn)
            if len(self._records) > self.max_records:
                del self._records[0]
            self._cond.notify_all()

    def _write_maildir(self, txn):
        name = "%d.P%dQ%d.sink" % (int(txn["t_end"]), os.getpid(), txn["id"])
        meta = {k: v for k, v in txn.items() if k != "data"}
        meta["maildir_file"] = os.path.join(self.maildir, "new", name)
        tmp_meta = os.path.join(self.maildir, "tmp", name + ".json")
        with open(tmp_meta, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        os.rename(tmp_meta, os.path.join(self.maildir, "meta", name + ".json"))
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(txn["data"] or b"")
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, meta["maildir_file"])
        return meta["maildir_file"]

    # --- faults ---------------------------------------------------------------------------

    def rule(self, step, reply=None, *, delay=0.0, close=False, hang=False, n=None, match=None,
             times=None, after=False, reused=False):
        """Add a fault rule (see Rule); the first matching rule in order of addition wins."""
        r = Rule(step, reply, delay, close, hang, n, match, times, after, reused)
        with self._lock:
            self._rules.append(r)
        return r

    def fail(self, step, reply, *, delay=0.0, n=None, match=None, times=None, reused=False):
        """Reply `reply` (e.g. "451 4.3.0 try later") at `step` instead of the normal one."""
        return self.rule(step, reply, delay=delay, n=n, match=match, times=times, reused=reused)

    def delay(self, step, seconds, *, n=None, match=None, times=None):
        """Sleep `seconds` before the normal reply at `step`."""
        return self.rule(step, delay=seconds, n=n, match=match, times=times)

    def close_at(self, step, *, delay=0.0, n=None, match=None, times=None, reused=False):
        """Close the connection at `step` instead of replying."""
        return self.rule(step, close=True, delay=delay, n=n, match=match, times=times,
                         reused=reused)

    def close_after(self, step, *, delay=0.0, n=None, match=None, times=None, reused=False):
        """Send the normal reply at `step`, then close the connection (a server that ends
        each session after one message: the client's kept connection is gone)."""
        return self.rule(step, after=True, delay=delay, n=n, match=match, times=times,
                         reused=reused)

    def hang_at(self, step, *, n=None, match=None, times=None):
        """Never reply at `step`: read and discard until the client goes (max_hang s)."""
        return self.rule(step, hang=True, n=n, match=match, times=times)

    def no_greeting(self, *, times=None):
        """Accept connections but never send the greeting."""
        return self.hang_at("connect", times=times)

    def clear_rules(self):
        with self._lock:
            self._rules = []

    def rules(self):
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def set_extensions(self, extensions):
        """Replace the EHLO keywords ("SIZE" is shown with max_message)."""
        with self._lock:
            self._extensions = [str(e) for e in extensions]

    def without_extension(self, keyword):
        """Stop offering one EHLO keyword (e.g. "XFORWARD", "PIPELINING")."""
        keyword = keyword.upper()
        with self._lock:
            self._extensions = [e for e in self._extensions if e.split()[0].upper() != keyword]

    async def refuse_async(self, drop_existing=False):
        if self._server is not None:
            self._server.close()
            self._server = None
        if drop_existing:
            tasks = [t for t in self._tasks if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=3.0)

    async def accept_async(self):
        if self._server is None:
            await self._listen()

    def refuse(self, drop_existing=False):
        """Stop listening: connections are refused (existing ones go on unless
        drop_existing)."""
        self._run(self.refuse_async(drop_existing))

    def accept(self):
        """Listen again, on the same port."""
        self._run(self.accept_async())

    def listening(self):
        return self._server is not None

    def reset(self):
        """Forget rules, records, connections and errors; default extensions; listen."""
        self._clear_state()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self.accept()

    async def reset_async(self):
        self._clear_state()
        await self.accept_async()

    # --- queries --------------------------------------------------------------------------

    def messages(self, accepted_only=False):
        """Copies of the message records, oldest first (at most max_records kept)."""
        with self._lock:
            return [_copy_record(r) for r in self._records
                    if r["accepted"] or not accepted_only]

    def last(self, accepted_only=False):
        with self._lock:
            for r in reversed(self._records):
                if r["accepted"] or not accepted_only:
                    return _copy_record(r)
        return None

    def count(self, accepted_only=True):
        """Messages that got a 2xx at end of data (or all that reached end of data)."""
        with self._lock:
            return self._n_accepted if accepted_only else self._n_records

    def connections(self):
        with self._lock:
            return [dict(c, log=list(c["log"]), peer=list(c["peer"])) for c in self._conns]

    def connection_count(self):
        with self._lock:
            return self._n_conns

    def refused_full(self):
        """Connections turned away with 421 because max_connections were open."""
        with self._lock:
            return self._n_full

    def active_connections(self):
        with self._lock:
            return len(self._tasks)

    def errors(self):
        """What clients did that a correct SMTP client would not."""
        with self._lock:
            return list(self._errors)

    def info(self):
        return {"host": self.host, "port": self.port, "listening": self.listening(),
                "max_message": self.max_message, "extensions": self._extensions_snapshot()}

    def wait_for(self, count, timeout=10.0, accepted_only=True):
        """Block until count() >= count; False on timeout (thread mode only)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count(accepted_only) >= count,
                                       timeout=min(float(timeout), 600.0))

    async def wait_for_async(self, count, timeout=10.0, accepted_only=True):
        end = time.monotonic() + min(float(timeout), 600.0)
        while self.count(accepted_only) < count:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.02)
        return True

    def wait_connections(self, count, timeout=10.0):
        """Block until connection_count() >= count; False on timeout."""
        end = time.monotonic() + min(float(timeout), 600.0)
        while self.connection_count() < count:
            if time.monotonic() >= end:
                return False
            time.sleep(0.02)
        return True

    async def wait_connections_async(self, count, timeout=10.0):
        end = time.monotonic() + min(float(timeout), 600.0)
        while self.connection_count() < count:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.02)
        return True

    # --- control socket -------------------------------------------------------------------

    _CONTROL_SYNC = ("rule", "fail", "delay", "close_at", "hang_at", "no_greeting",
                     "clear_rules", "rules", "set_extensions", "without_extension", "messages",
                     "last", "count", "connections", "connection_count", "refused_full",
                     "active_connections", "errors", "info", "listening")
    _CONTROL_ASYNC = {"refuse": "refuse_async", "accept": "accept_async",
                      "reset": "reset_async", "wait_for": "wait_for_async",
                      "wait_connections": "wait_connections_async"}

    async def serve_control_async(self, path):
        """Serve the JSON-lines control protocol on Unix socket `path` (see SinkClient)."""
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self._control = await asyncio.start_unix_server(self._control_conn, path)
        self._control_path = path

    async def _control_conn(self, reader, writer):
        try:
            for _ in range(100000):
                try:
                    line = await asyncio.wait_for(reader.readline(), 600.0)
                except (asyncio.TimeoutError, ValueError):
                    break
                if not line:
                    break
                try:
                    req = json.loads(line)
                    result = await self._control_call(req)
                    resp = {"ok": True, "result": _to_json(result)}
                except Exception as e:  # reported to the client
                    resp = {"ok": False, "error": "%s: %s" % (e.__class__.__name__, e)}
                writer.write(json.dumps(resp).encode("ascii") + b"\n")
                await asyncio.wait_for(writer.drain(), 60.0)
        except (ConnectionError, OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    async def _control_call(self, req):
        op = req["op"]
        args = req.get("args") or []
        kwargs = req.get("kwargs") or {}
        if op == "ping":
            return "pong"
        if op == "shutdown":
            if self._shutdown is not None:
                self._shutdown.set()
            return True
        if op in self._CONTROL_SYNC:
            return getattr(self, op)(*args, **kwargs)
        if op in self._CONTROL_ASYNC:
            return await getattr(self, self._CONTROL_ASYNC[op])(*args, **kwargs)
        raise ValueError("unknown control op %r" % op)


def _copy_record(r):
    c = dict(r)
    for k in ("mail_params", "xforward_lines", "peer"):
        c[k] = list(r[k])
    c["mail_params_map"] = dict(r["mail_params_map"])
    c["xforward"] = dict(r["xforward"])
    c["rcpts"] = [dict(x) for x in r["rcpts"]]
    c["rcpts_rejected"] = [dict(x) for x in r["rcpts_rejected"]]
    return c


def _to_json(obj):
    if isinstance(obj, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, Rule):
        return obj.as_dict()
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_json(v) for v in obj]
    return obj


def _from_json(obj):
    if isinstance(obj, dict):
        if set(obj) == {"__bytes__"}:
            return base64.b64decode(obj["__bytes__"])
        return {k: _from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


class SinkError(Exception):
    """A control request failed inside the sink."""


class SinkClient:
    """Drives a sink.py process through its control socket; same calls as Sink (rules come
    back as dicts, not Rule objects)."""

    def __init__(self, control_path, timeout=30.0):
        self.path = control_path
        self.timeout = float(timeout)

    def call(self, op, *args, **kwargs):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(self.path)
            s.sendall(json.dumps({"op": op, "args": list(args), "kwargs": kwargs}).encode()
                      + b"\n")
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise SinkError("control socket closed before the answer to %s" % op)
                buf += chunk
                if len(buf) > (1 << 31):
                    raise SinkError("control answer too large")
        finally:
            s.close()
        resp = json.loads(buf)
        if not resp.get("ok"):
            raise SinkError("%s: %s" % (op, resp.get("error")))
        return _from_json(resp.get("result"))

    @property
    def port(self):
        return self.call("info")["port"]

    def ping(self):
        return self.call("ping") == "pong"

    def shutdown(self):
        return self.call("shutdown")

    def wait_for(self, count, timeout=10.0, accepted_only=True):
        saved = self.timeout
        self.timeout = max(saved, float(timeout) + 5.0)
        try:
            return self.call("wait_for", count, timeout=timeout, accepted_only=accepted_only)
        finally:
            self.timeout = saved

    def __getattr__(self, name):
        if name in Sink._CONTROL_SYNC or name in Sink._CONTROL_ASYNC:
            return lambda *a, **kw: self.call(name, *a, **kw)
        raise AttributeError(name)


# --- CLI ------------------------------------------------------------------------------------

async def _cli(args):
    sink = Sink(args.host, args.port, maildir=args.maildir, max_message=args.max_message,
                max_connections=args.max_connections, keep_data=not args.no_keep_data,
                idle_timeout=args.idle_timeout, fsync=args.fsync)
    await sink.start_async()
    sink._shutdown = asyncio.Event()
    if args.control:
        await sink.serve_control_async(args.control)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sink._shutdown.set)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % sink.port)
        os.rename(tmp, args.port_file)
    print(sink.port, flush=True)
    try:
        await asyncio.wait_for(sink._shutdown.wait(), args.lifetime)
    except asyncio.TimeoutError:
        print("sink: lifetime of %s s over, exiting" % args.lifetime, file=sys.stderr)
    await sink.stop_async()
    if args.verbose:
        print("sink: %d messages accepted, %d recorded, %d connections, %d errors"
              % (sink.count(), sink.count(False), sink.connection_count(), len(sink.errors())),
              file=sys.stderr)
        for e in sink.errors():
            print("sink: error: " + e, file=sys.stderr)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Downstream SMTP test server for arcproxy's tests.")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    ap.add_argument("--maildir", help="also store accepted messages here (new/, meta/*.json)")
    ap.add_argument("--control", help="Unix socket for SinkClient control requests")
    ap.add_argument("--port-file", help="write the port here too (atomically)")
    ap.add_argument("--max-message", type=int, default=64 << 20)
    ap.add_argument("--max-connections", type=int, default=64)
    ap.add_argument("--idle-timeout", type=float, default=60.0)
    ap.add_argument("--lifetime", type=float, default=3600.0,
                    help="exit after this many seconds whatever happens (default 3600)")
    ap.add_argument("--no-keep-data", action="store_true",
                    help="keep only size and sha256 of messages in memory")
    ap.add_argument("--fsync", action="store_true", help="fsync Maildir files")
    ap.add_argument("-v", "--verbose", action="store_true", help="summary on stderr at exit")
    args = ap.parse_args(argv)
    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            ap.error("--host must be a loopback address")
    except ValueError:
        ap.error("--host must be an IP address")
    return asyncio.run(_cli(args))


if __name__ == "__main__":
    sys.exit(main())

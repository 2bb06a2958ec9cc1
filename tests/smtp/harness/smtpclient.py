#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""smtpclient.py - a raw, scripted SMTP client for tests: it sends exactly the bytes it is
told to (bare LF, pipelined commands, broken syntax) and checks each reply, with a timeout
on every socket operation and the whole transcript in every failure message.

    from smtpclient import Conversation
    with Conversation("127.0.0.1", port) as c:
        c.expect("220")
        caps = c.ehlo("client.test")           # {"PIPELINING": [], "SIZE": ["67108864"], ...}
        c.pipeline(["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA"])
        c.expect("250"); c.expect("250"); c.expect("354")
        c.data(b"Subject: x\\r\\n\\r\\n.leading dot\\r\\n")   # dot-stuffed, then CRLF.CRLF
        c.expect("250")
        c.quit()

A failed expectation raises SMTPFailure (an AssertionError).
"""

import hashlib
import re
import socket
import time

DEFAULT_TIMEOUT = 10.0
MAX_REPLY_LINES = 1000
MAX_REPLY_LINE = 65536
MAX_TRANSCRIPT = 5000

_LINE_RE = re.compile(rb"^([0-9]{3})([ -]?)(.*)$", re.S)


class SMTPFailure(AssertionError):
    """An expectation failed; str() holds the reason and the transcript."""


class Reply:
    """One SMTP reply: code (int), lines (texts after "250-"/"250 "), raw (wire bytes)."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def first(self):
        """The first line as "250 text"."""
        return "%03d %s" % (self.code, self.lines[0] if self.lines else "")

    def matches(self, prefix):
        """prefix "2", "25", "250", or "250 2.1.0" (a prefix of the first line); a tuple or
        a "|"-separated string gives alternatives."""
        if isinstance(prefix, (tuple, list)):
            return any(self.matches(p) for p in prefix)
        if "|" in prefix:
            return any(self.matches(p) for p in prefix.split("|"))
        return self.first.startswith(prefix.strip()) or (
            prefix.strip() == "%03d" % self.code)

    def __str__(self):
        return "\n".join("%03d%s%s" % (self.code, "-" if i < len(self.lines) - 1 else " ", t)
                         for i, t in enumerate(self.lines))

    def __repr__(self):
        return "Reply(%r)" % str(self)


def dot_stuff(message):
    """Double a "." that starts a line (lines end with CRLF); add the final CRLF if the
    message lacks it. Returns what goes on the wire before ".\\r\\n"."""
    if not isinstance(message, (bytes, bytearray)):
        raise TypeError("message must be bytes")
    out = bytes(message)
    if out.startswith(b"."):
        out = b"." + out
    out = out.replace(b"\r\n.", b"\r\n..")
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def parse_ehlo(reply):
    """EHLO reply -> {KEYWORD: [params]} (the first line, the greeting name, left out)."""
    caps = {}
    for line in reply.lines[1:]:
        parts = line.split()
        if parts:
            caps[parts[0].upper()] = parts[1:]
    return caps


def can_connect(host, port, timeout=1.0):
    """True when a TCP connection to host:port succeeds (closed again at once)."""
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return False
    s.close()
    return True


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to port 0, read it, close). Another process
    can take it before you do: use it at once, and prefer --port 0 where a server offers it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_port(host, port, timeout=10.0, proc=None):
    """Poll until host:port accepts connections; False after `timeout` s, or at once if
    `proc` (a subprocess.Popen) has exited."""
    end = time.monotonic() + min(float(timeout), 600.0)
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if can_connect(host, port, timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _show(data, limit=300):
    """Bytes as readable text: printable ASCII kept, \\r \\n \\t escaped, others \\xNN."""
    out = []
    for b in data[:limit]:
        if b == 0x0D:
            out.append("\\r")
        elif b == 0x0A:
            out.append("\\n")
        elif b == 0x09:
            out.append("\\t")
        elif 32 <= b < 127 and b != 0x5C:
            out.append(chr(b))
        elif b == 0x5C:
            out.append("\\\\")
        else:
            out.append("\\x%02x" % b)
    if len(data) > limit:
        out.append("... (%d octets)" % len(data))
    return "".join(out)


class Conversation:
    """A TCP connection to an SMTP server, driven line by line."""

    def __init__(self, host="127.0.0.1", port=25, *, timeout=DEFAULT_TIMEOUT,
                 connect_timeout=5.0, label=None):
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self.label = label or "%s:%d" % (host, self.port)
        self.transcript = []
        self.buf = bytearray()
        self.closed = False
        self.capabilities = {}
        self.t0 = time.monotonic()
        self.sock = socket.create_connection((host, self.port), timeout=connect_timeout)
        self.sock.settimeout(self.timeout)
        self._note("connected to %s:%d from port %d"
                   % (host, self.port, self.sock.getsockname()[1]))

    # --- transcript -----------------------------------------------------------------------

    def _note(self, text):
        if len(self.transcript) < MAX_TRANSCRIPT:
            self.transcript.append("%7.3f %s" % (time.monotonic() - self.t0, text))
        elif len(self.transcript) == MAX_TRANSCRIPT:
            self.transcript.append("... (transcript truncated)")

    def transcript_text(self):
        return "\n".join(self.transcript)

    def fail(self, reason):
        """Raise SMTPFailure with `reason` and the transcript."""
        raise SMTPFailure("SMTP conversation with %s: %s\n--- transcript ---\n%s\n---"
                          % (self.label, reason, self.transcript_text()))

    # --- sending --------------------------------------------------------------------------

    def _sendall(self, data, what):
        if self.closed:
            self.fail("send on a closed connection: " + what)
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except socket.timeout:
            self.fail("timeout after %.1f s sending %s" % (self.timeout, what))
        except OSError as e:
            self.fail("send failed (%s) sending %s" % (e, what))

    def send(self, line):
        """Send one command line; CRLF is added."""
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogateescape")
        self._note("C: " + _show(line))
        self._sendall(line + b"\r\n", "a command")

    def send_raw(self, data):
        """Send bytes exactly as given (nothing added)."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self._note("C> " + _show(data))
        self._sendall(bytes(data), "raw bytes")

    def pipeline(self, lines):
        """Send several command lines in one write (PIPELINING)."""
        data = b"".join((x.encode("utf-8", "surrogateescape") if isinstance(x, str) else x)
                        + b"\r\n" for x in lines)
        for x in lines:
            self._note("C| " + _show(x.encode("utf-8", "surrogateescape")
                                     if isinstance(x, str) else x))
        self._sendall(data, "a pipelined group")

    def data(self, message):
        """Send the message content dot-stuffed, then CRLF.CRLF (after DATA got 354)."""
        wire = dot_stuff(message) + b".\r\n"
        head = bytes(message[:200])
        self._note("C: <message %d octets, sha256 %s, %d on the wire> %s"
                   % (len(message), hashlib.sha256(message).hexdigest()[:16], len(wire),
                      _show(head, 200)))
        self._sendall(wire, "the message content")

    # --- receiving ------------------------------------------------------------------------

    def _recv(self, deadline, waiting_for):
        left = deadline - time.monotonic()
        if left <= 0:
            self.fail("timeout waiting for %s (partial input: %r)"
                      % (waiting_for, _show(bytes(self.buf))))
        try:
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
        except socket.timeout:
            self.fail("timeout after %.1f s waiting for %s (partial input: %r)"
                      % (self.timeout, waiting_for, _show(bytes(self.buf))))
        except ConnectionResetError:
            self.closed = True
            self._note("-- connection reset by peer")
            self.fail("connection reset by peer while waiting for %s" % waiting_for)
        except OSError as e:
            self.fail("recv failed (%s) waiting for %s" % (e, waiting_for))
        if not chunk:
            self.closed = True
            self._note("-- connection closed by peer")
            self.fail("connection closed by peer while waiting for %s" % waiting_for)
        self.buf += chunk

    def read_reply(self, timeout=None, waiting_for="a reply"):
        """Read one (possibly multi-line) reply."""
        deadline = time.monotonic() + (self.timeout if timeout is None else float(timeout))
        lines = []
        raw = bytearray()
        code = None
        for _ in range(MAX_REPLY_LINES):
            for _ in range(100000):
                i = self.buf.find(b"\n")
                if i >= 0:
                    break
                if len(self.buf) > MAX_REPLY_LINE:
                    self.fail("reply line over %d octets" % MAX_REPLY_LINE)
                self._recv(deadline, waiting_for)
            line = bytes(self.buf[:i + 1])
            del self.buf[:i + 1]
            raw += line
            self._note("S: " + _show(line.rstrip(b"\r\n")))
            if not line.endswith(b"\r\n"):
                self.fail("reply line ended by a bare LF: %r" % _show(line))
            m = _LINE_RE.match(line[:-2])
            if m is None:
                self.fail("malformed reply line %r" % _show(line))
            if code is None:
                code = m.group(1)
            elif m.group(1) != code:
                self.fail("reply code changed inside a multi-line reply")
            lines.append(m.group(3).decode("utf-8", "surrogateescape"))
            if m.group(2) != b"-":
                return Reply(int(code), lines, bytes(raw))
        self.fail("reply of more than %d lines" % MAX_REPLY_LINES)

    def expect(self, prefix="2", timeout=None):
        """Read one reply; it must match `prefix` (see Reply.matches). Returns the Reply."""
        reply = self.read_reply(timeout, waiting_for="a reply matching %r" % (prefix,))
        if not reply.matches(prefix):
            self.fail("expected a reply matching %r, got %r" % (prefix, str(reply)))
        return reply

    def cmd(self, line, prefix="2", timeout=None):
        """send(line) then expect(prefix)."""
        self.send(line)
        return self.expect(prefix, timeout)

    def ehlo(self, name="client.test", prefix="250", timeout=None):
        """EHLO; returns and keeps the capabilities {KEYWORD: [params]}."""
        reply = self.cmd("EHLO " + name, prefix, timeout)
        self.capabilities = parse_ehlo(reply) if reply.code == 250 else {}
        return self.capabilities

    def has(self, keyword):
        return keyword.upper() in self.capabilities

    def send_message(self, sender, recipients, message, *, mail_params=(), rcpt_params=(),
                     final="250", timeout=None):
        """One whole transaction, step by step: MAIL, each RCPT (all must get 2xx), DATA,
        content; returns the reply to the final dot, which must match `final`."""
        self.cmd("MAIL FROM:<%s>%s" % (sender, "".join(" " + p for p in mail_params)), "2",
                 timeout)
        for r in recipients:
            self.cmd("RCPT TO:<%s>%s" % (r, "".join(" " + p for p in rcpt_params)), "2",
                     timeout)
        self.cmd("DATA", "354", timeout)
        self.data(message)
        return self.expect(final, timeout)

    def expect_closed(self, timeout=None):
        """The server must close the connection (EOF or reset) without sending more."""
        deadline = time.monotonic() + (self.timeout if timeout is None else float(timeout))
        if self.buf:
            self.fail("expected the connection to close, got %r" % _show(bytes(self.buf)))
        if self.closed:
            return
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self.sock.settimeout(left)
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                chunk = b""
            except OSError as e:
                self.fail("recv failed (%s) waiting for close" % e)
            if not chunk:
                self.closed = True
                self._note("-- connection closed by peer")
                return
            self.buf += chunk
            self._note("S: " + _show(chunk))
            self.fail("expected the connection to close, got %r" % _show(chunk))
        self.fail("connection still open after %.1f s"
                  % (self.timeout if timeout is None else float(timeout)))

    def expect_silence(self, seconds):
        """Nothing may arrive for `seconds` (and the connection must stay open)."""
        if self.buf:
            self.fail("expected silence, have %r" % _show(bytes(self.buf)))
        try:
            self.sock.settimeout(float(seconds))
            chunk = self.sock.recv(65536)
        except socket.timeout:
            self._note("-- silent for %.1f s" % seconds)
            return
        except OSError as e:
            self.fail("expected silence, recv failed: %s" % e)
        if not chunk:
            self.closed = True
            self._note("-- connection closed by peer")
            self.fail("expected silence, the connection was closed")
        self.buf += chunk
        self._note("S: " + _show(chunk))
        self.fail("expected silence for %.1f s, got %r" % (seconds, _show(chunk)))

    def quit(self, prefix="221"):
        """QUIT, expect 221, close."""
        try:
            self.cmd("QUIT", prefix)
        finally:
            self.close()

    def close(self):
        if not self.closed:
            self._note("-- closed by client")
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

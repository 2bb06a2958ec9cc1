#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""scenario.py - runs SMTP scenario files ("send a line / expect a reply class", after
OpenSMTPD's smtpscript) against a server, with a test sink to configure and inspect.

    scenario.py --port 10025 --sink-control /tmp/sink.sock FILE...   # server + sink.py process
    scenario.py --own-sink FILE...                # start a sink in-process and talk to it
    scenario.py --own-sink --sink-port 10026 --port 10025 FILE...

Prints one line per scenario and ends with "N passed, N failed"; exits 1 when any failed.
From Python: run_files(paths, host, port, sink=a_Sink_or_SinkClient).

File syntax (one directive per line; "#" starts a comment line; blank lines are skipped):

    scenario NAME               a new scenario: fresh connection (opened at first use) and,
                                unless --no-reset, a reset sink (rules, records, errors)
    define NAME ... end         a block of directives that `call NAME` inserts
    >> LINE                     send LINE + CRLF
    >>> BYTES                   send bytes as written, escapes \\r \\n \\t \\\\ \\xNN, nothing added
    << CODE                     read one reply; its first line must start with CODE ("250",
                                "2", "250 2.1.5"); "4|5" gives alternatives; aliases ok=2,
                                intermediate=3, tempfail=4, permfail=5, fail=4|5
    <<~ REGEX                   read one reply; REGEX must match somewhere in it
    || TEXT                     a message line (CRLF added); a run of them is sent dot-stuffed
                                and ended with CRLF.CRLF (send DATA and read 354 first)
    |~ BYTES                    a message line with escapes (CRLF added)
    !! connect | close | reconnect | sleep S | timeout S
    !! sink fail STEP [SEL] "REPLY"      !! sink delay STEP [SEL] SECONDS
    !! sink close STEP [SEL]             !! sink hang STEP [SEL]
          STEP: connect ehlo helo xforward mail rcpt data body eod rset noop quit vrfy
          SEL: N (RCPT number), ADDRESS or @DOMAIN, "times K", "after S" (delay first)
    !! sink no-greeting | refuse [drop] | accept | reset | clear | without KEYWORD |
          extensions KEYWORD...
    == closed [S] | silent S | refused
    == sink count N | records N | wait N [S] | connections N | errors N
    == sink last from ADDR | rcpts ADDR... | rejected ADDR... | mail-params P... |
          rcpt-params ADDR P... | xforward ATTR VALUE | xforward none | contains BYTES |
          lacks BYTES | header NAME | same-as-sent | ends-with-sent | reply CODE | size N |
          bare-lf yes|no
"""

import argparse
import os
import re
import shlex
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpclient import Conversation, SMTPFailure  # noqa: E402

ALIASES = {"ok": "2", "intermediate": "3", "tempfail": "4", "permfail": "5", "fail": "4|5"}
MAX_CALL_DEPTH = 10
MAX_SLEEP = 30.0


class ScenarioError(Exception):
    """A scenario step failed (or a file is malformed)."""


def unescape(text):
    """Scenario escapes to bytes: \\r \\n \\t \\0 \\\\ \\xNN; other characters as UTF-8."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        e = text[i + 1]
        if e == "x" and re.match(r"[0-9a-fA-F]{2}", text[i + 2:i + 4]):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
            continue
        simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92}
        if e not in simple:
            raise ScenarioError("unknown escape \\%s" % e)
        out.append(simple[e])
        i += 2
    return bytes(out)


class Scenario:
    def __init__(self, name, path, line):
        self.name = name
        self.path = path
        self.line = line
        self.steps = []     # (line number, op, argument)


_OPS = (">>>", ">>", "<<~", "<<", "||", "|~", "!!", "==")


def _split_op(line):
    for op in _OPS:
        if line == op or line.startswith(op + " "):
            return op, line[len(op) + 1:]
    return None, None


def parse(text, path="<string>"):
    """Scenario file text -> [Scenario]. Raises ScenarioError with file:line."""
    scenarios = []
    defines = {}
    cur = None
    in_define = None
    lines = text.split("\n")
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = "%s:%d" % (path, lineno)
        word, _, rest = stripped.partition(" ")
        if word == "scenario":
            if in_define is not None:
                raise ScenarioError("%s: scenario inside define" % where)
            cur = Scenario(rest.strip() or "line %d" % lineno, path, lineno)
            scenarios.append(cur)
            continue
        if word == "define":
            if in_define is not None:
                raise ScenarioError("%s: nested define" % where)
            in_define = rest.strip()
            defines[in_define] = []
            continue
        if word == "end" and in_define is not None:
            in_define = None
            continue
        target = defines[in_define] if in_define is not None else (cur.steps if cur else None)
        if target is None:
            raise ScenarioError("%s: directive before the first 'scenario'" % where)
        if word == "call":
            name = rest.strip()
            if name not in defines:
                raise ScenarioError("%s: call of undefined %r" % (where, name))
            target.append((lineno, "call", name))
            continue
        op, arg = _split_op(line.lstrip())
        if op is None:
            raise ScenarioError("%s: unknown directive %r" % (where, stripped[:40]))
        target.append((lineno, op, arg))
    if in_define is not None:
        raise ScenarioError("%s: define %r without end" % (path, in_define))
    for sc in scenarios:
        sc.steps = _expand(sc.steps, defines, 0, path)
    return scenarios


def _expand(steps, defines, depth, path):
    if depth > MAX_CALL_DEPTH:
        raise ScenarioError("%s: calls nested deeper than %d" % (path, MAX_CALL_DEPTH))
    out = []
    for lineno, op, arg in steps:
        if op == "call":
            out.extend(_expand(defines[arg], defines, depth + 1, path))
        else:
            out.append((lineno, op, arg))
    return out


class Runner:
    """Runs scenarios against host:port; `sink` is a Sink, a SinkClient or None."""

    def __init__(self, host="127.0.0.1", port=25, sink=None, *, timeout=10.0, reset=True,
                 scenario_time=120.0, out=None):
        self.host = host
        self.port = int(port)
        self.sink = sink
        self.timeout = float(timeout)
        self.reset = reset
        self.scenario_time = float(scenario_time)
        self.out = out if out is not None else sys.stdout
        self.passed = 0
        self.failed = 0

    # --- one scenario ---------------------------------------------------------------------

    def run_scenario(self, sc):
        """Returns (ok, reason)."""
        self.conv = None
        self.msg = []
        self.sent = []
        self.read_timeout = self.timeout
        self.deadline = time.monotonic() + self.scenario_time
        lineno = sc.line
        try:
            if self.sink is not None and self.reset:
                self.sink.reset()
            for lineno, op, arg in sc.steps:
                if time.monotonic() > self.deadline:
                    raise ScenarioError("scenario ran over %.0f s" % self.scenario_time)
                if op not in ("||", "|~"):
                    self._flush()
                self._step(op, arg)
            self._flush()
            return True, ""
        except SMTPFailure as e:
            return False, "line %d: %s" % (lineno, e)
        except (ScenarioError, OSError, ValueError) as e:
            reason = "line %d: %s" % (lineno, e)
            if self.conv is not None:
                reason += "\n--- transcript ---\n%s\n---" % self.conv.transcript_text()
            return False, reason
        finally:
            if self.conv is not None:
                self.conv.close()
                self.conv = None

    def _connect(self):
        try:
            self.conv = Conversation(self.host, self.port, timeout=self.read_timeout)
        except OSError as e:
            raise ScenarioError("cannot connect to %s:%d: %s" % (self.host, self.port, e))

    def _c(self):
        if self.conv is None:
            self._connect()
        self.conv.timeout = self.read_timeout
        return self.conv

    def _flush(self):
        if self.msg:
            message = b"".join(x + b"\r\n" for x in self.msg)
            self.msg = []
            self.sent.append(message)
            self._c().data(message)

    def _step(self, op, arg):
        if op == ">>":
            self._c().send(arg)
        elif op == ">>>":
            self._c().send_raw(unescape(arg))
        elif op == "<<":
            want = "|".join(ALIASES.get(p.strip(), p.strip()) for p in arg.split("|"))
            if not want:
                raise ScenarioError("<< needs a code")
            self._c().expect(want)
        elif op == "<<~":
            reply = self._c().read_reply()
            if not re.search(arg, str(reply)):
                self.conv.fail("reply %r does not match /%s/" % (str(reply), arg))
        elif op == "||":
            self.msg.append(arg.encode("utf-8", "surrogateescape"))
        elif op == "|~":
            self.msg.append(unescape(arg))
        elif op == "!!":
            self._control(shlex.split(arg))
        elif op == "==":
            self._check(shlex.split(arg))
        else:
            raise ScenarioError("unknown op %r" % op)

    # --- !! -------------------------------------------------------------------------------

    def _control(self, t):
        if not t:
            raise ScenarioError("empty !! directive")
        if t[0] == "connect":
            if self.conv is not None:
                self.conv.close()
            self._connect()
        elif t[0] == "close":
            if self.conv is not None:
                self.conv.close()
            self.conv = None
        elif t[0] == "reconnect":
            if self.conv is not None:
                self.conv.close()
            self._connect()
        elif t[0] == "sleep":
            time.sleep(min(float(t[1]), MAX_SLEEP))
        elif t[0] == "timeout":
            self.read_timeout = min(float(t[1]), 600.0)
        elif t[0] == "sink":
            self._sink_control(t[1:])
        else:
            raise ScenarioError("unknown !! directive %r" % t[0])

    def _need_sink(self):
        if self.sink is None:
            raise ScenarioError("this scenario needs a sink (--own-sink or --sink-control)")
        return self.sink

    def _sink_control(self, t):
        s = self._need_sink()
        if not t:
            raise ScenarioError("!! sink needs a command")
        cmd, rest = t[0], t[1:]
        if cmd in ("fail", "delay"):
            step, kw, value = _rule_args(rest, True)
            if cmd == "fail":
                s.fail(step, value, **kw)
            else:
                kw.pop("delay", None)
                s.delay(step, float(value), **kw)
        elif cmd == "close":
            step, kw, _ = _rule_args(rest, False)
            s.close_at(step, **kw)
        elif cmd == "hang":
            step, kw, _ = _rule_args(rest, False)
            kw.pop("delay", None)
            s.hang_at(step, **kw)
        elif cmd == "no-greeting":
            s.no_greeting()
        elif cmd == "refuse":
            s.refuse(drop_existing=bool(rest and rest[0] == "drop"))
        elif cmd == "accept":
            s.accept()
        elif cmd == "reset":
            s.reset()
        elif cmd == "clear":
            s.clear_rules()
        elif cmd == "without":
            s.without_extension(rest[0])
        elif cmd == "extensions":
            s.set_extensions(rest)
        else:
            raise ScenarioError("unknown !! sink command %r" % cmd)

    # --- == -------------------------------------------------------------------------------

    def _fail(self, reason):
        if self.conv is not None:
            self.conv.fail(reason)
        raise ScenarioError(reason)

    def _check(self, t):
        if not t:
            raise ScenarioError("empty == directive")
        if t[0] == "closed":
            self._c().expect_closed(float(t[1]) if len(t) > 1 else None)
        elif t[0] == "silent":
            self._c().expect_silence(min(float(t[1]), MAX_SLEEP))
        elif t[0] == "refused":
            if self.conv is not None:
                self.conv.close()
                self.conv = None
            try:
                conv = Conversation(self.host, self.port, timeout=1.0, connect_timeout=2.0)
            except OSError:
                return
            conv.close()
            raise ScenarioError("connection to %s:%d was accepted, expected a refusal"
                                % (self.host, self.port))
        elif t[0] == "sink":
            self._check_sink(t[1:])
        else:
            raise ScenarioError("unknown == check %r" % t[0])

    def _check_sink(self, t):
        s = self._need_sink()
        if not t:
            raise ScenarioError("== sink needs a check")
        what = t[0]
        if what in ("count", "records", "connections", "errors"):
            got = {"count": lambda: s.count(),
                   "records": lambda: s.count(accepted_only=False),
                   "connections": lambda: s.connection_count(),
                   "errors": lambda: len(s.errors())}[what]()
            if got != int(t[1]):
                extra = ""
                if what == "errors":
                    extra = ": " + "; ".join(s.errors()[:10])
                self._fail("sink %s is %d, want %s%s" % (what, got, t[1], extra))
        elif what == "wait":
            timeout = min(float(t[2]) if len(t) > 2 else self.read_timeout, 600.0)
            if not s.wait_for(int(t[1]), timeout=timeout):
                self._fail("sink got %d messages within %.1f s, want %s"
                           % (s.count(), timeout, t[1]))
        elif what == "last":
            rec = s.last()
            if rec is None:
                self._fail("sink has no message")
            self._check_last(rec, t[1:])
        else:
            raise ScenarioError("unknown == sink check %r" % what)

    def _check_last(self, rec, t):
        if not t:
            raise ScenarioError("== sink last needs a check")
        what, args = t[0], t[1:]
        data = rec.get("data") or b""
        if what == "from":
            want = args[0].strip("<>") if args else ""
            if rec["mail_from"] != want:
                self._fail("sink's last sender is <%s>, want <%s>" % (rec["mail_from"], want))
        elif what in ("rcpts", "rejected"):
            key = "rcpts" if what == "rcpts" else "rcpts_rejected"
            got = [r["addr"] for r in rec[key]]
            want = [a.strip("<>") for a in args]
            if got != want:
                self._fail("sink's last %s are %r, want %r" % (what, got, want))
        elif what == "mail-params":
            if rec["mail_params"] != args:
                self._fail("sink's last MAIL params are %r, want %r" % (rec["mail_params"], args))
        elif what == "rcpt-params":
            addr = args[0].strip("<>")
            match = [r for r in rec["rcpts"] + rec["rcpts_rejected"] if r["addr"] == addr]
            if not match:
                self._fail("sink's last message has no recipient <%s>" % addr)
            if match[0]["params"] != args[1:]:
                self._fail("RCPT <%s> params are %r, want %r"
                           % (addr, match[0]["params"], args[1:]))
        elif what == "xforward":
            if args == ["none"]:
                if rec["xforward"]:
                    self._fail("sink's last XFORWARD attributes are %r, want none"
                               % rec["xforward"])
            elif rec["xforward"].get(args[0].upper()) != args[1]:
                self._fail("sink's last XFORWARD %s is %r, want %r"
                           % (args[0].upper(), rec["xforward"].get(args[0].upper()), args[1]))
        elif what in ("contains", "lacks"):
            needle = unescape(args[0])
            if (needle in data) != (what == "contains"):
                self._fail("sink's last message %s %r (size %d)"
                           % ("lacks" if what == "contains" else "contains", needle, len(data)))
        elif what == "header":
            head = data.split(b"\r\n\r\n", 1)[0]
            name = args[0].encode().lower() + b":"
            if not any(x.lower().startswith(name) for x in head.split(b"\r\n")):
                self._fail("sink's last message has no %s header field" % args[0])
        elif what in ("same-as-sent", "ends-with-sent"):
            if not self.sent:
                raise ScenarioError("no message was sent with || in this scenario")
            want = self.sent[-1]
            ok = data == want if what == "same-as-sent" else data.endswith(want)
            if not ok:
                self._fail("sink's last message (%d octets) is not %s the one sent (%d "
                           "octets)\n got: %r\nwant: %r" % (
                               len(data), "the same as" if what == "same-as-sent"
                               else "ending with", len(want), data[:500], want[:500]))
        elif what == "reply":
            if not (rec["reply"] or "").startswith(args[0]):
                self._fail("sink's last reply was %r, want %s..." % (rec["reply"], args[0]))
        elif what == "size":
            if rec["size"] != int(args[0]):
                self._fail("sink's last message size is %d, want %s" % (rec["size"], args[0]))
        elif what == "bare-lf":
            if rec["bare_lf"] != (args[0] == "yes"):
                self._fail("sink's last message bare_lf is %s, want %s"
                           % (rec["bare_lf"], args[0]))
        else:
            raise ScenarioError("unknown == sink last check %r" % what)

    # --- files ----------------------------------------------------------------------------

    def run_file(self, path):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        try:
            scenarios = parse(text, path)
        except ScenarioError as e:
            self.failed += 1
            print("FAILED  %s: %s" % (path, e), file=self.out)
            return
        short = os.path.basename(path)
        for sc in scenarios:
            t0 = time.monotonic()
            ok, reason = self.run_scenario(sc)
            took = time.monotonic() - t0
            if ok:
                self.passed += 1
                print("ok      %s: %s (%.2fs)" % (short, sc.name, took), file=self.out)
            else:
                self.failed += 1
                print("FAILED  %s: %s (%s:%d): %s" % (short, sc.name, short, sc.line,
                                                     reason.replace("\n", "\n        ")),
                      file=self.out)
            self.out.flush()

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), file=self.out)
        return self.failed == 0


def run_files(paths, host="127.0.0.1", port=25, sink=None, **kw):
    """Run scenario files; prints results; returns (passed, failed)."""
    r = Runner(host, port, sink, **kw)
    for p in paths:
        r.run_file(p)
    r.summary()
    return r.passed, r.failed


def _rule_args(tokens, needs_value):
    """["rcpt", "2", "times", "1", "451 ..."] -> ("rcpt", {"n": 2, "times": 1}, "451 ...")."""
    if not tokens:
        raise ScenarioError("a sink rule needs a step")
    rest = list(tokens[1:])
    value = None
    if needs_value:
        if not rest:
            raise ScenarioError("a sink rule needs a value")
        value = rest.pop()
    kw = {}
    while rest:
        x = rest.pop(0)
        if x in ("times", "after"):
            if not rest:
                raise ScenarioError("%s needs a number" % x)
            if x == "times":
                kw["times"] = int(rest.pop(0))
            else:
                kw["delay"] = float(rest.pop(0))
        elif x.isdigit():
            kw["n"] = int(x)
        elif "@" in x:
            kw["match"] = x
        else:
            raise ScenarioError("unexpected %r in a sink rule" % x)
    return tokens[0], kw, value


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run SMTP scenario files.")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="server to talk to (default: the own sink)")
    ap.add_argument("--sink-control", help="control socket of a running sink.py")
    ap.add_argument("--own-sink", action="store_true", help="start a sink in this process")
    ap.add_argument("--sink-port", type=int, default=0, help="port for --own-sink")
    ap.add_argument("--timeout", type=float, default=10.0, help="per reply (default 10 s)")
    ap.add_argument("--no-reset", action="store_true", help="do not reset the sink per scenario")
    args = ap.parse_args(argv)
    sink = None
    own = None
    if args.sink_control:
        from sink import SinkClient
        sink = SinkClient(args.sink_control)
    elif args.own_sink:
        from sink import Sink
        own = sink = Sink(port=args.sink_port).start()
        print("sink listening on 127.0.0.1:%d" % own.port, flush=True)
    port = args.port if args.port is not None else (own.port if own else None)
    if port is None:
        ap.error("--port is needed unless --own-sink")
    try:
        passed, failed = run_files(args.files, args.host, port, sink, timeout=args.timeout,
                                   reset=not args.no_reset)
    finally:
        if own is not None:
            own.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

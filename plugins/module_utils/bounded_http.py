# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded HTTP: every answer this collection reads has a deadline and a size limit, and fails with one message.

``request`` reads a whole answer within a total deadline (a server that sends one byte now and then cannot keep
it alive past it) and a size limit; ``Answer.json`` parses it and checks its shape. ``stream`` opens a long answer
(Ollama's pull: many GB over minutes) that is read line by line, with an idle timeout per read and a cap per
line instead of a total deadline. Everything that goes wrong raises ``HttpFailure``, whose message names the
method, the URL (its password masked) and what was wrong. Standard library only: it runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import http.client
import json
import select
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DEADLINE = 30
DEFAULT_LIMIT = 1024 * 1024  # JSON answers are a few KB; a caller that wants more says so
ERROR_BODY_LIMIT = 64 * 1024
LINE_LIMIT = 1024 * 1024
CHUNK = 64 * 1024
MASK = "********"


class HttpFailure(Exception):
    """A request that did not give a usable answer; the message says what was wrong, ``kind`` names it.

    Kinds: bad_url, refused, unreachable, no_answer, status, not_json, shape, too_large, too_slow, idle, broken.
    ``status`` and ``body`` are set for kind ``status`` (the body at most ERROR_BODY_LIMIT bytes).
    """

    def __init__(self, message, kind, status=None, body=b""):
        super(HttpFailure, self).__init__(message)
        self.kind = kind
        self.status = status
        self.body = body


def mask_url(url):
    """The URL with its password, if any, replaced by ******** (for messages and results)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _at, hostport = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc="%s:%s@%s" % (userinfo.partition(":")[0], MASK, hostport)))


def check_url(url):
    """The split URL; HttpFailure unless it is http:// or https:// with a host (never file:// or others)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpFailure("%s is not an http:// or https:// URL with a host, such as http://127.0.0.1:11434; "
                          "nothing was asked." % mask_url(url), "bad_url")
    return parts


def _size(count):
    return "%d bytes" % count


def _describe(value):
    for kind, name in ((dict, "an object"), (list, "a list"), (bool, "true or false"), (str, "a string"),
                       ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return "null"


def first_line(body, longest=200):
    """The first non-empty line of a body, decoded and trimmed, for a message."""
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0][:longest] if text else "(an empty body)"


class Answer:
    """A whole answer: status, headers (lower-case names), body; ``where`` is "METHOD URL" for messages."""

    def __init__(self, where, status, headers, body):
        self.where, self.status, self.headers, self.body = where, status, headers, body

    def json(self, shape=None, keys=()):
        """The decoded JSON; HttpFailure when it is not JSON, or not of ``shape`` (dict or list) with ``keys``."""
        try:
            value = json.loads(self.body.decode("utf-8"))
        except ValueError:
            content_type = self.headers.get("content-type", "no content type").split(";")[0].strip()
            what = "HTML (%s)" % content_type if "html" in content_type else content_type
            raise HttpFailure("%s answered %s, not JSON: %s. Does the URL point at the right service?"
                              % (self.where, what, first_line(self.body)), "not_json")
        wanted = {dict: "an object", list: "a list"}.get(shape)
        if wanted and not isinstance(value, shape):
            with_keys = " with key %s" % ", ".join(repr(key) for key in keys) if keys else ""
            raise HttpFailure("%s answered JSON of the wrong shape: expected %s%s, got %s."
                              % (self.where, wanted, with_keys, _describe(value)), "shape")
        missing = [key for key in keys if key not in value]
        if missing:
            raise HttpFailure("%s answered JSON of the wrong shape: expected an object with key %s, got one without."
                              % (self.where, ", ".join(repr(key) for key in missing)), "shape")
        return value


class _Exchange:
    """One connection: connects, sends, reads the status and headers; a watchdog cuts it at the deadline."""

    def __init__(self, url, method, data, headers, deadline):
        parts = check_url(url)
        self.where = "%s %s" % (method, mask_url(url))
        self.deadline, self.seconds = time.monotonic() + deadline, deadline
        self.expired = False
        self.received = None  # bytes of the body read; None until the status line arrived
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.connection = connection_class(parts.hostname, parts.port, timeout=deadline)
        self.headers = dict(headers or {})
        if parts.username is not None or parts.password is not None:
            credentials = "%s:%s" % (parts.username or "", parts.password or "")
            self.headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        self.path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self.method, self.body = method, None if data is None else json.dumps(data).encode()
        if self.body is not None:
            self.headers.setdefault("Content-Type", "application/json")
        self.watchdog = threading.Timer(deadline, self._cut)
        self.watchdog.daemon = True

    def _cut(self):
        """At the deadline: shut the socket down, so that a read blocked in another thread returns at once."""
        self.expired = True
        sock = self.connection.sock
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the raw socket, also below TLS
            except OSError:
                pass

    def fail(self, error):
        """The HttpFailure for an error raised while talking to the server."""
        if self.expired:
            if self.received is None:
                return HttpFailure("%s: nothing arrived within the deadline of %s s. Is the service busy or hung?"
                                   % (self.where, self.seconds), "no_answer")
            return HttpFailure("%s: the answer began but did not complete within the deadline of %s s (%s arrived)."
                               % (self.where, self.seconds, self.progress()), "too_slow")
        if isinstance(error, ConnectionRefusedError):
            return HttpFailure("%s: connection refused, nothing listens there" % self.where, "refused")
        if isinstance(error, socket.gaierror):
            return HttpFailure("%s: cannot resolve the host name (%s)" % (self.where, error), "unreachable")
        if isinstance(error, (socket.timeout, TimeoutError)):
            return self.fail_expired()
        reason = str(error) or type(error).__name__
        if self.received is None:
            return HttpFailure("%s: the connection broke before an answer arrived (%s)" % (self.where, reason),
                               "broken")
        return HttpFailure("%s: the connection broke after %s of the answer (%s)" % (self.where, self.progress(),
                                                                                     reason), "broken")

    def fail_expired(self):
        self.expired = True
        return self.fail(None)

    def progress(self):
        length = self.response.getheader("Content-Length") if self.received is not None else None
        return "%s of %s bytes" % (self.received, length) if length else _size(self.received or 0)

    def open(self):
        """Connect, send and read the status and headers; HttpFailure for any failure, the deadline included."""
        self.watchdog.start()
        try:
            self.connection.connect()
            self.connection.request(self.method, self.path, self.body, self.headers)
            # Wait for the first byte here, so that "nothing arrived" is told apart from an answer too slow.
            readable, _writable, _failed = select.select([self.connection.sock], [], [], max(self.deadline - time.monotonic(), 0))
            if not readable or self.expired:  # the watchdog's shutdown also makes the socket readable
                raise self.fail_expired()
            self.received = 0
            self.response = self.connection.getresponse()
        except HttpFailure:
            self.close()
            raise
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise self.fail(error)

    def read(self, limit):
        """The body, at most ``limit`` bytes; HttpFailure when it is larger or does not arrive in time."""
        length = self.response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise HttpFailure("%s: the answer is %s (Content-Length), more than the limit of %s; nothing was read."
                              % (self.where, _size(int(length)), _size(limit)), "too_large")
        chunks = []
        try:
            while self.received <= limit:
                chunk = self.response.read1(min(CHUNK, limit + 1 - self.received))
                if not chunk:
                    break
                chunks.append(chunk)
                self.received += len(chunk)
            if self.expired:  # the watchdog cut the socket and the read saw an end
                raise self.fail(None)
        except (OSError, http.client.HTTPException) as error:
            raise self.fail(error)
        if self.received > limit:
            raise HttpFailure("%s: the answer is larger than the limit of %s (%s arrived before reading stopped)."
                              % (self.where, _size(limit), _size(self.received)), "too_large")
        return b"".join(chunks)

    def check_status(self, accept):
        """HttpFailure for a status of 400 or more that is not in ``accept``, with the first line of its body."""
        status = self.response.status
        if status < 400 or status in accept:
            return
        body = self.read(ERROR_BODY_LIMIT) if not self.expired else b""
        raise HttpFailure("%s answered HTTP %d: %s" % (self.where, status, first_line(body)), "status",
                          status=status, body=body)

    def close(self):
        self.watchdog.cancel()
        self.connection.close()


def request(url, method="GET", data=None, headers=None, deadline=DEFAULT_DEADLINE, limit=DEFAULT_LIMIT, accept=()):
    """The whole answer of METHOD url (``data`` sent as JSON) within ``deadline`` seconds and ``limit`` bytes.

    A status of 400 or more raises HttpFailure (kind ``status``) unless it is in ``accept``.
    """
    exchange = _Exchange(url, method, data, headers, deadline)
    exchange.open()
    try:
        exchange.check_status(accept)
        body = exchange.read(limit)
        return Answer(exchange.where, exchange.response.status,
                      dict((name.lower(), value) for name, value in exchange.response.getheaders()), body)
    finally:
        exchange.close()


class Stream:
    """An open streaming answer, read line by line; use as a context manager or call ``close``."""

    def __init__(self, exchange, idle, line_limit):
        self.exchange, self.idle, self.line_limit = exchange, idle, line_limit
        self.status = exchange.response.status

    def lines(self):
        """Each line as it arrives; HttpFailure after ``idle`` silent seconds or for a line over the limit."""
        exchange = self.exchange
        while True:
            try:
                line = exchange.response.readline(self.line_limit + 1)
            except (socket.timeout, TimeoutError):
                raise HttpFailure("%s: sent nothing for %s s (after %s)"
                                  % (exchange.where, self.idle, _size(exchange.received)), "idle")
            except (OSError, http.client.HTTPException) as error:
                raise exchange.fail(error)
            if not line:
                return
            if len(line) > self.line_limit:
                raise HttpFailure("%s: a line of the answer is longer than the limit of %s; is it the service "
                                  "that was meant?" % (exchange.where, _size(self.line_limit)), "too_large")
            exchange.received += len(line)
            yield line

    def close(self):
        self.exchange.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def stream(url, method="POST", data=None, headers=None, deadline=60, idle=DEFAULT_DEADLINE, line_limit=LINE_LIMIT):
    """Open METHOD url for a long streaming answer: the status and headers within ``deadline`` seconds, then
    no total deadline but at most ``idle`` seconds between reads and ``line_limit`` bytes a line.

    A status of 400 or more raises HttpFailure (kind ``status``, with the body).
    """
    exchange = _Exchange(url, method, data, headers, deadline)
    exchange.open()
    try:
        exchange.check_status(())
    except HttpFailure:
        exchange.close()
        raise
    exchange.watchdog.cancel()  # from here on, the idle timeout bounds each read
    exchange.connection.sock.settimeout(idle)
    return Stream(exchange, idle, line_limit)

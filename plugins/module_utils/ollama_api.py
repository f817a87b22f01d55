# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin client for the Ollama routes ollama_model needs, over the collection's bounded HTTP layer.

``show`` and ``delete`` answer None/False for Ollama's 404 (no such model); everything else that goes wrong
becomes an ``OllamaError`` whose message says what to do: a refused connection means Ollama is not running.
A password in the host URL is sent as basic auth and shown as ******** in every message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import (
    HttpFailure,
    mask_url,
    request,
    stream,
)

DEFAULT_HOST = "http://127.0.0.1:11434"
REQUEST_TIMEOUT = 60  # show and delete answer at once; only a pull takes long
CONNECT_TIMEOUT = 60  # until a pull's stream begins; after that the idle timeout bounds each read
# Kinds of HttpFailure that mean the answer is not Ollama's.
NOT_OLLAMA = ("not_json", "shape", "too_large")


class OllamaError(Exception):
    """A request to Ollama failed; ``kind`` names the cause, ``code`` the HTTP status when there was one."""

    def __init__(self, message, kind, code=None, error=None):
        super(OllamaError, self).__init__(message)
        self.kind = kind
        self.code = code
        self.error = error  # Ollama's own {"error": ...} text, when it sent one


def error_text(body):
    """(Ollama's ``{"error": "..."}`` text or None, what to show): the body itself (trimmed) when it is not that."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("error"):
        return str(parsed["error"]), str(parsed["error"])
    return None, text.strip()[:500] or "(empty answer)"


def not_running(host, reason):
    return OllamaError(
        "Nothing answers at %s (%s): Ollama is not running there. Start it with `systemctl start ollama`, see why it "
        "stopped with `systemctl status ollama` and `journalctl -u ollama`; if Ollama listens elsewhere, set the host "
        "option to its OLLAMA_HOST." % (host, reason), "server_not_running")


class OllamaClient:
    """POST /api/show, DELETE /api/delete and the streaming POST /api/pull of one Ollama server, without a proxy."""

    def __init__(self, host=DEFAULT_HOST, request_timeout=REQUEST_TIMEOUT):
        self.host = host.rstrip("/")
        self.shown = mask_url(self.host)  # for messages: never the password
        self.request_timeout = request_timeout

    def failure(self, error, method, route):
        """The OllamaError for an HttpFailure of METHOD route."""
        if error.kind == "refused":
            return not_running(self.shown, "connection refused")
        if error.kind == "status":
            ollama_error, text = error_text(error.body)
            hint = "" if ollama_error else " That is not Ollama's way of answering: does the host option point at Ollama?"
            return OllamaError("%s answered HTTP %d to %s %s: %s.%s" % (self.shown, error.status, method, route, text,
                                                                        hint),
                               "http_error", code=error.status, error=ollama_error)
        if error.kind in NOT_OLLAMA:
            return OllamaError("%s Does the host option point at Ollama?" % error, "protocol")
        return OllamaError("%s. Check the host option and `systemctl status ollama`." % error, "server_unreachable")

    def _request(self, method, route, body):
        try:
            return request(self.host + route, method, body, deadline=self.request_timeout)
        except HttpFailure as error:
            raise self.failure(error, method, route)

    def show(self, name):
        """Ollama's description of the model (details, capabilities...), or None when it does not have it (404)."""
        try:
            answer = self._request("POST", "/api/show", {"model": name})
            return answer.json(dict) if answer.body.strip() else {}
        except HttpFailure as error:
            raise self.failure(error, "POST", "/api/show")
        except OllamaError as error:
            if error.code == 404 and error.error is not None:  # Ollama's own "model 'x' not found"
                return None
            raise

    def delete(self, name):
        """Delete the model; False when Ollama did not have it (404)."""
        try:
            self._request("DELETE", "/api/delete", {"model": name})
        except OllamaError as error:
            if error.code == 404 and error.error is not None:
                return False
            raise
        return True

    def pull(self, name, insecure=False, idle=None):
        """The open streaming answer of POST /api/pull (a bounded_http Stream); ``idle`` bounds each read."""
        body = {"model": name, "stream": True, "insecure": bool(insecure)}
        try:
            return stream(self.host + "/api/pull", "POST", body, deadline=min(CONNECT_TIMEOUT, idle or CONNECT_TIMEOUT),
                          idle=idle or self.request_timeout)
        except HttpFailure as error:
            raise self.failure(error, "POST", "/api/pull")

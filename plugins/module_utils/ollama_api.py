# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A thin client for the Ollama routes ollama_model needs, over Ansible's own HTTP helper (nothing to install).

``show`` and ``delete`` answer None/False for Ollama's 404 (no such model); everything else that goes wrong
becomes an ``OllamaError`` whose message says what to do: a refused connection means Ollama is not running.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import socket

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

DEFAULT_HOST = "http://127.0.0.1:11434"
REQUEST_TIMEOUT = 60  # show and delete answer at once; only a pull takes long


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


def is_refused(reason):
    """Whether a URLError's reason is a refused connection: nothing listens on that port."""
    return isinstance(reason, (IOError, OSError)) and getattr(reason, "errno", None) == errno.ECONNREFUSED


def not_running(host, reason):
    return OllamaError(
        "Nothing answers at %s (%s): Ollama is not running there. Start it with `systemctl start ollama`, see why it "
        "stopped with `systemctl status ollama` and `journalctl -u ollama`; if Ollama listens elsewhere, set the host "
        "option to its OLLAMA_HOST." % (host, reason), "server_not_running")


class OllamaClient:
    """POST /api/show, DELETE /api/delete and the streaming POST /api/pull of one Ollama server, without a proxy."""

    def __init__(self, host=DEFAULT_HOST, request_timeout=REQUEST_TIMEOUT, opener=open_url):
        self.host = host.rstrip("/")
        self.request_timeout = request_timeout
        self._open = opener

    def _request(self, method, route, body, timeout=None):
        """The open response of METHOD route with a JSON body; OllamaError for a refused or failed connection."""
        url = self.host + route
        try:
            return self._open(url, data=json.dumps(body), method=method, timeout=timeout or self.request_timeout,
                              headers={"Content-Type": "application/json"}, use_proxy=False, follow_redirects="none")
        except HTTPError as error:
            ollama_error, text = error_text(error.read() if error.fp is not None else b"")
            hint = "" if ollama_error else " That is not Ollama's way of answering: does the host option point at Ollama?"
            raise OllamaError("%s answered HTTP %d to %s %s: %s.%s" % (self.host, error.code, method, route, text, hint),
                              "http_error", code=error.code, error=ollama_error)
        except URLError as error:
            if is_refused(error.reason):
                raise not_running(self.host, "connection refused")
            raise OllamaError("Could not reach Ollama at %s (%s). Check the host option and `systemctl status ollama`."
                              % (self.host, error.reason), "server_unreachable")
        except (socket.timeout, IOError, OSError, http_client.HTTPException) as error:
            if is_refused(error):
                raise not_running(self.host, "connection refused")
            raise OllamaError("Asking Ollama at %s for %s %s failed: %s. Check `systemctl status ollama`."
                              % (self.host, method, route, str(error) or type(error).__name__), "server_unreachable")

    def show(self, name):
        """Ollama's description of the model (details, capabilities...), or None when it does not have it (404)."""
        try:
            response = self._request("POST", "/api/show", {"model": name})
        except OllamaError as error:
            if error.code == 404 and error.error is not None:  # Ollama's own "model 'x' not found"
                return None
            raise
        try:
            return json.loads(response.read().decode("utf-8") or "{}")
        except ValueError:
            raise OllamaError("Ollama at %s answered POST /api/show with something that is not JSON. Does the host "
                              "option point at Ollama?" % self.host, "protocol")
        finally:
            response.close()

    def delete(self, name):
        """Delete the model; False when Ollama did not have it (404)."""
        try:
            response = self._request("DELETE", "/api/delete", {"model": name})
        except OllamaError as error:
            if error.code == 404 and error.error is not None:
                return False
            raise
        response.close()
        return True

    def pull(self, name, insecure=False, timeout=None):
        """The open streaming answer of POST /api/pull; read it with ``lines``. ``timeout`` bounds each read."""
        return self._request("POST", "/api/pull", {"model": name, "stream": True, "insecure": bool(insecure)},
                             timeout=timeout)


def lines(response):
    """The raw lines of a streaming answer as they arrive (chunked NDJSON: readline returns each line at once)."""
    return iter(response.readline, b"")

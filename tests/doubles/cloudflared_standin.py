# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloudflared stand-in: a TEST FIXTURE, not cloudflared. It never contacts Cloudflare.

Cloudflare's edge is out of our machines' reach, so the cloudflared Molecule scenario installs this file (with a
python3 shebang, through tests/fixtures/cloudflared_release.py, as the release binary `cloudflared-linux-amd64`)
and runs it under the role's cloudflared.service. It does what the role depends on, the way cloudflared does it:
- `cloudflared --version` (also `-v`, `version`): `cloudflared version <v> (built ...)`;
- `cloudflared tunnel --config F ingress validate`: "Validating rules from F", then "OK" (exit 0) or
  "Validation failed: <reason>" (exit 1), with the rules and the messages of cloudflared's ingress/ingress.go: at
  least one rule; every rule a service (an http(s)/ws(s)/tcp/ssh/rdp URL with a scheme and a host and no path,
  `http_status:<int>`, `unix:`/`unix+tls:`, `hello_world`, `bastion`, `socks-proxy`); no port and at most one
  leading `*` in a hostname; a valid path regex; the last rule a catch-all (no hostname, no path) and only the last.
  STRICTER THAN THE REAL COMMAND: it also wants `tunnel` set and the `credentials-file` present, readable JSON with
  AccountTag, TunnelSecret and a TunnelID equal to `tunnel` (the real cloudflared checks the credentials only at
  `tunnel run`);
- `cloudflared [--no-autoupdate] [--metrics ADDR] --config F tunnel run`: the same checks, then stays in the
  foreground logging that it is a stand-in (the tunnel id and the hostnames, never the secret), serving
  `/ready` (200, as cloudflared does once connected) and `/metrics` (build_info with the version) on ADDR when given,
  and an EDGE listener, until SIGTERM.

The edge listener is what the visitor's side of Cloudflare would be: plain HTTP/1.1 on the address in the
environment variable CLOUDFLARED_STANDIN_EDGE, else on the port after the --metrics port on the same address
(127.0.0.1:20242 with the role's 127.0.0.1:20241; two stand-ins with their own metrics ports, as the site and
cloudflared scenarios run side by side on one network, get their own edges), else on 127.0.0.1:20242; it logs the
address. A request there is handled as cloudflared 2025.11.1 handles one that the edge hands it:
- the rule: proxy/proxy.go ProxyHTTP calls ingress/ingress.go FindMatchingRule(req.Host, req.URL.Path): the Host
  without its port (net.SplitHostPort), the rules tried in order, the first whose ingress/rule.go Matches holds,
  else the last. A rule's host matches when it is empty or `*`, equal to the Host (a plain string comparison, so
  CASE-SENSITIVE: `DevServer.Example.org` is not `devserver.example.org`), or `*.example.org` and the Host ends in
  `.example.org` (matchHost: any depth, never `example.org` itself), or equal to the hostname's punycode; its path
  regex must match somewhere in the URL's (percent-decoded) path (regexp.MatchString, unanchored; Python's `re`
  stands in for Go's RE2);
- `http_status:N` (ingress/origin_proxy.go statusCode.RoundTrip): N with an empty body;
- an http:// or https:// service (ws:// and wss:// are http and https, ingress/ingress.go isHTTPService): a NEW TCP
  connection to the service's host and port, opened from the stand-in's own socket (so a loopback origin sees a
  loopback peer, as it does with cloudflared), connect timeout originRequest.connectTimeout (30s by default,
  ingress/config.go); the visitor's method, path and query, body and headers (every repeated one kept), the
  visitor's Host unless originRequest.httpHostHeader sets another, in which case X-Forwarded-Host carries the
  visitor's (ingress/origin_proxy.go httpService.RoundTrip); `Connection: keep-alive` and no User-Agent where the
  visitor sent none (proxy/proxy.go proxyHTTPRequest); https origins' certificates verified against the system's
  CAs unless originRequest.noTLSVerify, with originRequest.originServerName as the name (origin_service.go
  newHTTPTransport). Added as Cloudflare's edge adds them (developers.cloudflare.com/fundamentals/reference/
  http-headers/), each replacing what the visitor sent: Cf-Connecting-Ip (the visitor's address), X-Forwarded-Proto
  `https` and Cf-Visitor `{"scheme":"https"}` (the edge serves the hostname over HTTPS; the stand-in's listener is
  plain HTTP), Cf-Ray (a random 16-hex id and the made-up colo `STN`); X-Forwarded-For is the visitor's address,
  appended to what the visitor sent. Hop-by-hop headers (Connection and what it names, Keep-Alive,
  Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade) and Expect are
  not forwarded (the edge speaks HTTP/2 to cloudflared, which has none). The origin's status, its headers (every
  Set-Cookie kept, hop-by-hop ones dropped) and its body come back, streamed;
- an origin that refuses the connection, cannot be reached or fails before its answer's headers: 502, as cloudflared
  answers (connection/http2.go WriteErrorResponse) with cloudflared's reason as the body, "Unable to reach the origin
  service. The service may be down or it may not be responding to traffic from cloudflared" (proxy/proxy.go); an
  origin that sends no headers within 100 s: 524, Cloudflare's "A timeout occurred";
- STRICTER THAN CLOUDFLARED: every other service (unix:, unix+tls:, hello_world, bastion, socks-proxy, tcp://,
  ssh://, rdp://...), a websocket (an Upgrade header), a rule with an originRequest setting the stand-in does not
  apply (anything but httpHostHeader, noTLSVerify, originServerName, connectTimeout: `access`, `caPool`, ...) get a
  502 saying the stand-in does not serve it; a request without a Host or with two, or with both Content-Length and
  Transfer-Encoding, or whose target is not a path, gets 400.
What it does NOT do: connect to Cloudflare's edge, TLS or HTTP/2 or HTTP/3 towards the visitor, websockets, the
edge's other work (Accept-Encoding rewriting, Cf-Ipcountry, caching, WAF, Access, Cloudflare's error pages,
request-size limits), reuse of idle origin connections (cloudflared keeps up to keepAliveConnections; the stand-in
opens one per request), proxy environment variables, check the credentials with Cloudflare, update itself, or read
YAML beyond block mappings, block sequences and scalars (cloudflared reads any YAML; the role writes only that
subset). Python's standard library only, so it runs on a bare Debian host.
"""

import http.client
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

# The release this copy pretends to be; tests/fixtures/cloudflared_release.py rewrites this line per version.
VERSION = "2025.11.1"
BUILT = "2025-11-13-1200 UTC"

# cloudflared's own messages (ingress/ingress.go), word for word.
NO_RULES = "The config file doesn't contain any ingress rules"
LAST_NOT_CATCH_ALL = "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)"
BAD_WILDCARD = ('Hostname patterns can have at most one wildcard character ("*") and it can only be used for '
                'subdomains, e.g. "*.example.com"')
HOSTNAME_PORT = "Hostname cannot contain a port"
NAMED_SERVICES = ("hello_world", "hello-world", "helloworld", "bastion", "socks-proxy")
CREDENTIAL_KEYS = ("AccountTag", "TunnelSecret", "TunnelID")
KNOWN_FLAGS = {"--config": True, "--metrics": True, "--loglevel": True, "--no-autoupdate": False}

# The edge listener (module docstring).
EDGE_VARIABLE = "CLOUDFLARED_STANDIN_EDGE"
DEFAULT_EDGE = "127.0.0.1:20242"
# proxy/proxy.go: the error cloudflared logs when the round trip to the origin fails (and answers 502).
ORIGIN_UNREACHABLE = ("Unable to reach the origin service. The service may be down or it may not be responding to "
                      "traffic from cloudflared")
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade"))
# Set by the edge, whatever the visitor sent (X-Forwarded-For is appended to instead).
EDGE_HEADERS = frozenset(("cf-connecting-ip", "x-forwarded-proto", "cf-visitor", "cf-ray", "x-forwarded-for"))
APPLIED_ORIGIN_REQUEST = frozenset(("httpHostHeader", "noTLSVerify", "originServerName", "connectTimeout"))
CONNECT_TIMEOUT = 30.0      # ingress/config.go defaultHTTPConnectTimeout
EDGE_READ_TIMEOUT = 100.0   # Cloudflare's wait for the origin's answer before its 524
GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class StandinError(Exception):
    """What cloudflared would print before exiting 1."""


# --- the YAML subset -------------------------------------------------------------------------------------------

def _scalar(text):
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise StandinError("yaml: unterminated quoted scalar %s" % text)
        return text[1:-1].replace("''", "'")
    text = re.sub(r"\s+#.*$", "", text)
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text[0] in "[{&*!|>":
        raise StandinError("the stand-in reads block YAML only, not %r" % text)
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    return text


def _split_key(content):
    """'key: value' -> (key, value text) or None for a plain scalar."""
    found = re.match(r"""^("[^"]*"|'[^']*'|[^\s#'"][^:#]*?)\s*:(?:\s+(.*))?$""", content)
    if not found:
        return None
    return _scalar(found.group(1)), (found.group(2) or "")


def _lines(text):
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise StandinError("yaml: line %d: found a tab character that violates indentation" % number)
        stripped = raw.strip()
        if stripped and not stripped.startswith("#") and stripped not in ("---", "..."):
            yield [len(raw) - len(raw.lstrip(" ")), stripped]


def _block(lines, index, indent):
    """Parse the block starting at lines[index] (indented `indent`); return (value, next index)."""
    if lines[index][1] == "-" or lines[index][1].startswith("- "):
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _sequence(lines, index, indent):
    items = []
    while index < len(lines) and lines[index][0] == indent and (lines[index][1] == "-" or lines[index][1].startswith("- ")):
        rest = lines[index][1][1:].lstrip(" ")
        if not rest:
            if index + 1 < len(lines) and lines[index + 1][0] > indent:
                value, index = _block(lines, index + 1, lines[index + 1][0])
            else:
                value, index = None, index + 1
        elif rest.startswith("- ") or _split_key(rest):
            # "- key: value": a mapping (or sequence) whose first line starts after the dash
            lines[index] = [indent + len(lines[index][1]) - len(rest), rest]
            value, index = _block(lines, index, lines[index][0])
        else:
            value, index = _scalar(rest), index + 1
        items.append(value)
    return items, index


def _mapping(lines, index, indent):
    mapping = {}
    while index < len(lines) and lines[index][0] == indent:
        pair = _split_key(lines[index][1])
        if pair is None:
            raise StandinError("yaml: line %r: expected a 'key: value'" % lines[index][1])
        key, rest = pair
        index += 1
        if rest.strip() and not rest.strip().startswith("#"):
            mapping[key] = _scalar(rest)
        elif index < len(lines) and (lines[index][0] > indent or (
                lines[index][0] == indent and (lines[index][1] == "-" or lines[index][1].startswith("- ")))):
            mapping[key], index = _block(lines, index, lines[index][0])
        else:
            mapping[key] = None
    return mapping, index


def parse_yaml(text):
    """The block-YAML subset the role writes: mappings, sequences, plain and quoted scalars, comments."""
    lines = list(_lines(text))
    if not lines:
        return None
    value, index = _block(lines, 0, lines[0][0])
    if index != len(lines):
        raise StandinError("yaml: line %r is not indented like the block before it" % lines[index][1])
    return value


# --- cloudflared's checks ----------------------------------------------------------------------------------------

def check_service(service):
    """ingress/ingress.go validateIngress: what a rule's service may be."""
    service = "" if service is None else str(service)
    if service.startswith(("unix:", "unix+tls:")) or service in NAMED_SERVICES:
        return
    if service.startswith("http_status:"):
        status = service[len("http_status:"):]
        if not re.fullmatch(r"[-+]?[0-9]+", status):
            raise StandinError('invalid HTTP status: strconv.Atoi: parsing "%s": invalid syntax' % status)
        return
    parts = urlsplit(service)
    if not parts.scheme or not parts.hostname:
        raise StandinError("%s is an invalid address, please make sure it has a scheme and a hostname" % service)
    if parts.path:
        raise StandinError("%s is an invalid address, ingress rules don't support proxying to a different path on the "
                           "origin service. The path will be the same as the eyeball request's path" % service)


def has_port(hostname):
    """Go's net.SplitHostPort succeeds: host:port, [v6]:port."""
    return bool(re.fullmatch(r"\[[^\]]*\]:[^:]*|[^:\[\]]*:[^:]*", hostname))


def check_hostname(rule, index, total):
    hostname = str(rule.get("hostname") or "")
    path = str(rule.get("path") or "")
    if has_port(hostname):
        raise StandinError(HOSTNAME_PORT)
    if hostname.rfind("*") > 0:
        raise StandinError(BAD_WILDCARD)
    catch_all = hostname in ("", "*") and path == ""
    last = index == total - 1
    if last and not catch_all:
        raise StandinError(LAST_NOT_CATCH_ALL)
    if not last and catch_all:
        raise StandinError("Rule #%d is matching the hostname '%s', but this will match every hostname, meaning the "
                           "rules which follow it will never be triggered." % (index + 1, hostname))


def check_ingress(config):
    rules = config.get("ingress") or []
    if not isinstance(rules, list) or not rules:
        raise StandinError(NO_RULES)
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise StandinError("Rule #%d is not a mapping" % (index + 1))
        check_service(rule.get("service"))
        check_hostname(rule, index, len(rules))
        if rule.get("path"):
            try:
                re.compile(str(rule["path"]))
            except re.error as error:
                raise StandinError("Rule #%d has an invalid regex: %s" % (index + 1, error))
    return rules


def check_credentials(config):
    """The stand-in's extra check (cloudflared does it at `tunnel run`): the credentials belong to the tunnel."""
    tunnel = str(config.get("tunnel") or "")
    if not tunnel:
        raise StandinError("the config has no `tunnel` (the tunnel's UUID)")
    path = config.get("credentials-file")
    if not path:
        raise StandinError("the config has no `credentials-file`")
    if not os.path.isfile(path):
        raise StandinError("Tunnel credentials file '%s' doesn't exist or is not a file" % path)
    try:
        with open(path, encoding="utf-8") as handle:
            credentials = json.load(handle)
    except OSError as error:
        raise StandinError("Tunnel credentials file '%s' cannot be read: %s" % (path, error.strerror))
    except ValueError:
        raise StandinError("Tunnel credentials file '%s' is not JSON" % path)
    missing = [key for key in CREDENTIAL_KEYS if not (isinstance(credentials, dict) and credentials.get(key))]
    if missing:
        raise StandinError("Tunnel credentials file '%s' lacks %s" % (path, ", ".join(missing)))
    if str(credentials["TunnelID"]) != tunnel:
        raise StandinError("Tunnel credentials file '%s' is for tunnel %s, not for the configured tunnel %s"
                           % (path, credentials["TunnelID"], tunnel))


def load_config(path):
    if not path:
        raise StandinError("the stand-in needs --config FILE")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise StandinError("open %s: %s" % (path, (error.strerror or str(error)).lower()))
    config = parse_yaml(text)
    if not isinstance(config, dict):
        raise StandinError("%s is not a YAML mapping" % path)
    return config


def validate(path):
    """`tunnel ingress validate`: the config's rules (and, stricter than cloudflared, its credentials)."""
    config = load_config(path)
    check_ingress(config)
    check_credentials(config)
    return config


# --- the edge: a visitor's request, forwarded as cloudflared forwards it -------------------------------------------

def split_host_port(host):
    """ingress/ingress.go FindMatchingRule: net.SplitHostPort's host where the Host has a port, else the Host."""
    if has_port(host):
        return host.rpartition(":")[0].strip("[]") if host.startswith("[") else host.rpartition(":")[0]
    return host


def match_host(rule_host, request_host):
    """ingress/ingress.go matchHost: equal, or `*.suffix` and the request's host ends in `.suffix`."""
    if rule_host == request_host:
        return True
    if rule_host.startswith("*."):
        return request_host.endswith(rule_host[1:])
    return False


def punycode(hostname):
    """The rule's hostname in punycode where that differs (ingress/ingress.go validateIngress), else ""."""
    try:
        encoded = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return "" if encoded == hostname else encoded


def go_duration(value, where):
    """A YAML duration as cloudflared reads one into time.Duration: "30s", "1m30s", "500ms" or nanoseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value / 1e9
    text = str(value)
    parts = re.findall(r"([0-9]*\.?[0-9]+)(ns|us|\u00b5s|ms|s|m|h)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise StandinError('%s: time: invalid duration "%s"' % (where, text))
    return sum(float(number) * GO_DURATION_UNITS[unit] for number, unit in parts)


class EdgeRule:
    """One ingress rule as the edge applies it: compiled once at `tunnel run`."""

    def __init__(self, number, rule, defaults):
        self.number = number
        self.hostname = str(rule.get("hostname") or "")
        catch_all = self.hostname in ("", "*") and not rule.get("path")
        self.punycode = "" if catch_all else punycode(self.hostname)
        self.path = re.compile(str(rule["path"])) if rule.get("path") else None
        self.service = str(rule.get("service"))
        origin = dict(defaults or {})
        origin.update(rule.get("originRequest") or {})
        self.origin = origin
        self.not_applied = sorted(key for key in origin if key not in APPLIED_ORIGIN_REQUEST)
        self.connect_timeout = (go_duration(origin["connectTimeout"], "rule #%d originRequest.connectTimeout" % number)
                                if origin.get("connectTimeout") is not None else CONNECT_TIMEOUT)

    def matches(self, host, path):
        """ingress/rule.go Rule.Matches."""
        host_match = self.hostname in ("", "*") or match_host(self.hostname, host)
        punycode_match = bool(self.punycode) and match_host(self.punycode, host)
        return (host_match or punycode_match) and (self.path is None or self.path.search(path) is not None)


def edge_rules(config):
    defaults = config.get("originRequest")
    if defaults is not None and not isinstance(defaults, dict):
        raise StandinError("originRequest is not a mapping")
    return [EdgeRule(number, rule, defaults) for number, rule in enumerate(check_ingress(config), 1)]


def find_matching_rule(rules, host, path):
    """ingress/ingress.go FindMatchingRule: the first rule that matches, else the last (the catch-all)."""
    host = split_host_port(host)
    for rule in rules:
        if rule.matches(host, path):
            return rule
    return rules[-1]


def edge_address(flags, environ):
    """CLOUDFLARED_STANDIN_EDGE, else the port after --metrics's on its address, else 127.0.0.1:20242."""
    if environ.get(EDGE_VARIABLE):
        return environ[EDGE_VARIABLE]
    if flags.get("--metrics"):
        host, _separator, port = flags["--metrics"].rpartition(":")
        return "%s:%d" % (host or "127.0.0.1", int(port) + 1)
    return DEFAULT_EDGE


def listen_address(address, what):
    """'host:port' or '[v6]:port' -> (host, port), or a StandinError naming the variable."""
    found = re.fullmatch(r"\[([^\]]+)\]:([0-9]+)|([^:\[\]]*):([0-9]+)", address or "")
    if not found:
        raise StandinError("%s %r is not host:port (or [IPv6]:port)" % (what, address))
    host = found.group(1) or found.group(3) or "127.0.0.1"
    port = int(found.group(2) or found.group(4))
    if not 0 < port < 65536:
        raise StandinError("%s %r: the port is not 1-65535" % (what, address))
    return host, port


class EdgeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, rules):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.rules = rules
        super().__init__(address, EdgeHandler)


class BadRequest(Exception):
    """The visitor's request is not one the stand-in forwards: 400."""


class EdgeHandler(BaseHTTPRequestHandler):
    """A visitor's HTTP/1.1 request at the edge (the module docstring says what is done with it)."""

    protocol_version = "HTTP/1.1"
    server_version = "cloudflared-standin"

    def do_GET(self):  # noqa: N802 (the names http.server calls)
        self.proxy()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_message(self, *args):
        pass

    def answer(self, status, text="", close=False):
        body = text.encode()
        self.send_response_only(status)
        if body:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The visitor's body (Content-Length or chunked), or None where it sent none."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings and lengths:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        if encodings:
            if [word.strip().lower() for value in encodings for word in value.split(",")] != ["chunked"]:
                raise BadRequest("a Transfer-Encoding other than chunked")
            return self.read_chunked()
        if not lengths:
            return None
        if len(set(lengths)) != 1 or not lengths[0].strip().isdigit():
            raise BadRequest("an invalid Content-Length")
        return self.rfile.read(int(lengths[0]))

    def read_chunked(self):
        body = bytearray()
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest("a broken chunked body")
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(3)

    def proxy(self):
        try:
            hosts = self.headers.get_all("Host") or []
            if len(hosts) != 1 or not hosts[0]:
                raise BadRequest("no Host header" if not hosts else "more than one Host header")
            if not self.path.startswith("/"):
                raise BadRequest("a request target that is not a path")
            body = self.read_body()
        except BadRequest as error:
            self.answer(400, "400 Bad Request: %s\n" % error, close=True)
            return
        host = hosts[0]
        raw_path = self.path.partition("?")[0]
        rule = find_matching_rule(self.server.rules, host, unquote(raw_path))
        outcome = self.serve(rule, host, body)
        log("edge %s %s host=%s -> rule #%d %s: %s" % (self.command, raw_path, host, rule.number, rule.service, outcome))

    def serve(self, rule, host, body):
        service = rule.service
        if service.startswith("http_status:"):
            status = int(service[len("http_status:"):])
            self.answer(status)
            return status
        scheme = urlsplit(service).scheme
        refusal = None
        if scheme not in ("http", "https", "ws", "wss"):
            refusal = "the stand-in does not serve %s (only http_status: and http(s):// services)" % service
        elif rule.not_applied:
            refusal = ("the stand-in does not apply originRequest.%s of rule #%d, so it does not forward what "
                       "cloudflared would treat differently" % (", originRequest.".join(rule.not_applied), rule.number))
        elif self.headers.get("Upgrade"):
            refusal = "the stand-in does not proxy websockets or other upgrades"
        if refusal:
            self.answer(502, "502 Bad Gateway: %s\n" % refusal)
            return "502 (%s)" % refusal
        return self.forward(rule, host, body)

    def origin_headers(self, rule, host):
        named = {word.strip().lower() for value in self.headers.get_all("Connection") or [] for word in value.split(",")}
        headers = [(name, value) for name, value in self.headers.items()
                   if name.lower() not in HOP_BY_HOP | EDGE_HEADERS | named | {"host", "content-length", "expect"}]
        if rule.origin.get("httpHostHeader"):
            headers = [(name, value) for name, value in headers if name.lower() != "x-forwarded-host"]
            headers.append(("X-Forwarded-Host", host))
        visitor = self.client_address[0]
        forwarded = ",".join(self.headers.get_all("X-Forwarded-For") or [])
        headers += [("Cf-Connecting-Ip", visitor), ("X-Forwarded-For", forwarded + "," + visitor if forwarded else visitor),
                    ("X-Forwarded-Proto", "https"), ("Cf-Visitor", '{"scheme":"https"}'),
                    ("Cf-Ray", os.urandom(8).hex() + "-STN"), ("Connection", "keep-alive")]
        return headers

    def connect(self, rule):
        """A new TCP connection (TLS for https/wss) to the rule's origin."""
        origin = urlsplit(rule.service)
        secure = origin.scheme in ("https", "wss")
        port = origin.port or (443 if secure else 80)
        sock = socket.create_connection((origin.hostname, port), timeout=rule.connect_timeout)
        if secure:
            context = ssl.create_default_context()
            if rule.origin.get("noTLSVerify") is True:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=rule.origin.get("originServerName") or origin.hostname)
        sock.settimeout(EDGE_READ_TIMEOUT)
        connection = http.client.HTTPConnection(origin.hostname, port)
        connection.sock = sock
        return connection

    def forward(self, rule, host, body):
        connection = None
        try:
            connection = self.connect(rule)
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", rule.origin.get("httpHostHeader") or host)
            for name, value in self.origin_headers(rule, host):
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
        except socket.timeout as error:
            if connection is None or connection.sock is None:
                return self.origin_failed(error)
            self.answer(524, "524 A timeout occurred: the origin sent no answer within %d s\n" % EDGE_READ_TIMEOUT)
            connection.close()
            return "524"
        except (OSError, http.client.HTTPException) as error:
            if connection is not None:
                connection.close()
            return self.origin_failed(error)
        try:
            self.relay(response)
        finally:
            connection.close()
        return response.status

    def origin_failed(self, error):
        self.answer(502, "502 Bad Gateway: %s\n" % ORIGIN_UNREACHABLE)
        log('%s error="%s: %s"' % (ORIGIN_UNREACHABLE, type(error).__name__, error), "ERR")
        return "502"

    def relay(self, response):
        """The origin's status, headers and body to the visitor, streamed."""
        named = {word.strip().lower() for value in response.msg.get_all("Connection") or [] for word in value.split(",")}
        headers = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP | named]
        length = response.getheader("Content-Length")
        bodiless = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        chunked = not bodiless and length is None and self.request_version == "HTTP/1.1"
        self.send_response_only(response.status, response.reason)
        for name, value in headers:
            self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not bodiless and length is None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if bodiless:
            return
        while True:
            data = response.read1(65536)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


# --- the command line ----------------------------------------------------------------------------------------------

def parse_args(argv):
    """cloudflared's flags may stand before or after `tunnel`; return (flags, words)."""
    flags, words, index = {}, [], 0
    while index < len(argv):
        argument = argv[index]
        if argument.startswith("-") and argument not in ("-v", "--version"):
            name, _separator, value = argument.partition("=")
            name = "--" + name.lstrip("-")
            if name not in KNOWN_FLAGS:
                raise StandinError("Incorrect Usage: flag provided but not defined: %s" % argument.split("=")[0])
            if KNOWN_FLAGS[name] and not value:
                index += 1
                if index == len(argv):
                    raise StandinError("Incorrect Usage: flag needs an argument: %s" % name)
                value = argv[index]
            flags[name] = value if KNOWN_FLAGS[name] else True
        else:
            words.append(argument)
        index += 1
    return flags, words


class MetricsHandler(BaseHTTPRequestHandler):
    connector_id = "00000000-0000-0000-0000-000000000000"

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        if self.path == "/ready":
            body = json.dumps({"status": 200, "readyConnections": 1, "connectorId": self.connector_id,
                               "standin": True}).encode()
            content_type = "application/json"
        elif self.path == "/metrics":
            body = ('# cloudflared stand-in (tests/doubles/cloudflared_standin.py)\n'
                    'build_info{goversion="none",revision="standin",type="standin",version="%s"} 1\n' % VERSION).encode()
            content_type = "text/plain; version=0.0.4"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def log(message, level="INF"):
    print("%s [stand-in] %s" % (level, message), flush=True)


def run(flags):
    config = validate(flags.get("--config"))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    log("cloudflared stand-in %s (tests/doubles/cloudflared_standin.py): NOT cloudflared, never contacts Cloudflare" % VERSION)
    log("Starting tunnel tunnelID=%s" % config["tunnel"])
    for rule in config["ingress"]:
        log("ingress rule hostname=%s service=%s" % (rule.get("hostname") or "*", rule.get("service")))
    log("autoupdate %s" % ("disabled (--no-autoupdate)" if flags.get("--no-autoupdate") else "enabled (stand-in never updates)"))
    rules = edge_rules(config)
    for rule in rules:
        if rule.not_applied:
            log("rule #%d: the stand-in does not apply originRequest.%s; its requests get 502"
                % (rule.number, ", originRequest.".join(rule.not_applied)))
    servers = []
    if flags.get("--metrics"):
        host, _separator, port = flags["--metrics"].rpartition(":")
        servers.append(ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), MetricsHandler))
        log("Starting metrics server on %s/metrics" % flags["--metrics"])
    edge = edge_address(flags, os.environ)
    try:
        servers.append(EdgeServer(listen_address(edge, "the edge address"), rules))
    except OSError as error:
        raise StandinError("the stand-in cannot listen on the edge address %s (%s, else the port after --metrics's): "
                           "%s" % (edge, EDGE_VARIABLE, error.strerror or error))
    log("Starting the stand-in's edge on http://%s/ (a visitor's requests, forwarded by the ingress rules)" % edge)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stopped.wait()
    log("Initiating graceful shutdown")
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


def main(argv):
    flags, words = parse_args(argv)
    if not words and not flags:
        raise StandinError("the stand-in answers --version, tunnel ingress validate and tunnel run only")
    if words in (["-v"], ["--version"], ["version"]):
        print("cloudflared version %s (built %s)" % (VERSION, BUILT))
        return 0
    if words == ["tunnel", "ingress", "validate"]:
        print("Validating rules from %s" % flags.get("--config"))
        try:
            validate(flags.get("--config"))
        except StandinError as error:
            print("Validation failed: %s" % error)
            return 1
        print("OK")
        return 0
    if words == ["tunnel", "run"]:
        return run(flags)
    raise StandinError("the stand-in does not do `%s`; it answers --version, tunnel ingress validate and tunnel run"
                       % " ".join(words))


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except StandinError as error:
        print("ERR %s" % error, file=sys.stderr)
        sys.exit(1)

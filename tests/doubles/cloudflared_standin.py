# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloudflared stand-in: a TEST FIXTURE, not cloudflared. It never contacts Cloudflare or anything else.

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
  until SIGTERM.
What it does NOT do: connect to Cloudflare's edge, proxy any request, check the credentials with Cloudflare, update
itself, or read YAML beyond block mappings, block sequences and scalars (cloudflared reads any YAML; the role
writes only that subset). Python's standard library only, so it runs on a bare Debian host.
"""

import json
import os
import re
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

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


def log(message):
    print("INF [stand-in] %s" % message, flush=True)


def run(flags):
    config = validate(flags.get("--config"))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    log("cloudflared stand-in %s (tests/doubles/cloudflared_standin.py): NOT cloudflared, contacts nothing" % VERSION)
    log("Starting tunnel tunnelID=%s" % config["tunnel"])
    for rule in config["ingress"]:
        log("ingress rule hostname=%s service=%s" % (rule.get("hostname") or "*", rule.get("service")))
    log("autoupdate %s" % ("disabled (--no-autoupdate)" if flags.get("--no-autoupdate") else "enabled (stand-in never updates)"))
    server = None
    if flags.get("--metrics"):
        host, _separator, port = flags["--metrics"].rpartition(":")
        server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), MetricsHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        log("Starting metrics server on %s/metrics" % flags["--metrics"])
    stopped.wait()
    log("Initiating graceful shutdown")
    if server:
        server.shutdown()
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

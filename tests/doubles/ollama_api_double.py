# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ollama API double: a TEST FIXTURE, not Ollama.

Our machines reach neither Ollama's releases nor its registry. This file speaks the REST API a
provisioning tool uses, the way Ollama 0.13.x does (docs/api.md, server/routes.go, api/types.go), on
loopback only:

- ``GET /`` and ``HEAD /``: 200 ``Ollama is running``; ``GET /api/version``: ``{"version": ...}``;
  ``GET /api/ps``: no model loaded.
- ``GET /api/tags``: the models on disk (name, model, modified_at, size, digest as hex without prefix,
  details), read from ``<models>/manifests/<host>/<namespace>/<model>/<tag>`` on every request.
- ``POST /api/show`` ``{"model"}``: 200 with details, modelfile, parameters, template, license,
  capabilities, model_info, modified_at; 404 ``{"error": "model 'x' not found"}``; 400 for an invalid name.
- ``POST /api/pull`` ``{"model", "stream" (default true), "insecure"}``: ``application/x-ndjson`` in chunks,
  ``pulling manifest``, per layer (config blob included) ``{"status": "pulling <digest[7:19]>", "digest",
  "total", "completed"}`` lines (``completed`` left out while 0, as Go's omitempty does; a layer already on
  disk gives one line with completed == total), then ``verifying sha256 digest``, ``writing manifest``,
  ``success``. An error after the 200 is a last line ``{"error": ...}``. With ``"stream": false`` one
  object: 200 ``{"status": "success"}``, or 500 ``{"error": ...}``.
- ``DELETE /api/delete`` ``{"model"}``: 200 with an empty body (the manifest and the blobs no other manifest
  uses are removed), 404 ``{"error": "model 'x' not found"}``.
- Names are normalised as Ollama does (``types/model/name.go``): default host ``registry.ollama.ai``,
  namespace ``library``, tag ``latest``, compared case-insensitively, so ``gpt-OSS:20b`` is ``gpt-oss:20b``.
  A pulled manifest is written in lower case (how the real registry treats upper case is unconfirmed).

The "registry" is a catalogue in this file (``CATALOGUE``; more models through ``catalogue=``):
the five models the DevServer app calls, ``gpt-oss:20b`` (about 13.8 GB), ``llama3.2-vision:latest`` = ``:11b``
(about 7.8 GB), ``llama-guard3:1b`` (about 1.6 GB), ``qwen3:1.7b`` (about 1.4 GB) and ``qwen3-vl:2b`` (about 1.9 GB),
and ``tiny-test:latest`` (a few MB). Pulls report the real sizes as ``total`` but write only tiny blobs whose sha256 is their digest,
with a real-layout manifest, so a restarted double still has its models. A pull of a model of 1 GB or more
takes ``pull_seconds`` (default 3 s, env ``OLLAMA_DOUBLE_PULL_SECONDS``), a smaller one proportionally less;
a progress line goes out about every 60 ms, as Ollama sends them.

Fault switches (``OllamaDouble.faults`` / ``set_faults(...)`` in-process, ``POST /_control/faults`` or the
env ``OLLAMA_DOUBLE_FAULTS`` (JSON) out of process), see ``Faults``: an error line inside the 200 stream
after some progress, a stream cut without ``success``, a slow pull, a stall, the registry unreachable, a
full disk. A model name the catalogue lacks is answered like the registry does (``pull model manifest:
file does not exist``). ``stats`` counts requests per route (``"POST /api/show"``), ``requests`` keeps each
request's method, path and JSON body; ``GET /_control/stats`` returns both.

What it does NOT do: inference (no generate, chat or embeddings), talk to any real registry, download or
verify real weights (blobs are tiny placeholders), resume or share concurrent pulls, prune at start,
authenticate, or "removing unused layers". Python's standard library only.

Run in-process: ``OllamaDouble(models_dir).start()`` ... ``.stop()`` (``url``; a free port by default).
Run as a program: ``python3 ollama_api_double.py serve [--port-file F]`` honours ``OLLAMA_HOST`` (default
127.0.0.1:11434, ``host:port`` or ``http://host:port``; port 0 or ``--port-file`` without ``OLLAMA_HOST`` picks
a free port) and ``OLLAMA_MODELS`` (default ~/.ollama/models), and logs one line per request to stdout.
``--version`` / ``-v`` ask the running server like the real CLI. Installed with a python3 shebang as
``bin/ollama`` next to ``lib/ollama/double-version`` (a release archive's layout), it reports that file's
version; otherwise ``0.0.0-double``.
"""

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DEFAULT_VERSION = "0.0.0-double"
DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
DEFAULT_PULL_SECONDS = 3.0
BIG_MODEL_BYTES = 10 ** 9  # pulls of this size or more take pull_seconds; smaller ones proportionally less
PROGRESS_INTERVAL = 0.06  # Ollama reports download progress about every 60 ms
MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.ollama.image.%s"

GPT_OSS_TEMPLATE = "<|start|>system<|message|>{{ .System }}<|end|>{{- range .Messages }}...{{- end }}<|start|>assistant"
LLAMA_VISION_TEMPLATE = "{{- range $index, $_ := .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>...{{- end }}"
LLAMA_GUARD_TEMPLATE = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nTask: Check if there is unsafe content..."
QWEN3_TEMPLATE = "{{- if .Messages }}{{- range $i, $_ := .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>...{{ end }}"

# The "registry". Sizes are the published download sizes (gpt-oss and llama3.2-vision: research notes section 3.3;
# the three the DevServer app added, llama-guard3:1b 1.6 GB, qwen3:1.7b 1.4 GB and qwen3-vl:2b 1.9 GB: the ollama.com
# library's figures, rounded as it shows them; the ollama role's vars/main.yml uses the same). Layers are the kinds
# the real manifests have (for the three new ones as their library pages list them, not read from the manifests);
# qwen3-vl has no template layer, Ollama renders it with a built-in renderer named in its config. A layer's content
# is what the double writes: for the model weights a short placeholder whose declared size is the real one.
CATALOGUE = {
    "gpt-oss:20b": {
        "family": "gptoss", "parameter_size": "20.9B", "quantization_level": "MXFP4",
        "capabilities": ["completion", "tools", "thinking"], "context_length": 131072,
        "layers": [
            ("model", 13780154624), ("template", GPT_OSS_TEMPLATE), ("license", "Apache License 2.0 (double)"),
            ("params", '{"temperature":1}'),
        ],
    },
    "llama3.2-vision:11b": {
        "family": "mllama", "parameter_size": "10.7B", "quantization_level": "Q4_K_M",
        "capabilities": ["completion", "vision"], "context_length": 131072,
        "aliases": ["llama3.2-vision:latest"],
        "layers": [
            ("model", 7816589568), ("template", LLAMA_VISION_TEMPLATE),
            ("license", "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT (double)"), ("params", '{"temperature":0.6,"top_p":0.9}'),
        ],
    },
    "llama-guard3:1b": {
        "family": "llama", "parameter_size": "1.5B", "quantization_level": "Q8_0",
        "capabilities": ["completion"], "context_length": 131072,
        "layers": [
            ("model", 1600000000), ("template", LLAMA_GUARD_TEMPLATE),
            ("license", "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT (double)"), ("params", '{"temperature":0}'),
        ],
    },
    "qwen3:1.7b": {
        "family": "qwen3", "parameter_size": "2.0B", "quantization_level": "Q4_K_M",
        "capabilities": ["completion", "tools", "thinking"], "context_length": 40960,
        "layers": [
            ("model", 1400000000), ("template", QWEN3_TEMPLATE), ("license", "Apache License 2.0 (double)"),
            ("params", '{"repeat_penalty":1,"stop":["<|im_start|>","<|im_end|>"],"temperature":0.6,"top_k":20,"top_p":0.95}'),
        ],
    },
    "qwen3-vl:2b": {
        "family": "qwen3vl", "parameter_size": "2.1B", "quantization_level": "Q4_K_M",
        "capabilities": ["completion", "vision", "tools", "thinking"], "context_length": 262144,
        "layers": [
            ("model", 1900000000), ("license", "Apache License 2.0 (double)"),
            ("params", '{"temperature":1,"top_k":20,"top_p":0.95}'),
        ],
    },
    "tiny-test:latest": {
        "family": "llama", "parameter_size": "1M", "quantization_level": "Q8_0",
        "capabilities": ["completion"], "context_length": 2048,
        "layers": [("model", 2 * 1024 * 1024), ("template", "{{ .Prompt }}"), ("params", '{"stop":["<|end|>"]}')],
    },
}

REGISTRY_UNREACHABLE = ('pull model manifest: Get "https://registry.ollama.ai/v2/%s/%s/manifests/%s": '
                        'dial tcp: lookup registry.ollama.ai: no such host')
MANIFEST_NOT_FOUND = "pull model manifest: file does not exist"
DISK_FULL = "write %s/blobs/sha256-%s-partial: no space left on device"
STREAM_ERROR = "max retries exceeded: unexpected EOF"


# -- names -------------------------------------------------------------------------------------------
class InvalidName(ValueError):
    """What Ollama answers for a name it cannot parse: 400 "invalid model name"."""


_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-:]{0,349}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,79}$")


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @classmethod
    def parse(cls, text):
        """Ollama's ParseName: ``[host/][namespace/]model[:tag]``, defaults filled in; InvalidName if invalid."""
        text = (text or "").strip().split("@", 1)[0]
        if "://" in text:
            text = text.split("://", 1)[1]  # a scheme before the host is allowed and dropped
        tag = DEFAULT_TAG
        if text.rfind(":") > text.rfind("/"):
            text, tag = text.rsplit(":", 1)
        parts = text.split("/")
        if len(parts) > 3:
            raise InvalidName(text)
        model = parts[-1]
        namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
        host = parts[-3] if len(parts) == 3 else DEFAULT_HOST
        valid = _PART.match(model) and _NAMESPACE.match(namespace) and _HOST.match(host) and _PART.match(tag)
        if not valid:
            raise InvalidName(text)
        return cls(host, namespace, model, tag)

    def key(self):
        """The case-insensitive identity Ollama compares names by."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def short(self):
        """What /api/tags shows: host and namespace left out when they are the defaults."""
        name = "%s:%s" % (self.model, self.tag)
        if self.host.lower() != DEFAULT_HOST or self.namespace.lower() != DEFAULT_NAMESPACE:
            name = "%s/%s" % (self.namespace, name)
        if self.host.lower() != DEFAULT_HOST:
            name = "%s/%s" % (self.host, name)
        return name

    def manifest_parts(self):
        return (self.host, self.namespace, self.model, self.tag)


# -- faults and statistics -------------------------------------------------------------------------
@dataclass
class Faults:
    """Pull faults. They strike half-way through the biggest layer a pull downloads (not one already on disk)."""

    stream_error: str = None  # this error line inside the 200 stream, after about half the first big layer
    cut_stream: bool = False  # close the connection after some progress, no success, no last chunk
    slow_pull_seconds: float = None  # every pull takes this long (instead of pull_seconds)
    stall_seconds: float = None  # after some progress, send nothing for this long, then go on
    registry_unreachable: bool = False  # "pulling manifest", then the offline Ollama's DNS error
    disk_full: bool = False  # after some progress, "write .../blobs/sha256-...-partial: no space left on device"
    model: str = None  # apply the pull faults only to this model (a name as a client would send it)
    count: int = None  # apply them to this many pulls, then pull normally (None: every pull)

    def update(self, values):
        for key, value in values.items():
            if not hasattr(self, key):
                raise ValueError("unknown fault %r" % key)
            if key == "model" and value is not None:
                ModelName.parse(value)  # an InvalidName (a ValueError) now rather than in a pull
            setattr(self, key, value)

    def active(self):
        return any((self.stream_error, self.cut_stream, self.slow_pull_seconds, self.stall_seconds,
                    self.registry_unreachable, self.disk_full))


@dataclass
class RequestRecord:
    method: str
    path: str
    body: object = None


@dataclass
class Stats:
    routes: Counter = field(default_factory=Counter)  # "POST /api/show" -> how many
    requests: list = field(default_factory=list)  # RequestRecord, in order

    def count(self, route):
        return self.routes[route]

    def as_dict(self):
        return {"routes": dict(self.routes), "requests": [asdict(r) for r in self.requests]}


# -- the store on disk -------------------------------------------------------------------------------
def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _layer_bytes(model_name, kind, content):
    """What the double writes for a layer: the real text for small layers, a placeholder for weights."""
    if isinstance(content, int):
        return ("ollama_api_double placeholder for the %s weights of %s (declared %d bytes)\n"
                % (kind, model_name, content)).encode()
    return content.encode()


def _iso(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).astimezone().isoformat(timespec="microseconds")


class ModelStore:
    """The models folder in Ollama's layout: manifests/<host>/<namespace>/<model>/<tag> and blobs/sha256-<hex>."""

    def __init__(self, root):
        self.root = Path(root)

    def blob_path(self, digest):
        return self.root / "blobs" / digest.replace(":", "-")

    def manifest_path(self, name):
        return self.root.joinpath("manifests", *name.manifest_parts())

    def manifests(self):
        """{ModelName: manifest path} for every manifest on disk."""
        found = {}
        base = self.root / "manifests"
        if not base.is_dir():
            return found
        for path in sorted(base.glob("*/*/*/*")):
            if path.is_file():
                host, namespace, model, tag = path.relative_to(base).parts
                found[ModelName(host, namespace, model, tag)] = path
        return found

    def find(self, name):
        """The manifest path of name, compared case-insensitively like getExistingName; None if absent."""
        for existing, path in self.manifests().items():
            if existing.key() == name.key():
                return existing, path
        return None

    def read(self, path):
        return json.loads(path.read_bytes())

    def write_blob(self, digest, data):
        path = self.blob_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            partial = path.with_name(path.name + "-partial")
            partial.write_bytes(data)
            os.replace(partial, path)

    def write_manifest(self, name, manifest):
        path = self.manifest_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        os.replace(partial, path)

    def remove(self, path):
        """Remove a manifest and the blobs no other manifest references (Ollama's Remove + RemoveLayers)."""
        manifest = self.read(path)
        path.unlink()
        in_use = set()
        for other in self.manifests().values():
            data = self.read(other)
            in_use.update(layer["digest"] for layer in data["layers"] + [data["config"]])
        for layer in manifest["layers"] + [manifest["config"]]:
            if layer["digest"] not in in_use:
                blob = self.blob_path(layer["digest"])
                if blob.exists():
                    blob.unlink()
        for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break


def build_manifest(canonical, entry):
    """(manifest dict, {digest: bytes}) for a catalogue entry, deterministic so pulls are repeatable."""
    blobs, layers, diff_ids = {}, [], []
    for kind, content in entry["layers"]:
        data = _layer_bytes(canonical, kind, content)
        digest = "sha256:" + _sha256(data)
        size = content if isinstance(content, int) else len(data)
        blobs[digest] = data
        layers.append({"mediaType": LAYER_MEDIA_TYPE % kind, "digest": digest, "size": size})
        diff_ids.append(digest)
    config = json.dumps({
        "model_format": "gguf", "model_family": entry["family"], "model_families": [entry["family"]],
        "model_type": entry["parameter_size"], "file_type": entry["quantization_level"],
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }, separators=(",", ":")).encode()
    config_digest = "sha256:" + _sha256(config)
    blobs[config_digest] = config
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
                "layers": layers}
    return manifest, blobs


def catalogue_index(catalogue):
    """{name key: (canonical name, entry)} with the aliases."""
    index = {}
    for canonical, entry in catalogue.items():
        for alias in [canonical] + list(entry.get("aliases", [])):
            index[ModelName.parse(alias).key()] = (canonical, entry)
    return index


# -- the server --------------------------------------------------------------------------------------
class OllamaDouble:
    """An Ollama API on ``host``:``port`` (default 127.0.0.1 and a free port) over ``models_dir``.

    ``url`` is where it listens once constructed; ``start()`` / ``stop()`` (or ``with``) run it in threads.
    ``pull_seconds`` paces a big pull (env OLLAMA_DOUBLE_PULL_SECONDS when None); ``faults`` (a dict or
    Faults) and ``set_faults(**values)`` switch faults; ``stats`` counts requests per route; ``install(name)``
    puts a catalogue model on disk as if pulled earlier; ``log`` (a text stream) gets one line per request.
    """

    def __init__(self, models_dir, port=0, host="127.0.0.1", version=DEFAULT_VERSION, pull_seconds=None,
                 catalogue=None, faults=None, log=None):
        self.store = ModelStore(models_dir)
        self.store.root.mkdir(parents=True, exist_ok=True)
        self.version = version
        if pull_seconds is None:
            pull_seconds = float(os.environ.get("OLLAMA_DOUBLE_PULL_SECONDS", DEFAULT_PULL_SECONDS))
        self.pull_seconds = pull_seconds
        self.catalogue = dict(CATALOGUE)
        self.catalogue.update(catalogue or {})
        self.faults = faults if isinstance(faults, Faults) else Faults(**(faults or {}))
        self.stats = Stats()
        self.log = log
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self.url = "http://%s:%d" % (self.host, self.port)
        self._thread = None

    # -- content and switches ----------------------------------------------------------------
    def set_faults(self, **values):
        """Replace every fault switch: the ones named get their value, the others their default."""
        faults = Faults()
        faults.update(values)
        with self._lock:
            self.faults = faults

    def reset_stats(self):
        with self._lock:
            self.stats = Stats()

    def lookup(self, name):
        """(canonical name, catalogue entry) of a ModelName, or None when the "registry" lacks it."""
        return catalogue_index(self.catalogue).get(name.key())

    def install(self, model):
        """Write a catalogue model's manifest and blobs as a finished pull would; returns its ModelName."""
        name = ModelName.parse(model)
        found = self.lookup(name)
        if found is None:
            raise ValueError("%s is not in the double's catalogue: %s" % (model, ", ".join(sorted(self.catalogue))))
        manifest, blobs = build_manifest(*found)
        for digest, data in blobs.items():
            self.store.write_blob(digest, data)
        return self.save_manifest(name, manifest)

    def save_manifest(self, name, manifest):
        """Write the manifest of name (in lower case, as the registry names it), replacing any spelling of it."""
        with self._lock:
            existing = self.store.find(name)
            if existing is not None:
                existing[1].unlink()
            stored = ModelName(*[part.lower() for part in name.manifest_parts()])
            self.store.write_manifest(stored, manifest)
        return stored

    def models(self):
        """The short names of the models on disk, as /api/tags lists them."""
        return sorted(name.short() for name in self.store.manifests())

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # -- pull faults, consumed per pull ------------------------------------------------------------
    def faults_for_pull(self, requested):
        """The faults that apply to this pull (a copy), counting one use of them."""
        with self._lock:
            faults = self.faults
            if not faults.active() or faults.count == 0:
                return Faults()
            if faults.model and ModelName.parse(faults.model).key() != requested.key():
                return Faults()
            if faults.count is not None:
                faults.count -= 1
            return Faults(**asdict(faults))


class _Cut(Exception):
    """The stream was cut on purpose (fault) or by the client: stop writing."""


def _handler(double):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ollama-api-double"

        def log_message(self, *args):  # one line per request is written by _log instead
            pass

        def _log(self, status, began):
            if double.log is None:
                return
            now = datetime.now()
            double.log.write('[GIN] %s | %3d | %12s | %15s | %-7s "%s"\n' % (
                now.strftime("%Y/%m/%d - %H:%M:%S"), status, "%.3fms" % ((time.monotonic() - began) * 1000),
                self.client_address[0], self.command, self.path))
            double.log.flush()

        # -- routing -----------------------------------------------------------------------------
        def do_HEAD(self):
            self._dispatch()

        def do_GET(self):
            self._dispatch()

        def do_POST(self):
            self._dispatch()

        def do_DELETE(self):
            self._dispatch()

        def _dispatch(self):
            began = time.monotonic()
            path = self.path.split("?", 1)[0]
            body, body_error = self._read_body()
            route = "%s %s" % (self.command, path)
            with double._lock:
                double.stats.routes[route] += 1
                double.stats.requests.append(RequestRecord(self.command, path, body))
            routes = {
                "GET /": self._root, "HEAD /": self._root, "GET /api/version": self._version,
                "HEAD /api/version": self._version, "GET /api/tags": self._tags, "GET /api/ps": self._ps,
                "POST /api/show": self._show, "POST /api/pull": self._pull, "DELETE /api/delete": self._delete,
                "POST /_control/faults": self._control_faults, "GET /_control/stats": self._control_stats,
            }
            action = routes.get(route)
            try:
                if action is None:
                    status = self._send_text(404, "404 page not found")
                elif body_error and self.command in ("POST", "DELETE") and not path.startswith("/_control"):
                    status = self._send_json(400, {"error": body_error})
                else:
                    status = action(body or {})
            except (_Cut, BrokenPipeError, ConnectionResetError):
                status = 200
                self.close_connection = True
            self._log(status, began)

        def _read_body(self):
            """(parsed JSON body or None, Ollama's error text for a missing or broken body or None)."""
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw.strip():
                return None, "missing request body"
            try:
                body = json.loads(raw)
            except ValueError as error:
                return None, "invalid character in request body: %s" % error
            if not isinstance(body, dict):
                return None, "json: cannot unmarshal into Go value of type api.Request"
            return body, None

        # -- simple routes -----------------------------------------------------------------------
        def _root(self, body):
            return self._send_text(200, "Ollama is running")

        def _version(self, body):
            return self._send_json(200, {"version": double.version})

        def _ps(self, body):
            return self._send_json(200, {"models": []})

        def _tags(self, body):
            models = []
            for name, path in double.store.manifests().items():
                try:
                    manifest = double.store.read(path)
                except (OSError, ValueError):
                    continue  # Ollama skips a manifest it cannot read
                models.append({
                    "name": name.short(), "model": name.short(), "modified_at": _iso(path.stat().st_mtime),
                    "size": _manifest_size(manifest), "digest": _sha256(path.read_bytes()),
                    "details": self._details(manifest),
                })
            return self._send_json(200, {"models": models})

        def _details(self, manifest):
            try:
                config = json.loads(double.store.blob_path(manifest["config"]["digest"]).read_bytes())
            except (OSError, ValueError):
                config = {}
            return {"parent_model": "", "format": config.get("model_format", ""),
                    "family": config.get("model_family", ""), "families": config.get("model_families"),
                    "parameter_size": config.get("model_type", ""),
                    "quantization_level": config.get("file_type", "")}

        def _requested_name(self, body):
            """(ModelName, None) or (None, status already sent) for the model a request names."""
            text = body.get("model") or body.get("name") or ""
            if not text:
                return None, self._send_json(400, {"error": "model is required"})
            try:
                return ModelName.parse(text), None
            except InvalidName:
                return None, self._send_json(400, {"error": "invalid model name"})

        def _show(self, body):
            name, status = self._requested_name(body)
            if name is None:
                return status
            found = double.store.find(name)
            if found is None:
                return self._send_json(404, {"error": "model '%s' not found" % (body.get("model") or body.get("name"))})
            existing, path = found
            manifest = double.store.read(path)
            return self._send_json(200, self._show_answer(existing, path, manifest))

        def _show_answer(self, name, path, manifest):
            texts = {}
            for layer in manifest["layers"]:
                kind = layer["mediaType"].rsplit(".", 1)[-1]
                if kind != "model":
                    texts[kind] = double.store.blob_path(layer["digest"]).read_text(encoding="utf-8")
            model_blob = next((layer["digest"] for layer in manifest["layers"] if layer["mediaType"].endswith(".model")), "")
            parameters = "\n".join("%-30s %s" % (key, json.dumps(value) if isinstance(value, str) else value)
                                   for key, values in json.loads(texts.get("params", "{}")).items()
                                   for value in (values if isinstance(values, list) else [values]))
            details = self._details(manifest)
            entry = (double.lookup(name) or (None, {}))[1]
            modelfile = ('# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, replace FROM with:\n'
                         '# FROM %s\n\nFROM %s\nTEMPLATE """%s"""\n' % (
                             name.short(), double.store.blob_path(model_blob), texts.get("template", "")))
            answer = {
                "modelfile": modelfile, "parameters": parameters, "template": texts.get("template", ""),
                "details": details,
                "model_info": {"general.architecture": details["family"],
                               "general.parameter_count": _parameter_count(details["parameter_size"]),
                               "%s.context_length" % details["family"]: entry.get("context_length", 4096)},
                "capabilities": entry.get("capabilities", ["completion"]),
                "modified_at": _iso(path.stat().st_mtime),
            }
            if "license" in texts:
                answer["license"] = texts["license"]
            return answer

        def _delete(self, body):
            name, status = self._requested_name(body)
            if name is None:
                return status
            with double._lock:
                found = double.store.find(name)
                if found is None:
                    return self._send_json(404, {"error": "model '%s' not found" % (body.get("model") or body.get("name"))})
                double.store.remove(found[1])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return 200

        # -- pull --------------------------------------------------------------------------------
        def _pull(self, body):
            name, status = self._requested_name(body)
            if name is None:
                return status
            stream = body.get("stream", True) is not False
            sink = _StreamSink(self) if stream else _LatestSink(self)
            faults = double.faults_for_pull(name)
            try:
                self._run_pull(name, faults, sink)
            except _PullError as error:
                return sink.fail(str(error))
            return sink.finish()

        def _run_pull(self, name, faults, sink):
            sink.send({"status": "pulling manifest"})
            if faults.registry_unreachable:
                raise _PullError(REGISTRY_UNREACHABLE % (name.namespace, name.model, name.tag))
            found = double.lookup(name)
            if found is None:
                raise _PullError(MANIFEST_NOT_FOUND)
            canonical, entry = found
            manifest, blobs = build_manifest(canonical, entry)
            layers = manifest["layers"] + [manifest["config"]]
            total = sum(layer["size"] for layer in layers)
            seconds = faults.slow_pull_seconds
            if seconds is None:
                seconds = double.pull_seconds * min(1.0, total / float(BIG_MODEL_BYTES))
            biggest = max(layers, key=lambda layer: layer["size"])
            for layer in layers:
                digest, size = layer["digest"], layer["size"]
                line = {"status": "pulling %s" % digest[7:19], "digest": digest, "total": size}
                if double.store.blob_path(digest).exists():
                    sink.send(dict(line, completed=size))
                    continue
                faulty = layer is biggest
                self._pull_layer(line, seconds * size / float(total), faults if faulty else Faults(), sink)
                double.store.write_blob(digest, blobs[digest])
            sink.send({"status": "verifying sha256 digest"})
            sink.send({"status": "writing manifest"})
            double.save_manifest(name, manifest)

        def _pull_layer(self, line, seconds, faults, sink):
            """Progress lines for one layer over `seconds`, with the faults that strike half-way."""
            size = line["total"]
            steps = max(2, int(seconds / PROGRESS_INTERVAL))
            half = steps // 2
            sink.send(dict(line))  # the first line has no "completed": Go leaves out a 0 (omitempty)
            for step in range(1, steps + 1):
                time.sleep(seconds / steps)
                sink.send(dict(line, completed=size * step // steps))
                if step == half:
                    self._strike(line, faults, sink)

        def _strike(self, line, faults, sink):
            if faults.stall_seconds:
                time.sleep(faults.stall_seconds)
            if faults.disk_full:
                raise _PullError(DISK_FULL % (double.store.root, line["digest"][7:]))
            if faults.stream_error:
                raise _PullError(faults.stream_error)
            if faults.cut_stream:
                sink.cut()

        # -- control -----------------------------------------------------------------------------
        def _control_faults(self, body):
            try:
                double.set_faults(**(body or {}))
            except (ValueError, TypeError) as error:
                return self._send_json(400, {"error": str(error)})
            return self._send_json(200, {"faults": asdict(double.faults)})

        def _control_stats(self, body):
            return self._send_json(200, double.stats.as_dict())

        # -- writing -----------------------------------------------------------------------------
        def _send(self, status, data, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return status

        def _send_text(self, status, text):
            return self._send(status, text.encode(), "text/plain; charset=utf-8")

        def _send_json(self, status, payload):
            data = json.dumps(payload, separators=(",", ":")).encode()  # compact, as Go writes it
            return self._send(status, data, "application/json; charset=utf-8")

    return Handler


class _PullError(Exception):
    """A pull failed the way Ollama reports it: the error's text is what the client gets."""


class _StreamSink:
    """Writes progress as application/x-ndjson in HTTP/1.1 chunks, flushed line by line like Ollama."""

    def __init__(self, handler):
        self.handler = handler
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def send(self, payload):
        data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def cut(self):
        """Close the connection mid-stream: no success line and no last chunk."""
        _shut(self.handler)

    def fail(self, message):
        """The status is already 200: the error is the last line (Ollama's streamResponse)."""
        self.send({"error": message})
        return self._end()

    def finish(self):
        self.send({"status": "success"})
        return self._end()

    def _end(self):
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()
        return 200


class _LatestSink:
    """``"stream": false``: one object at the end, 200 with the last status or 500 with the error."""

    def __init__(self, handler):
        self.handler = handler

    def send(self, payload):
        pass

    def cut(self):
        _shut(self.handler)

    def fail(self, message):
        return self.handler._send_json(500, {"error": message})

    def finish(self):
        return self.handler._send_json(200, {"status": "success"})


def _shut(handler):
    handler.close_connection = True
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
    raise _Cut()


def _manifest_size(manifest):
    return sum(layer["size"] for layer in manifest["layers"]) + manifest["config"]["size"]


def _parameter_count(parameter_size):
    """20.9B -> 20900000000, as general.parameter_count is a number."""
    match = re.match(r"^([0-9.]+)([KMB]?)$", parameter_size or "")
    if not match:
        return 0
    return int(float(match.group(1)) * {"": 1, "K": 10 ** 3, "M": 10 ** 6, "B": 10 ** 9}[match.group(2)])


# -- the program --------------------------------------------------------------------------------------
def parse_ollama_host(value):
    """(host, port) from OLLAMA_HOST the way Ollama's envconfig.Host reads it."""
    value = (value or "").strip().strip("\"'").strip()
    default_port = 11434
    scheme, sep, hostport = value.partition("://")
    if not sep:
        hostport = value
    elif scheme == "http":
        default_port = 80
    elif scheme == "https":
        default_port = 443
    hostport = hostport.split("/", 1)[0]
    match = re.match(r"^\[?([^\]]*?)\]?:([0-9]+)$", hostport)
    if match:
        host, port = match.group(1) or "127.0.0.1", int(match.group(2))
    else:
        host, port = hostport.strip("[]") or "127.0.0.1", default_port
    if not 0 <= port <= 65535:
        return "127.0.0.1", 11434
    return host, port


def installed_version(executable):
    """The version in ../lib/ollama/double-version beside the real path of the program, else the default."""
    version_file = Path(os.path.realpath(executable)).parent.parent / "lib" / "ollama" / "double-version"
    try:
        return version_file.read_text(encoding="utf-8").strip() or DEFAULT_VERSION
    except OSError:
        return DEFAULT_VERSION


def print_version(client_version, environ):
    """What `ollama -v` prints: the server's version when one answers, a warning when not or when different."""
    host, port = parse_ollama_host(environ.get("OLLAMA_HOST"))
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    server_version = ""
    try:
        with urllib.request.urlopen("http://%s:%d/api/version" % (host, port), timeout=5) as answer:
            server_version = json.loads(answer.read()).get("version", "")
    except (OSError, ValueError, urllib.error.URLError):
        print("Warning: could not connect to a running Ollama instance")
    if server_version:
        print("ollama version is %s" % server_version)
    if server_version != client_version:
        print("Warning: client version is %s" % client_version)


def write_port_file(path, double):
    """Where the started double listens, written whole (rename) so a reader never sees half of it."""
    partial = "%s.partial" % path
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump({"url": double.url, "pid": os.getpid(), "models": str(double.store.root),
                   "version": double.version}, handle)
    os.replace(partial, path)


def serve(arguments, version, environ):
    host_setting = environ.get("OLLAMA_HOST")
    if not host_setting and arguments.port_file:
        host_setting = "127.0.0.1:0"
    host, port = parse_ollama_host(host_setting)
    models = environ.get("OLLAMA_MODELS") or os.path.join(os.path.expanduser("~"), ".ollama", "models")
    faults = json.loads(environ.get("OLLAMA_DOUBLE_FAULTS") or "{}")
    double = OllamaDouble(models, port=port, host=host, version=version, faults=faults, log=sys.stdout)
    print("time=%s level=INFO msg=\"Listening on %s:%d (version %s, ollama_api_double)\" OLLAMA_MODELS=%s"
          % (datetime.now().astimezone().isoformat(), double.host, double.port, version, models), flush=True)
    if arguments.port_file:
        write_port_file(arguments.port_file, double)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # systemctl stop: a clean exit
    try:
        double._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        double._server.server_close()


def main(argv=None, environ=None):
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    version = installed_version(argv[0])
    parser = argparse.ArgumentParser(prog="ollama", description="Ollama API double (a test fixture)")
    parser.add_argument("-v", "--version", action="store_true", help="show the server's and this version")
    commands = parser.add_subparsers(dest="command")
    serve_parser = commands.add_parser("serve", help="start the API double")
    serve_parser.add_argument("--port-file", help="write {url, pid, models, version} as JSON here once listening")
    arguments = parser.parse_args(argv[1:])
    if arguments.version:
        print_version(version, environ)
        return 0
    if arguments.command == "serve":
        serve(arguments, version, environ)
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())

# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SwarmUI stand-in: a TEST FIXTURE, not SwarmUI.

Our machines reach neither the .NET SDK nor NuGet, so the real SwarmUI cannot be built here. The swarmui
Molecule scenario installs this file, with a python3 shebang, as src/bin/live_release/SwarmUI (where
`dotnet build` would put the real program) and runs it under the role's swarmui.service. It does what the
role depends on, as SwarmUI 0.9.7.3 does it (src/Core/Program.cs, Settings.cs, BackendHandler.cs, WebAPI/*.cs at 35efd6f2):
- takes `--key value` / `--key=value` arguments (--host and --port win over the settings);
- reads Data/Settings.fds and REWRITES IT IN FULL at start: its own key order, a `#` comment above each key,
  defaults for keys the file lacks, keys it does not know dropped, tabs for indentation;
- creates the model folders SwarmUI creates under the first ModelRoot (the service account needs write access);
- reads Data/Backends.fds (never writes it) and answers GET / (a redirect to /Text2Image, which answers 200),
  POST /API/GetNewSession and POST /API/ListBackends; a comfyui_api backend is `running` when GET
  <Address>/system_stats answers 200, else `errored`.
What it does NOT do: generate images, run any C#/.NET code, start a ComfyUI itself (a comfyui_selfstart backend
is reported `errored`), build or update anything, or serve SwarmUI's web UI. It is Python's standard library
only and does not import the collection, so it checks the collection's FDS writing from the outside.
"""

import json
import os
import secrets
import signal
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "0.9.7.3 (stand-in, tests/doubles/swarmui_standin.py)"

# SwarmUI's Settings class, in its declaration order: (dotted key, default, comment lines).
KNOWN_SETTINGS = [
    ("Paths.ModelRoot", "Models", ["Root path for model files.", "Use a semicolon ';' to split multiple paths."]),
    ("Paths.DownloadToRootID", "0", ["0-based index of which ModelRoot entry to download models to."]),
    ("Paths.SDModelFolder", "Stable-Diffusion", ["The model folder to use within 'ModelRoot'."]),
    ("Paths.SDLoraFolder", "Lora", ["The LoRA model folder to use within 'ModelRoot'."]),
    ("Paths.SDVAEFolder", "VAE", ["The VAE (autoencoder) model folder to use within 'ModelRoot'."]),
    ("Paths.SDEmbeddingFolder", "Embeddings", ["The Embedding model folder to use within 'ModelRoot'."]),
    ("Paths.SDControlNetsFolder", "controlnet;model_patches", ["The ControlNets model folder."]),
    ("Paths.SDClipFolder", "text_encoders;clip", ["The CLIP (Text Encoder) model folder.", "Defaults to 'text_encoders;clip'."]),
    ("Paths.SDClipVisionFolder", "clip_vision", ["The CLIP Vision model folder."]),
    ("Paths.DataPath", "Data", ["Root path for data (user configs, etc)."]),
    ("Paths.OutputPath", "Output", ["Root path for output files (images, etc)."]),
    ("Paths.WildcardsFolder", "Wildcards", ["The folder for wildcard (.txt) files, under Data."]),
    ("Network.ExternalURL", "", ["Optionally set an external URL here."]),
    ("Network.Host", "localhost", ["What web host address to use. `localhost` means your PC only."]),
    ("Network.Port", "7801", ["What web port to use. Default is '7801'."]),
    ("Network.PortCanChange", "true", ["If true, if the port is already in use, the server will try another port."]),
    ("Network.BackendStartingPort", "7820", ["Backends are automatically assigned unique ports."]),
    ("Network.BackendPortRandomize", "false", ["If enabled, backend starting port will be randomly offset."]),
    ("Network.AuthBypassIPs", "127.0.0.1,::1,::ffff:127.0.0.1", ["Any IPs that can bypass network-authorization."]),
    ("Maintenance.CheckForUpdates", "true", ["Whether to check for SwarmUI updates at start (a git fetch)."]),
    ("Maintenance.AutoPullDevUpdates", "false", ["Whether to automatically pull updates (creates src/bin/always_pull)."]),
    ("Maintenance.RestartAfterHours", "0", ["Restart the server after this many hours (0 = never)."]),
    ("Maintenance.GitTimeoutMinutes", "1", ["Minutes a git call may take."]),
    ("IsInstalled", "false", ["If this is set to 'true', hides the installer page."]),
    ("InstallDate", "", ["The date that this instance was installed."]),
    ("InstallVersion", "", ["The SwarmUI version that this instance was installed as."]),
    ("NvidiaQueryRateLimitMS", "1000", ["Ratelimit, in milliseconds, between Nvidia GPU status queries."]),
    ("LaunchMode", "webinstall", ["How to launch the UI. If 'none', just quietly launch.", "If 'web', launch your web-browser."]),
    ("AddDebugData", "false", ["If set true, some additional debugging data will be attached where relevant."]),
    ("Logs.LogLevel", "Info", ["The minimum log level to show."]),
    ("Logs.SaveLogToFile", "false", ["Whether to save logs to a file."]),
]


def unescape(text):
    for escaped, plain in (("\\t", "\t"), ("\\n", "\n"), ("\\r", "\r"), ("\\x", ""), ("\\s", "\\")):
        text = text.replace(escaped, plain)
    return text


def escape(text):
    if text == "":
        return "\\x"
    text = text.replace("\\", "\\s").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return ("\\x" if text.startswith(" ") else "") + text + ("\\x" if text.endswith(" ") else "")


def read_fds(path):
    """Flatten an FDS file to {dotted key: value}; a list becomes a Python list."""
    values, stack = {}, []  # stack: (indent, key) of the open sections
    last_key = None
    for raw in open(path, encoding="utf-8").read().replace("\r\n", "\n").split("\n"):
        line = raw.replace("\t", "    ")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if stripped.startswith("- ") and last_key is not None:
            if not isinstance(values.get(last_key), list):
                values[last_key] = []
            values[last_key].append(unescape(stripped[2:]))
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key, value = stripped.split(":", 1) if ":" in stripped else (stripped, "")
        key = key.replace("\\d", ".").replace("\\c", ":").replace("\\e", "=")
        dotted = ".".join([entry[1] for entry in stack] + [key])
        if value.strip() == "":
            stack.append((indent, key))
            values[dotted] = ""
        else:
            values[dotted] = unescape(value.strip())
        last_key = dotted
    return {k: v for k, v in values.items() if not any(o.startswith(k + ".") for o in values)}


def write_settings(path, values):
    """Write every known key in SwarmUI's order, defaults filled in: what SwarmUI does at each start."""
    lines, open_sections = [], []
    for dotted, default, comments in KNOWN_SETTINGS:
        *sections, key = dotted.split(".")
        common = 0
        while common < min(len(sections), len(open_sections)) and sections[common] == open_sections[common]:
            common += 1
        for depth in range(common, len(sections)):
            lines.append("\t" * depth + sections[depth] + ":")
        open_sections = sections
        tabs = "\t" * len(sections)
        lines.extend(tabs + "#" + comment for comment in comments)
        lines.append(f"{tabs}{key}: {escape(str(values.get(dotted, default)))}")
    with open(path + "~1", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(path + "~1", path)


def parse_args(argv):
    args, pending = {}, None
    for arg in argv:
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            pending = None if eq else key.replace("_", "").lower()
            args[key.replace("_", "").lower()] = value if eq else "true"
        elif pending:
            args[pending], pending = arg, None
        else:
            sys.exit(f"Unknown positional argument: {arg}")
    return args


def backend_status(backend):
    if backend.get("enabled", "true") != "true":
        return "disabled"
    if backend.get("type") != "comfyui_api":
        print(f"stand-in: cannot run a {backend.get('type')} backend", flush=True)
        return "errored"
    address = backend.get("settings.Address", "").rstrip("/")
    try:
        with urllib.request.urlopen(address + "/system_stats", timeout=3) as reply:
            return "running" if reply.status == 200 else "errored"
    except OSError as error:
        print(f"stand-in: ComfyUI at {address} does not answer: {error}", flush=True)
        return "errored"


def main():
    args = parse_args(sys.argv[1:])
    settings_path = os.path.join("Data", "Settings.fds")
    values = read_fds(settings_path) if os.path.exists(settings_path) else {}
    dropped = sorted(set(values) - {setting[0] for setting in KNOWN_SETTINGS})
    if dropped:
        print(f"stand-in: dropping settings SwarmUI does not know: {', '.join(dropped)}", flush=True)
    write_settings(settings_path, values)
    model_root = values.get("Paths.ModelRoot", "Models").split(";")[0]
    model_folders = values.get("Paths.SDModelFolder", "Stable-Diffusion").split(";")
    for folder in model_folders + ["upscale_models", "clip", "tensorrt", "diffusion_models"]:
        os.makedirs(os.path.join(model_root, folder), exist_ok=True)
    backends_path = os.path.join("Data", "Backends.fds")
    raw_backends = read_fds(backends_path) if os.path.exists(backends_path) else {}
    backends = {}
    for dotted, value in raw_backends.items():
        backend_id, key = dotted.split(".", 1) if "." in dotted else (dotted, "")
        backends.setdefault(backend_id, {})[key] = value
    sessions = set()

    class Handler(BaseHTTPRequestHandler):
        def reply(self, code, body=b"", content_type="application/json", headers=()):
            self.send_response(code)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/":
                self.reply(302, headers=[("Location", "/Text2Image")])
            elif self.path == "/Text2Image":
                self.reply(200, b"<html><body>SwarmUI stand-in (a test fixture)</body></html>", "text/html")
            else:
                self.reply(404, b"{}")

        def do_POST(self):
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path == "/API/GetNewSession":
                session_id = secrets.token_hex(20)
                sessions.add(session_id)
                answer = {"session_id": session_id, "user_id": "local", "output_append_user": True,
                          "version": VERSION, "server_id": secrets.token_hex(8), "permissions": []}
            elif request.get("session_id") not in sessions:
                answer = {"error": "Invalid session ID. You may need to refresh the page.", "error_id": "invalid_session_id"}
            elif self.path == "/API/ListBackends":
                answer = {backend_id: {"type": data.get("type"), "status": backend_status(data), "id": int(backend_id),
                                       "title": data.get("title", ""), "enabled": data.get("enabled", "true") == "true",
                                       "settings": {k[9:]: v for k, v in data.items() if k.startswith("settings.")}}
                          for backend_id, data in sorted(backends.items())}
            else:
                self.reply(404, b"{}")
                return
            self.reply(200, json.dumps(answer).encode())

        def log_message(self, *_):
            pass

    host = args.get("host", values.get("Network.Host", "localhost"))
    port = int(args.get("port", values.get("Network.Port", "7801")))
    server = ThreadingHTTPServer(("" if host in ("*", "0.0.0.0") else host, port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"SwarmUI {VERSION} listening on http://{host}:{port}, launch mode {args.get('launchmode')}, "
          f"{len(backends)} backend(s), model root {model_root}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

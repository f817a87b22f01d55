# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ollama API double speaks Ollama's protocol: the official client (ollama on PyPI) lists, shows,
pulls with progress and deletes against it; its faults, its on-disk layout and its `ollama serve` /
`ollama -v` stand-in behave as the real server does."""

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import ollama
import pytest
import yaml

from ollama_api_double import (CATALOGUE, DEFAULT_VERSION, InvalidName, ModelName, OllamaDouble, catalogue_index,
                               parse_ollama_host)

DOUBLE = Path(__file__).resolve().parents[2] / "doubles" / "ollama_api_double.py"
GB = 10 ** 9


@pytest.fixture
def models(tmp_path):
    return tmp_path / "models"


@pytest.fixture
def double(models):
    server = OllamaDouble(models, pull_seconds=0).start()
    yield server
    server.stop()


@pytest.fixture
def client(double):
    with ollama.Client(host=double.url) as official:
        yield official


def pull_lines(client, model):
    return [progress.model_dump(exclude_none=True) for progress in client.pull(model, stream=True)]


def request(url, method="GET", body=None):
    """(status, body bytes) of one plain HTTP request, errors included."""
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- the official client -------------------------------------------------------------------------------
def test_official_client_pulls_lists_shows_and_deletes(client, models):
    assert client.list().models == []

    lines = pull_lines(client, "gpt-OSS:20b")

    statuses = [line["status"] for line in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = {}
    for line in lines[1:-3]:
        assert line["status"] == "pulling %s" % line["digest"][7:19]
        assert line["digest"].startswith("sha256:") and len(line["digest"]) == 71
        assert line.get("completed", 0) <= line["total"]
        layers.setdefault(line["digest"], []).append(line.get("completed", 0))
    assert all(done == sorted(done) and done[0] == 0 for done in layers.values())  # first line: nothing yet
    totals = {line["digest"]: line["total"] for line in lines[1:-3]}
    assert all(layers[digest][-1] == total for digest, total in totals.items())
    assert 13.7 * GB < sum(totals.values()) < 13.9 * GB

    listed = client.list().models
    assert [(m.model, m.size, m.details.family) for m in listed] == [("gpt-oss:20b", sum(totals.values()), "gptoss")]
    manifest_file = models / "manifests" / "registry.ollama.ai" / "library" / "gpt-oss" / "20b"
    assert listed[0].digest == hashlib.sha256(manifest_file.read_bytes()).hexdigest()

    shown = client.show("gpt-oss:20B")
    assert shown.details.parameter_size == "20.9B" and "tools" in shown.capabilities
    assert shown.modelinfo["general.architecture"] == "gptoss"
    assert "FROM gpt-oss:20b" in shown.modelfile and shown.template and shown.modified_at

    assert client.delete("GPT-OSS:20b").status == "success"
    assert client.list().models == []
    assert not any((models / "blobs").iterdir())


def test_official_client_gets_404_for_a_missing_model(client):
    with pytest.raises(ollama.ResponseError) as show_error:
        client.show("llama3.2-vision")
    assert show_error.value.status_code == 404
    assert show_error.value.error == "model 'llama3.2-vision' not found"
    with pytest.raises(ollama.ResponseError) as delete_error:
        client.delete("llama3.2-vision")
    assert delete_error.value.status_code == 404


def test_official_client_reads_an_error_line_inside_the_stream(client, double, models):
    double.set_faults(stream_error="max retries exceeded: unexpected EOF")
    seen = []
    with pytest.raises(ollama.ResponseError, match="max retries exceeded: unexpected EOF"):
        for progress in client.pull("tiny-test", stream=True):
            seen.append(progress)
    assert seen[0].status == "pulling manifest" and seen[-1].completed  # progress came before the error
    assert "success" not in [progress.status for progress in seen]
    assert client.list().models == []


def test_official_client_pull_without_stream(client, double):
    assert client.pull("tiny-test").status == "success"
    double.set_faults(registry_unreachable=True)
    with pytest.raises(ollama.ResponseError) as error:
        client.pull("llama3.2-vision")
    assert error.value.status_code == 500
    assert error.value.error == ('pull model manifest: Get "https://registry.ollama.ai/v2/library/llama3.2-vision/'
                                 'manifests/latest": dial tcp: lookup registry.ollama.ai: no such host')


# -- faults --------------------------------------------------------------------------------------------
def test_registry_unreachable_answers_pulling_manifest_then_the_error(client, double):
    double.set_faults(registry_unreachable=True)
    stream = client.pull("gpt-oss:20b", stream=True)
    assert next(stream).status == "pulling manifest"
    with pytest.raises(ollama.ResponseError, match="lookup registry.ollama.ai: no such host"):
        next(stream)


def test_unknown_model_is_a_missing_manifest(client):
    with pytest.raises(ollama.ResponseError) as error:
        pull_lines(client, "no-such-model:7b")
    assert error.value.error == "pull model manifest: file does not exist"


def test_full_disk_names_the_partial_blob(client, double, models):
    double.set_faults(disk_full=True)
    with pytest.raises(ollama.ResponseError) as error:
        pull_lines(client, "llama3.2-vision")
    assert error.value.error.startswith("write %s/blobs/sha256-" % models)
    assert error.value.error.endswith("-partial: no space left on device")


def test_cut_stream_ends_without_success_and_writes_no_manifest(client, double, models):
    double.set_faults(cut_stream=True)
    seen = []
    with pytest.raises(httpx.RemoteProtocolError):
        for progress in client.pull("tiny-test", stream=True):
            seen.append(progress.status)
    assert seen and "success" not in seen
    assert not (models / "manifests").exists()
    assert double.models() == []


def test_slow_pull_and_stall_take_their_time(client, double):
    double.set_faults(slow_pull_seconds=1.0)
    began = time.monotonic()
    lines = pull_lines(client, "tiny-test")
    assert time.monotonic() - began >= 1.0
    assert len([line for line in lines if line.get("total") == 2 * 1024 * 1024]) > 10  # progress while it lasts
    client.delete("tiny-test")
    double.set_faults(stall_seconds=1.0)
    began = time.monotonic()
    assert pull_lines(client, "tiny-test")[-1]["status"] == "success"
    assert time.monotonic() - began >= 1.0


def test_pull_seconds_paces_a_big_pull(models):
    with OllamaDouble(models, pull_seconds=0.5) as server, ollama.Client(host=server.url) as official:
        began = time.monotonic()
        lines = pull_lines(official, "llama3.2-vision")
        assert 0.5 <= time.monotonic() - began < 5
        assert len(lines) > 8


def test_faults_for_one_model_and_a_number_of_pulls(client, double):
    double.set_faults(stream_error="boom", model="llama3.2-vision:latest", count=1)
    assert pull_lines(client, "tiny-test")[-1]["status"] == "success"  # another model: untouched
    with pytest.raises(ollama.ResponseError, match="boom"):
        pull_lines(client, "llama3.2-vision")
    assert pull_lines(client, "llama3.2-vision")[-1]["status"] == "success"  # the count is used up


def test_faults_and_stats_over_http(double):
    status, body = request(double.url + "/_control/faults", "POST", {"disk_full": True})
    assert status == 200 and json.loads(body)["faults"]["disk_full"] is True
    assert double.faults.disk_full
    status, body = request(double.url + "/_control/faults", "POST", {"no_such_fault": 1})
    assert status == 400 and "no_such_fault" in json.loads(body)["error"]
    status, body = request(double.url + "/_control/stats")
    assert json.loads(body)["routes"]["POST /_control/faults"] == 2


# -- the DevServer app's models ---------------------------------------------------------------------
@pytest.mark.parametrize("name, family, capabilities, total", [
    ("llama-guard3:1b", "llama", ["completion"], 1.6 * GB),
    ("qwen3:1.7b", "qwen3", ["completion", "tools", "thinking"], 1.4 * GB),
    ("qwen3-vl:2b", "qwen3vl", ["completion", "vision", "tools", "thinking"], 1.9 * GB),
])
def test_the_apps_safety_models_pull_and_show_as_the_library_states(client, name, family, capabilities, total):
    lines = pull_lines(client, name)
    assert lines[-1]["status"] == "success"
    model_total = max(line.get("total", 0) for line in lines)
    assert abs(model_total - total) < 0.05 * GB  # the published download size, about
    shown = client.show(name)
    assert shown.details.family == family and list(shown.capabilities) == capabilities
    assert [m.model for m in client.list().models] == [name]


def test_the_double_knows_every_default_model_of_the_ollama_role_at_the_roles_sizes():
    """The ollama scenario pulls the role's defaults from the double; the role's size table and the double agree."""
    role = DOUBLE.parents[2] / "roles" / "ollama"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8"))["ollama_models"]
    sizes = yaml.safe_load((role / "vars" / "main.yml").read_text(encoding="utf-8"))["__ollama_download_bytes"]
    index = catalogue_index(CATALOGUE)
    for name in defaults:
        key = ModelName.parse(name).key()
        assert key in index, "%s is a default of the ollama role but not in the double's CATALOGUE" % name
        model_layer = dict(index[key][1]["layers"])["model"]
        assert model_layer == sizes[name], name


# -- names, layout, persistence, stats ---------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("gpt-oss:20b", ("registry.ollama.ai", "library", "gpt-oss", "20b")),
    ("llama3.2-vision", ("registry.ollama.ai", "library", "llama3.2-vision", "latest")),
    ("me/model:v1", ("registry.ollama.ai", "me", "model", "v1")),
    ("example.com:5000/me/model", ("example.com:5000", "me", "model", "latest")),
    ("https://example.com/me/model:q4", ("example.com", "me", "model", "q4")),
])
def test_names_get_ollamas_defaults(text, expected):
    assert ModelName.parse(text).manifest_parts() == expected


@pytest.mark.parametrize("text", ["", "a/b/c/d", "-model", "model:", "name space", "ns.dot/model"])
def test_invalid_names_are_refused(text, double):
    with pytest.raises(InvalidName):
        ModelName.parse(text)
    if text:
        status, body = request(double.url + "/api/show", "POST", {"model": text})
        assert (status, json.loads(body)) == (400, {"error": "invalid model name"})


def test_names_compare_case_insensitively():
    assert ModelName.parse("gpt-OSS:20b").key() == ModelName.parse("GPT-oss:20B").key()
    assert ModelName.parse("gpt-oss:20b").short() == "gpt-oss:20b"
    assert ModelName.parse("me/model").short() == "me/model:latest"


def test_pulled_model_survives_a_restart_in_the_real_layout(models):
    with OllamaDouble(models, pull_seconds=0) as first, ollama.Client(host=first.url) as official:
        pull_lines(official, "llama3.2-vision:latest")
    manifest_file = models / "manifests" / "registry.ollama.ai" / "library" / "llama3.2-vision" / "latest"
    manifest = json.loads(manifest_file.read_text())
    for layer in manifest["layers"] + [manifest["config"]]:
        blob = models / "blobs" / layer["digest"].replace(":", "-")
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == layer["digest"][7:]  # a blob is what its name says
        assert blob.stat().st_size < 4096  # tiny, whatever the declared size
    assert 7.7 * GB < sum(layer["size"] for layer in manifest["layers"]) < 7.9 * GB

    with OllamaDouble(models, pull_seconds=0) as second, ollama.Client(host=second.url) as official:
        assert [m.model for m in official.list().models] == ["llama3.2-vision:latest"]
        assert official.show("llama3.2-vision").details.family == "mllama"


def test_a_second_tag_of_the_same_model_finds_its_layers_on_disk(client):
    pull_lines(client, "llama3.2-vision:latest")
    lines = pull_lines(client, "llama3.2-vision:11b")
    layer_lines = [line for line in lines if "digest" in line]
    assert layer_lines and all(line["completed"] == line["total"] for line in layer_lines)  # one line each, cached
    listed = {m.model: m.digest for m in client.list().models}
    assert listed["llama3.2-vision:latest"] == listed["llama3.2-vision:11b"]


def test_stats_prove_a_show_of_a_present_model_is_the_only_request(client, double):
    double.install("gpt-oss:20b")
    double.reset_stats()
    client.show("gpt-OSS:20b")
    assert dict(double.stats.routes) == {"POST /api/show": 1}
    assert double.stats.requests[0].body == {"model": "gpt-OSS:20b"}


def test_plain_routes(double):
    assert request(double.url + "/") == (200, b"Ollama is running")
    assert request(double.url + "/", "HEAD") == (200, b"")
    assert json.loads(request(double.url + "/api/version")[1]) == {"version": DEFAULT_VERSION}
    assert request(double.url + "/api/nothing")[0] == 404
    assert request(double.url + "/api/show", "POST") == (400, b'{"error":"missing request body"}')
    assert request(double.url + "/api/show", "POST", {}) == (400, b'{"error":"model is required"}')


# -- the program -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (None, ("127.0.0.1", 11434)),
    ("", ("127.0.0.1", 11434)),
    ("127.0.0.1:11500", ("127.0.0.1", 11500)),
    ("http://127.0.0.1:11500", ("127.0.0.1", 11500)),
    ("0.0.0.0", ("0.0.0.0", 11434)),
    ("http://example.com", ("example.com", 80)),
    ('"[::1]:11434"', ("::1", 11434)),
])
def test_ollama_host_is_read_like_ollama_does(value, expected):
    assert parse_ollama_host(value) == expected


def installed_like_a_release(tmp_path, version):
    """bin/ollama (the double with a shebang) and lib/ollama/double-version, reached through a symlink."""
    release = tmp_path / ("ollama-%s" % version)
    (release / "bin").mkdir(parents=True)
    (release / "lib" / "ollama").mkdir(parents=True)
    program = release / "bin" / "ollama"
    program.write_text("#!%s\n%s" % (sys.executable, DOUBLE.read_text()))
    program.chmod(0o755)
    (release / "lib" / "ollama" / "double-version").write_text(version + "\n")
    link = tmp_path / "ollama"
    link.symlink_to(program)
    return link


def wait_for(path, seconds=10):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, "%s never appeared" % path
        time.sleep(0.05)
    return json.loads(path.read_text())


def test_serve_as_ollama_with_its_environment(tmp_path):
    program = installed_like_a_release(tmp_path, "0.13.5")
    models = tmp_path / "store" / "models"
    environment = dict(os.environ, OLLAMA_HOST="http://127.0.0.1:0", OLLAMA_MODELS=str(models),
                       OLLAMA_DOUBLE_PULL_SECONDS="0")
    down = subprocess.run([str(program), "--version"], env=dict(environment, OLLAMA_HOST="127.0.0.1:9"),
                          capture_output=True, text=True, timeout=30, check=True)
    assert down.stdout == "Warning: could not connect to a running Ollama instance\nWarning: client version is 0.13.5\n"

    server = subprocess.Popen([str(program), "serve", "--port-file", str(tmp_path / "port.json")], env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        where = wait_for(tmp_path / "port.json")
        assert where["models"] == str(models) and where["version"] == "0.13.5"
        with ollama.Client(host=where["url"]) as official:
            assert pull_lines(official, "tiny-test")[-1]["status"] == "success"
        assert (models / "manifests" / "registry.ollama.ai" / "library" / "tiny-test" / "latest").is_file()
        assert json.loads(request(where["url"] + "/api/version")[1]) == {"version": "0.13.5"}
        up = subprocess.run([str(program), "-v"], env=dict(environment, OLLAMA_HOST=where["url"][len("http://"):]),
                            capture_output=True, text=True, timeout=30, check=True)
        assert up.stdout == "ollama version is 0.13.5\n"
    finally:
        server.terminate()
        output, _unused = server.communicate(timeout=10)
    assert server.returncode == 0  # systemctl stop: a clean exit
    log = output.splitlines()
    assert any('POST    "/api/pull"' in line and "| 200 |" in line for line in log)
    assert any('GET     "/api/version"' in line for line in log)


def test_plain_script_reports_the_default_version(tmp_path):
    answer = subprocess.run([sys.executable, str(DOUBLE), "--version"], capture_output=True, text=True, timeout=30,
                            env=dict(os.environ, OLLAMA_HOST="127.0.0.1:9"), check=True)
    assert answer.stdout.endswith("Warning: client version is %s\n" % DEFAULT_VERSION)

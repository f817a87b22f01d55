"""The pull stream turned into progress, a short log and actionable failures (ollama_pull)."""

import json

import pytest
from ansible_collections.ai4artsed.devserver.plugins.module_utils.bounded_http import HttpFailure

from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_progress import job_status
from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_pull import (
    PullFailed,
    PullProgress,
    classify_error,
    follow_pull,
    models_folder,
    parse_line,
)

WEIGHTS = "sha256:" + "8eeb52dfb3bb" + "a" * 52
TEMPLATE = "sha256:" + "c71d239df917" + "b" * 52
GB = 10 ** 9


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def layer_line(digest, completed, total):
    return {"status": "pulling " + digest[7:19], "digest": digest, "total": total, "completed": completed}


def real_sequence(weights_steps=(0, 4 * GB, 9 * GB, 13 * GB)):
    """What Ollama streams for a two-layer model, as in server/images.go: manifest, layers, verify, write, success."""
    events = [{"status": "pulling manifest"}]
    events += [layer_line(WEIGHTS, done, 13 * GB) for done in weights_steps]
    events += [layer_line(TEMPLATE, 1500, 1500)]
    events += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"}]
    return [(json.dumps(event) + "\n").encode() for event in events]


def test_a_finished_pull_sums_the_layers_and_keeps_a_short_log(tmp_path):
    progress = PullProgress("gpt-oss:20b", str(tmp_path / "progress.json"))
    follow_pull(real_sequence(), progress, "gpt-oss:20b", "registry.ollama.ai")
    assert progress.finished
    assert (progress.done_bytes(), progress.total_bytes()) == (13 * GB + 1500, 13 * GB + 1500)
    assert progress.log() == ["pulling manifest", "pulling 8eeb52dfb3bb: 13.0 GB", "pulling c71d239df917: 1.5 KB",
                              "verifying sha256 digest", "writing manifest", "success"]
    written = json.loads((tmp_path / "progress.json").read_text())
    assert written["finished"] is True and written["status"] == "success"
    assert (written["done_bytes"], written["total_bytes"], written["files_done"], written["files_total"]) == (
        13 * GB + 1500, 13 * GB + 1500, 2, 2)
    assert written["line"] == "success: 13.0 GB in 2 layers"


def test_progress_while_pulling_has_bytes_rate_and_eta(tmp_path):
    clock = Clock()
    path = tmp_path / "progress.json"
    progress = PullProgress("gpt-oss:20b", str(path), clock=clock, interval=1.0)
    progress.update({"status": "pulling manifest"})
    assert json.loads(path.read_text())["line"] == "pulling manifest"
    progress.update(layer_line(WEIGHTS, 0, 13 * GB))
    clock.now += 2
    progress.update(layer_line(WEIGHTS, 2 * GB, 13 * GB))  # 1 GB/s over the last 2 s
    written = json.loads(path.read_text())
    assert (written["done_bytes"], written["total_bytes"]) == (2 * GB, 13 * GB)
    assert written["bytes_per_second"] == GB
    assert written["eta_seconds"] == 11
    assert written["line"] == "2.0 / 13.0 GB, 1.0 GB/s, ETA 11 s (pulling 8eeb52dfb3bb)"
    assert written["finished"] is False and written["files_done"] == 0


def test_the_progress_file_is_rewritten_at_most_once_an_interval_but_at_every_new_status(tmp_path):
    clock = Clock()
    path = tmp_path / "progress.json"
    progress = PullProgress("m:latest", str(path), clock=clock, interval=1.0)
    progress.update(layer_line(WEIGHTS, 0, 100))
    progress.update(layer_line(WEIGHTS, 50, 100))  # same instant: not written
    assert json.loads(path.read_text())["done_bytes"] == 0
    clock.now += 1
    progress.update(layer_line(WEIGHTS, 60, 100))
    assert json.loads(path.read_text())["done_bytes"] == 60
    progress.update({"status": "verifying sha256 digest"})  # a new phase is shown at once
    assert json.loads(path.read_text())["status"] == "verifying sha256 digest"


def test_hf_model_progress_can_watch_an_ollama_pull(tmp_path):
    """The progress file speaks hf_progress's keys, so the role can reuse hf_model_progress to print it."""
    clock = Clock()
    path = str(tmp_path / "progress.json")
    progress = PullProgress("gpt-oss:20b", path, clock=clock)
    progress.update(layer_line(WEIGHTS, 0, 13 * GB))
    clock.now += 4
    progress.update(layer_line(WEIGHTS, 4 * GB, 13 * GB))
    status = job_status(path)
    assert status["finished"] is False
    assert (status["done_bytes"], status["total_bytes"], status["files_total"]) == (4 * GB, 13 * GB, 1)
    assert status["line"].startswith("4.0 / 13.0 GB, 1.0 GB/s, ETA 9 s")


def test_no_progress_file_without_a_path(tmp_path):
    follow_pull(real_sequence(), PullProgress("m:latest"), "m:latest", "registry.ollama.ai")
    assert list(tmp_path.iterdir()) == []


def test_an_error_line_inside_the_stream_fails_with_ollamas_error(tmp_path):
    stream = real_sequence()[:3] + [b'{"error":"max retries exceeded: unexpected EOF"}\n']
    progress = PullProgress("gpt-oss:20b", str(tmp_path / "p.json"))
    with pytest.raises(PullFailed) as failure:
        follow_pull(stream, progress, "gpt-oss:20b", "registry.ollama.ai")
    assert "max retries exceeded: unexpected EOF" in str(failure.value)
    assert failure.value.kind == "pull_error"
    assert progress.log()[-1] == "error: max retries exceeded: unexpected EOF"
    assert json.loads((tmp_path / "p.json").read_text())["error"] == "max retries exceeded: unexpected EOF"


@pytest.mark.parametrize("stream, where", [
    (real_sequence()[:3], "4.0 GB of 13.0 GB, at 'pulling 8eeb52dfb3bb'"),
    (real_sequence()[:-1], "13.0 GB of 13.0 GB, at 'writing manifest'"),
    ([b'{"status":"pulling manifest"}\n'], "'pulling manifest'"),
    ([], "'starting'"),
])
def test_a_stream_that_ends_without_success_fails_and_says_a_rerun_resumes(stream, where):
    progress = PullProgress("gpt-oss:20b")
    with pytest.raises(PullFailed) as failure:
        follow_pull(stream, progress, "gpt-oss:20b", "registry.ollama.ai")
    assert failure.value.kind == "incomplete"
    assert "did not finish" in str(failure.value) and where in str(failure.value)
    assert "Re-running the task resumes the pull" in str(failure.value)
    assert not progress.finished


def broken_after(lines, error):
    yield from lines
    raise error


@pytest.mark.parametrize("error, kind, says", [
    # what bounded_http's Stream.lines raises
    (HttpFailure("POST http://h/api/pull: the connection broke after 310 bytes of the answer (IncompleteRead)",
                 "broken"), "incomplete", "the connection to Ollama broke (POST http://h/api/pull: the connection"),
    (HttpFailure("POST http://h/api/pull: sent nothing for 60 s (after 310 bytes)", "idle"), "timeout",
     "Ollama sent nothing for the whole timeout"),
])
def test_a_cut_connection_fails_and_says_a_rerun_resumes(error, kind, says):
    progress = PullProgress("gpt-oss:20b")
    with pytest.raises(PullFailed) as failure:
        follow_pull(broken_after(real_sequence()[:3], error), progress, "gpt-oss:20b", "registry.ollama.ai")
    assert failure.value.kind == kind
    assert says in str(failure.value) and "resumes the pull" in str(failure.value)


def test_the_whole_pull_has_a_deadline():
    clock = Clock()

    def slow_lines():
        for line in real_sequence():
            clock.now += 10
            yield line

    with pytest.raises(PullFailed) as failure:
        follow_pull(slow_lines(), PullProgress("m:latest", clock=clock), "m:latest", "registry.ollama.ai",
                    deadline=clock.now + 25, clock=clock)
    assert failure.value.kind == "timeout"
    assert "did not finish within the timeout" in str(failure.value)


def test_a_line_that_is_not_json_fails_clearly():
    with pytest.raises(PullFailed) as failure:
        follow_pull([b"<html>proxy login</html>\n"], PullProgress("m:latest"), "m:latest", "registry.ollama.ai")
    assert failure.value.kind == "protocol" and "not a line of JSON" in str(failure.value)
    assert parse_line(b"\n") is None


OLLAMA_ERRORS = [
    # (Ollama's error text, kind, what the message must tell the user)
    ("pull model manifest: file does not exist", "unknown_model", ["no model gpt-oss:21b", "https://ollama.com/library"]),
    ("pull model manifest: manifest unknown", "unknown_model", ["https://ollama.com/library"]),
    ('pull model manifest: Get "https://registry.ollama.ai/v2/library/gpt-oss/manifests/21b": dial tcp: lookup '
     'registry.ollama.ai on 127.0.0.53:53: no such host', "registry_unreachable",
     ["no route to registry.ollama.ai", "HTTPS_PROXY", "systemctl edit ollama"]),
    ('pull model manifest: Get "https://registry.ollama.ai/v2/": dial tcp 104.21.75.227:443: i/o timeout',
     "registry_unreachable", ["HTTPS_PROXY"]),
    ("write /srv/ollama/models/blobs/sha256-8eeb52dfb3bb-partial-3: no space left on device", "disk_full",
     ["the models folder /srv/ollama/models (OLLAMA_MODELS)", "Free space"]),
    ("something new", "pull_error", ["Pulling gpt-oss:21b failed: something new"]),
]


@pytest.mark.parametrize("error, kind, says", OLLAMA_ERRORS)
def test_ollamas_errors_are_classified_with_what_to_do(error, kind, says):
    failure = classify_error(error, "gpt-oss:21b", "registry.ollama.ai")
    assert failure.kind == kind
    for text in says:
        assert text in str(failure)
    assert error in str(failure)


def test_a_full_disk_says_how_much_the_model_needs():
    progress = PullProgress("gpt-oss:20b")
    progress.update(layer_line(WEIGHTS, 4 * GB, 13 * GB))
    failure = classify_error("open /x: no space left on device", "gpt-oss:20b", "registry.ollama.ai", progress)
    assert "need 13.0 GB, 9.0 GB of them still to download" in str(failure)
    assert "OLLAMA_MODELS, by default /usr/share/ollama/.ollama/models" in str(failure)


def test_models_folder_is_read_from_the_path_in_the_error():
    assert models_folder("mkdir /data/ollama/manifests/registry.ollama.ai: no space left on device") == "/data/ollama"
    assert models_folder("write /d/blobs/sha256-1-partial: x") == "/d"
    assert models_folder("no space left on device") is None

"""hf_progress: the progress file hf_model writes (ProgressBoard) and what hf_model_progress reads from it."""

import json

from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_progress


def test_progress_reader(tmp_path):
    progress, results = tmp_path / "progress.json", tmp_path / "job"
    assert hf_progress.job_status(str(progress), str(results)) == {
        "finished": False, "line": "waiting for the first progress report", "done_bytes": 0, "total_bytes": 0,
        "files_done": 0, "files_total": 0}
    progress.write_text(json.dumps({"line": "1.0 / 2.0 GB, 1.0 MB/s, ETA 17 min", "done_bytes": 1, "total_bytes": 2,
                                    "files_done": 1, "files_total": 3, "updated": 100.0}))
    results.write_text(json.dumps({"started": 1, "finished": 0}))
    running = hf_progress.job_status(str(progress), str(results))
    assert running["line"] == "1.0 / 2.0 GB, 1.0 MB/s, ETA 17 min (1 of 3 files)" and not running["finished"]
    results.write_text(json.dumps({"changed": True, "files": []}))
    assert hf_progress.job_status(str(progress), str(results))["finished"]
    stale = hf_progress.job_status(str(progress), str(results), started=200.0)
    assert stale["line"] == "finished, nothing was downloaded"


def test_the_reader_shows_what_the_board_wrote(tmp_path):
    now = [0.0]
    path = hf_progress.default_progress_file(str(tmp_path))
    board = hf_progress.ProgressBoard(path, 2000 * 1000 * 1000, 2, clock=lambda: now[0])
    for second in range(1, 11):  # 100 MB each second: the rate over the last seconds is 100 MB/s
        now[0] = float(second)
        board.add(100 * 1000 * 1000)
    board.file_finished()
    status = hf_progress.job_status(path)
    assert status["done_bytes"] == 1000 * 1000 * 1000 and status["files_done"] == 1 and not status["finished"]
    assert status["line"] == "1.0 / 2.0 GB, 100.0 MB/s, ETA 10 s (1 of 2 files)"
    assert path == str(tmp_path / ".hf_model" / "progress.json")  # where the README and hf_model's docs say

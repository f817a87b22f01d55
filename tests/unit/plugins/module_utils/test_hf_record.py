"""hf_model records: two downloads of one batch finishing together may both create the record folder."""

import json
import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils import hf_record


def test_record_folder_made_by_a_parallel_download_is_no_error(tmp_path, monkeypatch):
    folder = tmp_path / ".hf_model" / "vae" / "Flux"
    folder.mkdir(parents=True)  # the other worker won the race between isdir() and makedirs()
    real_isdir, calls = os.path.isdir, []

    def isdir_before_the_other_worker(path):  # the first look happens before the other worker's mkdir
        calls.append(path)
        return False if len(calls) == 1 else real_isdir(path)

    monkeypatch.setattr(hf_record.os.path, "isdir", isdir_before_the_other_worker)
    hf_record.write_json_atomically(str(folder / "ae.safetensors.json"), {"sha256": "x"})
    monkeypatch.undo()
    assert json.loads((folder / "ae.safetensors.json").read_text()) == {"sha256": "x"}
    assert os.listdir(str(folder)) == ["ae.safetensors.json"]

"""hf_download: which partial file a run may resume."""

import json

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_download import partial_identity, resumable_bytes
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import RemoteFile

REMOTE = RemoteFile("unet/model.safetensors", "c" * 40, 100, sha256="a" * 64, url="https://cdn.example/x")
IDENTITY = partial_identity(REMOTE, "a" * 64)


# what is beside dest: (partial bytes or None, identity in its meta file or None); what a run resumes from
@pytest.mark.parametrize("partial, identity, resumable", [
    (None, None, 0),
    (None, IDENTITY, 0),
    (b"x" * 40, IDENTITY, 40),
    (b"x" * 40, None, -1),
    (b"x" * 40, dict(IDENTITY, commit="d" * 40), -1),
    (b"x" * 40, dict(IDENTITY, sha256="b" * 64), -1),
    (b"x" * 101, IDENTITY, -1),
], ids=["nothing", "a meta file alone", "same file and commit", "no meta file", "another commit",
        "another pinned sha256", "longer than the file"])
def test_resumable_bytes(tmp_path, partial, identity, resumable):
    dest = tmp_path / "unet" / "model.safetensors"
    dest.parent.mkdir()
    if partial is not None:
        (tmp_path / "unet" / ".model.safetensors.hf-partial").write_bytes(partial)
    if identity is not None:
        (tmp_path / "unet" / ".model.safetensors.hf-partial.json").write_text(
            json.dumps({"version": 1, "identity": identity}))
    assert resumable_bytes(str(dest), IDENTITY) == resumable

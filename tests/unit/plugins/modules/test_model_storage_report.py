"""model_storage_report: the report's figures and Markdown."""

import os

from ansible_collections.ai4artsed.devserver.plugins.module_utils import storage_report


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def tree(tmp_path):
    store, comfy, archive = tmp_path / "Models", tmp_path / "models", tmp_path / "archive"
    write(store / "clip" / "clip_g.safetensors", b"g" * 10)
    write(store / "clip" / "unlisted.safetensors", b"u" * 3)
    write(store / "vae" / "Flux" / "ae.safetensors", b"a" * 5)
    write(store / ".hf_model" / "clip" / "clip_g.safetensors.json", b"{}")  # our records: left out
    write(comfy / "clip" / "t5-base.safetensors", b"t" * 7)
    write(comfy / "checkpoints" / "copy.safetensors", b"g" * 10)  # a duplicate of clip_g
    (comfy / "vae").mkdir(parents=True)
    os.symlink("../../Models/vae/Flux/ae.safetensors", str(comfy / "vae" / "ae.safetensors"))
    os.symlink("../../Models/vae/gone.safetensors", str(comfy / "vae" / "gone.safetensors"))
    write(comfy / ".ai4artsed-model-links.json", b"{}")
    write(archive / "vae" / "old.safetensors", b"o" * 4)
    write(archive / "ledger.jsonl", b"{}\n")
    listed = {"Models": ["clip/clip_g.safetensors", "vae/Flux/ae.safetensors"],
              "ComfyUI models": ["clip/t5-base.safetensors"]}
    return [("Models", str(store)), ("ComfyUI models", str(comfy))], str(archive), listed


def test_report_counts_per_folder(tmp_path):
    roots, archive, listed = tree(tmp_path)
    report = storage_report.collect(roots, archive, listed)
    rows = dict((row["folder"], row) for row in report["rows"])
    assert sorted(rows) == ["ComfyUI models/checkpoints", "ComfyUI models/clip", "ComfyUI models/vae",
                            "Models/clip", "Models/vae"]
    assert (rows["Models/clip"]["size"], rows["Models/clip"]["files"], rows["Models/clip"]["unmanaged"]) == (13, 2, 1)
    assert rows["Models/clip"]["duplicates"] == 1 and rows["ComfyUI models/checkpoints"]["duplicates"] == 1
    assert rows["Models/vae"]["linked"] == 1
    assert (rows["ComfyUI models/vae"]["links"], rows["ComfyUI models/vae"]["broken links"]) == (2, 1)
    assert report["archive"] == {"size": 4, "files": 1}
    assert report["totals"]["size"] == 10 + 3 + 5 + 7 + 10
    assert report["broken_links"] == [{"root": "ComfyUI models", "path": "vae/gone.safetensors",
                                       "target": "../../Models/vae/gone.safetensors"}]
    assert report["unmanaged"] == ["Models/clip/unlisted.safetensors", "ComfyUI models/checkpoints/copy.safetensors"]
    assert [d["paths"] for d in report["duplicates"]] == [
        ["ComfyUI models/checkpoints/copy.safetensors", "Models/clip/clip_g.safetensors"]]


def test_markdown_is_stable_and_leaves_out_our_records(tmp_path):
    roots, archive, listed = tree(tmp_path)
    first = storage_report.markdown(storage_report.collect(roots, archive, listed))
    assert first == storage_report.markdown(storage_report.collect(roots, archive, listed))
    assert first.startswith("# Model storage report\n\n| folder | size | files | linked | links |")
    assert "| Models/clip | 13 B | 2 | 0 | 0 | 1 | 0 | 1 |" in first
    assert ".hf_model" not in first and ".ai4artsed-model-links" not in first and "ledger" not in first


def test_files_below_a_listed_prefix_are_managed(tmp_path):
    roots, archive, listed = tree(tmp_path)
    write(tmp_path / "models" / "musicgen" / "config.json", b"{}")  # a multi-file model's folder, planned before
    write(tmp_path / "models" / "musicgen" / "sub" / "weights.bin", b"w")  # ... its downloads
    write(tmp_path / "models" / "musicgen-old" / "x.bin", b"x")  # a sibling whose name starts the same
    report = storage_report.collect(roots, archive, listed, {"ComfyUI models": ["musicgen"]})
    assert report["unmanaged"] == ["Models/clip/unlisted.safetensors", "ComfyUI models/checkpoints/copy.safetensors",
                                   "ComfyUI models/musicgen-old/x.bin"]
    rows = dict((row["folder"], row) for row in report["rows"])
    assert (rows["ComfyUI models/musicgen"]["files"], rows["ComfyUI models/musicgen"]["unmanaged"]) == (2, 0)


def test_without_a_listing_nothing_is_unmanaged(tmp_path):
    roots, archive, _listed = tree(tmp_path)
    assert storage_report.collect(roots, archive, None)["unmanaged"] == []

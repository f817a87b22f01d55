"""comfyui module_utils: ComfyUI's log, /object_info and /models read as ComfyUI's own code writes them."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils import comfyui

NODES = "/home/ai4artsed/ai/SwarmUI/dlbackend/ComfyUI/custom_nodes"


@pytest.mark.parametrize("entry, is_file, expected", [
    ("ai4artsed_comfyui", False, "ai4artsed_comfyui"),
    ("websocket_image_save.py", True, "websocket_image_save"),
    ("example_node.py.example", True, None),
    ("README.md", True, None),
    ("__pycache__", False, None),
    ("old_pack.disabled", False, None),
    ("single.py.disabled", True, None),
])
def test_pack_name_follows_what_comfyui_tries_to_import(entry, is_file, expected):
    assert comfyui.pack_name(entry, is_file) == expected


def test_packs_in_lists_folders_and_py_files_sorted():
    entries = [("zeta", False), ("__pycache__", False), ("alpha.py", True), ("notes.txt", True)]
    assert comfyui.packs_in(entries) == ["alpha", "zeta"]


# Lines as ComfyUI 0.3.64 / v0.8.2 logs them (nodes.py: load_custom_node, init_external_custom_nodes).
BROKEN_LOG = [
    "Traceback (most recent call last):",
    '  File "%s/broken_pack/__init__.py", line 1, in <module>' % NODES,
    "ModuleNotFoundError: No module named 'nonexistent'",
    "Cannot import %s/broken_pack module for custom nodes: No module named 'nonexistent'" % NODES,
    "Skip %s/empty_pack module for custom nodes due to the lack of NODE_CLASS_MAPPINGS or NODES_LIST (need one)."
    % NODES,
    "",
    "Import times for custom nodes:",
    "   0.0 seconds: %s/websocket_image_save.py" % NODES,
    "   0.0 seconds (IMPORT FAILED): %s/broken_pack" % NODES,
    "   0.0 seconds (IMPORT FAILED): %s/empty_pack" % NODES,
    "   0.1 seconds (IMPORT FAILED): %s/single_file.py" % NODES,
    "   0.3 seconds: %s/ai4artsed_comfyui" % NODES,
]


@pytest.mark.parametrize("lines, expected", [
    ([], {}),
    (["   0.3 seconds: %s/ai4artsed_comfyui" % NODES, "Starting server"], {}),
    (BROKEN_LOG, {"broken_pack": "No module named 'nonexistent'",
                  "empty_pack": "it has no NODE_CLASS_MAPPINGS (nor comfy_entrypoint)",
                  "single_file": "IMPORT FAILED"}),
    # A built-in comfy_extras failure is not a pack of custom_nodes/.
    (["IMPORT FAILED: nodes_flux.py"], {}),
    # ComfyUI's journal as journalctl prints it without -o cat: the prefix does not matter.
    (["Jan 07 10:00:00 host python[42]:    0.0 seconds (IMPORT FAILED): %s/swarm_nodes" % NODES],
     {"swarm_nodes": "IMPORT FAILED"}),
], ids=["empty", "all imported", "failures", "builtin", "journal prefix"])
def test_import_failures_names_each_pack_with_its_reason(lines, expected):
    assert comfyui.import_failures(lines) == expected


def test_classes_by_pack_uses_python_module():
    object_info = {
        "KSampler": {"python_module": "nodes"},
        "ai4artsed_prompt_interception": {"python_module": "custom_nodes.ai4artsed_comfyui"},
        "ai4artsed_openrouter_key": {"python_module": "custom_nodes.ai4artsed_comfyui"},
        "SaveImageWebsocket": {"python_module": "custom_nodes.websocket_image_save"},
        "Flux2Scheduler": {"python_module": "comfy_extras.nodes_flux"},
        "Odd": {},
    }
    assert comfyui.classes_by_pack(object_info) == {
        "ai4artsed_comfyui": ["ai4artsed_openrouter_key", "ai4artsed_prompt_interception"],
        "websocket_image_save": ["SaveImageWebsocket"],
    }


@pytest.mark.parametrize("packs, failures, classes, imported, problem_words", [
    (["good"], {}, {"good": ["GoodNode"]}, {"good": True}, []),
    (["broken"], {"broken": "No module named 'x'"}, {}, {"broken": False}, ["broken", "No module named 'x'"]),
    # No log line (journal not readable) but no class either: still a failure, named.
    (["silent"], {}, {}, {"silent": False}, ["silent", "none of its node classes"]),
    # Logged as failed although a class of that name exists (a later pack): the log wins.
    (["flaky"], {"flaky": "IMPORT FAILED"}, {"flaky": ["X"]}, {"flaky": False}, ["flaky"]),
], ids=["imported", "logged failure", "no classes", "log wins"])
def test_check_packs(packs, failures, classes, imported, problem_words):
    rows, problems = comfyui.check_packs(packs, failures, classes)
    assert {row["name"]: row["imported"] for row in rows} == imported
    assert len(problems) == (1 if problem_words else 0)
    for word in problem_words:
        assert word in problems[0]


@pytest.mark.parametrize("link, expected", [
    ("checkpoints/OfficialStableDiffusion/sd3.5_large.safetensors",
     ("checkpoints", "OfficialStableDiffusion/sd3.5_large.safetensors")),
    ("clip/clip_l.safetensors", ("text_encoders", "clip_l.safetensors")),
    ("unet/flux.safetensors", ("diffusion_models", "flux.safetensors")),
    ("t2i_adapter/a.pth", ("controlnet", "a.pth")),
    ("vae/Flux/flux2-vae.safetensors", ("vae", "Flux/flux2-vae.safetensors")),
    ("stray.safetensors", (None, "stray.safetensors")),
])
def test_folder_of_link_maps_the_legacy_folders(link, expected):
    assert comfyui.folder_of_link(link) == expected


def test_expected_by_folder_merges_clip_and_text_encoders():
    links = ["clip/clip_l.safetensors", "text_encoders/t5.safetensors", "vae/ae.safetensors", "top.bin"]
    assert comfyui.expected_by_folder(links) == {
        "text_encoders": ["clip_l.safetensors", "t5.safetensors"], "vae": ["ae.safetensors"]}


@pytest.mark.parametrize("lexists, target, resolves, expected", [
    (True, "../../Models/vae/ae.safetensors", True, None),
    (True, "../../Models/vae/gone.safetensors", False, "points to ../../Models/vae/gone.safetensors, which does not exist"),
    (False, None, False, "is missing"),
    (True, None, False, "is not a file"),
])
def test_broken_link(lexists, target, resolves, expected):
    assert comfyui.broken_link(lexists, target, resolves) == expected


def test_compare_models_counts_per_folder_and_names_what_is_missing():
    expected = {"checkpoints": ["Flux1/a.safetensors"], "text_encoders": ["clip_l.safetensors", "t5.safetensors"],
                "musicgen": ["model.safetensors"]}
    listed = {"checkpoints": ["Flux1/a.safetensors", "other.ckpt"], "text_encoders": ["clip_l.safetensors"],
              "musicgen": None}
    broken = {"checkpoints/Flux1/a.safetensors": "points to ../x, which does not exist"}
    rows, lines, problems = comfyui.compare_models(expected, listed, broken)
    assert lines == [
        "checkpoints: ComfyUI lists 2, the manifest links 1",
        "musicgen: not a ComfyUI model folder (GET /models/musicgen is 404), the manifest links 1",
        "text_encoders: ComfyUI lists 1, the manifest links 2",
    ]
    assert problems == [
        "ComfyUI does not list the linked model text_encoders/t5.safetensors (GET /models/text_encoders)",
        "the link models/checkpoints/Flux1/a.safetensors points to ../x, which does not exist",
    ]
    assert [row["missing"] for row in rows] == [[], [], ["t5.safetensors"]]


def test_compare_models_with_everything_listed_has_no_problem():
    rows, lines, problems = comfyui.compare_models({"vae": ["ae.safetensors"]}, {"vae": ["ae.safetensors"]}, {})
    assert problems == [] and lines == ["vae: ComfyUI lists 1, the manifest links 1"]


@pytest.mark.parametrize("spec, expected", [
    ("torch==2.9.1", ("torch", "2.9.1")),
    ("comfyui_frontend_package==1.34.9", ("comfyui-frontend-package", "1.34.9")),
    ("Comfy.Kitchen == 0.2.5", ("comfy-kitchen", "0.2.5")),
    ("requests", ("requests", None)),
    ("transformers>=4.50.3", ("transformers", None)),
    ("transformers[timm]>=4.50.0", ("transformers", None)),
    ("torch===2.9.1", ("torch", None)),
])
def test_parse_requirement(spec, expected):
    assert comfyui.parse_requirement(spec) == expected


def test_parse_requirement_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="cannot read the requirement"):
        comfyui.parse_requirement("git+https://example.org/x.git")


@pytest.mark.parametrize("wanted, installed, matches", [
    ("2.9.1", "2.9.1", True),
    ("2.9.1", "2.9.1+cu130", True),
    ("2.9.1", "2.9.10", False),
    ("2.9.1+cu130", "2.9.1+cu128", False),
])
def test_version_matches_a_local_build(wanted, installed, matches):
    assert comfyui.version_matches(wanted, installed) is matches


PINS = ["torch==2.9.1", "requests", "comfyui_frontend_package==1.35.9", "comfyui-frontend-package==1.34.9"]


@pytest.mark.parametrize("installed, problems", [
    # As specified (the second run): nothing to do.
    ({"torch": "2.9.1+cu130", "requests": "2.32.5", "comfyui-frontend-package": "1.34.9"}, []),
    # requirements.txt's frontend where the pin wants another: the last pin of a name wins.
    ({"torch": "2.9.1+cu130", "requests": "2.32.5", "comfyui_frontend_package": "1.35.9"},
     ["comfyui-frontend-package is 1.35.9 in the venv, wanted 1.34.9"]),
    ({"torch": "2.9.1"}, ["comfyui-frontend-package is not installed in the venv (wanted comfyui-frontend-package==1.34.9)",
                          "requests is not installed in the venv (wanted requests)"]),
    ({}, ["comfyui-frontend-package is not installed in the venv (wanted comfyui-frontend-package==1.34.9)",
          "requests is not installed in the venv (wanted requests)",
          "torch is not installed in the venv (wanted torch==2.9.1)"]),
], ids=["as specified", "pin differs", "missing", "empty venv"])
def test_compare_packages(installed, problems):
    rows, found = comfyui.compare_packages(PINS, installed)
    assert found == problems
    assert [row["name"] for row in rows] == ["comfyui-frontend-package", "requests", "torch"]


@pytest.mark.parametrize("first, now, crashed", [
    ({"NRestarts": "0"}, {"ActiveState": "active", "SubState": "running", "NRestarts": "0"}, None),
    ({"NRestarts": "0"}, {"ActiveState": "activating", "SubState": "start", "NRestarts": "0"}, None),
    ({"NRestarts": "0"}, {"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "0"}, "exited"),
    ({"NRestarts": "2"}, {"ActiveState": "active", "SubState": "running", "NRestarts": "3"}, "NRestarts 2 -> 3"),
    ({"NRestarts": "0"}, {"ActiveState": "failed", "SubState": "failed", "NRestarts": "4"}, "failed"),
    ({}, {"ActiveState": "inactive", "SubState": "dead"}, "inactive"),
], ids=["running", "starting", "auto-restart", "restarted", "gave up", "stopped"])
def test_unit_crash(first, now, crashed):
    reason = comfyui.unit_crash(first, now)
    if crashed is None:
        assert reason is None
    else:
        assert crashed in reason


def test_parse_systemctl_show():
    text = "ActiveState=active\nSubState=running\nNRestarts=0\nInvocationID=abc123\nMainPID=42\n"
    assert comfyui.parse_systemctl_show(text) == {"ActiveState": "active", "SubState": "running", "NRestarts": "0",
                                                  "InvocationID": "abc123", "MainPID": "42"}

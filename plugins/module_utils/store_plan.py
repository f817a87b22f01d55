# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model store's preflight: what the plan (manifest.plan) and the host's measurements decide.

model_manifest returns these verdicts with its plan, so the role only prints them and asserts that
nothing was refused. Each refusal names what is wrong and what to do; the wording names the
model_store role's variables, since that is where a user changes the selection. Pure: no host access.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

GB = 1000 ** 3  # sizes and the free-space margin are counted in 10^9 bytes, as the role's variables are
MIB_PER_GB_OF_VRAM = 1024  # nvidia-smi reports MiB; workflows' vram_gb are compared with MiB / 1024

# What the preflight measures on the host and takes from the role; free_bytes is None when not measured.
Measured = namedtuple("Measured", "free_bytes free_human mount margin_bytes gpu_memory_mib check_vram token_given")


def largest_gpu_mib(memory_mib):
    """The largest known GPU memory in MiB, or None: nvidia_driver_gpus holds null where it is not known."""
    known = [int(value) for value in memory_mib or () if value]
    return max(known) if known else None


def missing_of_unknown_size(plan):
    """Entries still to download whose size the manifest does not record (they are not in missing_bytes)."""
    unknown = set(plan["unknown_size"])
    return [name for name in plan["missing"] if name in unknown]


def _gb(count):
    return "%.1f" % (count / GB)


def _amount(number):
    """A setting as a user wrote it: 20, not 20.0."""
    return "%d" % number if number == int(number) else "%g" % number


def summary(plan):
    """The lines the role prints before it checks anything: what is selected and what is still to download."""
    unknown = missing_of_unknown_size(plan)
    return [
        "workflows: %s" % (", ".join(plan["workflows"]) or "none selected"),
        "files: %d of %d entries selected" % (len(plan["selected"]), plan["entries"]),
        "still to download: %d entries, %s GB of known size%s" % (
            len(plan["missing"]), _gb(plan["missing_bytes"]),
            " + entries of unknown size: %s" % ", ".join(unknown) if unknown else ""),
    ]


def gated_refusal(plan, token_given):
    """Gated repositories need a token of an account that accepted each licence."""
    if not plan["gated"] or token_given:
        return None
    pages = []
    for item in plan["gated"]:
        if item["licence_page"] not in pages:
            pages.append(item["licence_page"])
    return (
        "%d selected model(s) come from gated repositories and no Hugging Face token is set. Accept the licence on"
        " each page with your account, then set model_store_hf_token (or HF_TOKEN on the controller, or in the"
        " environment of the host) to a read token of that account: %s (models: %s). Or leave them out with"
        " model_store_media / model_store_workflows." % (
            len(plan["gated"]), " ".join(pages), ", ".join(item["name"] for item in plan["gated"])))


def space_refusal(plan, measured):
    """The downloads and the margin must fit on the store's filesystem."""
    if measured.free_bytes is None or measured.free_bytes >= plan["missing_bytes"] + measured.margin_bytes:
        return None
    return (
        "Not enough free space for the models: %s GB still to download (%d bytes, plus entries of unknown size: %s)"
        " and %s GB margin (model_store_free_space_margin_gb), but only %s (%d bytes) free on %s. Free space there,"
        " or select fewer models (model_store_media, model_store_workflows)." % (
            _gb(plan["missing_bytes"]), plan["missing_bytes"], ", ".join(missing_of_unknown_size(plan)) or "none",
            _amount(measured.margin_bytes / GB), measured.free_human, measured.free_bytes, measured.mount))


def vram_verdict(plan, measured):
    """(refusal, note): the selected workflows must fit the largest GPU; the note says why it was not checked."""
    if not measured.check_vram:
        return None, "VRAM check skipped: model_store_check_vram is false. The selected workflows need up to %s GB." % (
            plan["vram_gb"])
    if measured.gpu_memory_mib is None:
        return None, (
            "VRAM check skipped: no GPU memory is known on this host (no NVIDIA GPU, a container, or the"
            " nvidia_driver role did not run). The selected workflows need up to %s GB." % plan["vram_gb"])
    vram_gb = measured.gpu_memory_mib / MIB_PER_GB_OF_VRAM
    if vram_gb >= plan["vram_gb"]:
        return None, None
    too_big = [name for name, need in sorted(plan["vram_by_workflow"].items()) if need and need > vram_gb]
    return ("The largest GPU has %.0f GB of memory, but the selected workflows need up to %s GB: %s. Leave them out"
            " (model_store_workflows), or set model_store_check_vram=false to download them anyway." % (
                vram_gb, plan["vram_gb"], ", ".join(too_big))), None


def workflow_notes(plan, comfyui_root):
    """A warning for each selected workflow that loads a file no selected entry provides."""
    return [
        "WARNING: %s loads %s, which no selected model provides in %s: the workflow will fail in ComfyUI. Add the"
        " file to the manifest or model_store_extra_models (with its comfyui_link), or leave the workflow out"
        " (model_store_workflows)." % (name, ", ".join(paths), comfyui_root)
        for name, paths in sorted(plan["missing_by_workflow"].items())]


def verdicts(plan, measured, comfyui_root=None):
    """{refusals: [{check, msg}], notes: [str], summary: [str]} for a plan and what the host measured."""
    vram_refusal, vram_note = vram_verdict(plan, measured)
    refusals = [{"check": check, "msg": msg} for check, msg in (
        ("gated", gated_refusal(plan, measured.token_given)),
        ("space", space_refusal(plan, measured)),
        ("vram", vram_refusal)) if msg]
    notes = workflow_notes(plan, comfyui_root) + ([vram_note] if vram_note else [])
    if measured.free_bytes is None:
        notes.append("Free space not checked: no store_root to measure.")
    return {"refusals": refusals, "notes": notes, "summary": summary(plan)}

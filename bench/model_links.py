"""Benchmark of model_links on 10,000 links: build the layout, then re-check it (a no-op run).

Prints seconds for both and the ratio of the re-check to a plain os.scandir walk of the same link
tree (target: ratio <= 3), and to a walk of the link tree plus the store. The fast re-check trusts the
re-check cache (directory stat values recorded by a full check); the full re-check (verify=full)
reads every link and store folder. After the build the benchmark waits until the directories are
older than the racy window, runs one full check that writes the cache as the module does, then times
both. Run: .venv/bin/python bench/model_links.py [--links N] [--repeat R]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, ".collections"))

from ansible_collections.ai4artsed.devserver.plugins.module_utils import layout, layout_cache  # noqa: E402

FOLDERS = ["checkpoints", "clip", "diffusion_models", "loras", "vae", "unet", "text_encoders", "controlnet",
           "upscale_models", "embeddings"]


def make_store(store, count):
    links = {}
    for number in range(count):
        folder = FOLDERS[number % len(FOLDERS)]
        sub = "family-%02d" % (number % 50)
        target = os.path.join(folder, sub, "model-%05d.safetensors" % number)
        path = os.path.join(store, target)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"w")
        links[os.path.join(folder, "model-%05d.safetensors" % number)] = target
    return links


def scandir_walk(top):
    count, stack = 0, [top]
    while stack:
        with os.scandir(stack.pop()) as listing:
            for entry in listing:
                count += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return count


def best(function, repeat):
    times = []
    for _attempt in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5, help="re-check and walk: best of this many runs")
    options = parser.parse_args()
    top = tempfile.mkdtemp(prefix="ai4artsed-bench-")
    try:
        store = os.path.join(top, "ai", "SwarmUI", "Models")
        link_root = os.path.join(top, "ai", "SwarmUI", "dlbackend", "ComfyUI", "models")
        archive_root = os.path.join(top, "ai", "model-archive")
        os.makedirs(link_root)
        links = make_store(store, options.links)

        started = time.perf_counter()
        plan = layout.plan_links(link_root, store, links, archive_root)
        layout.apply_plan(plan)
        build_seconds = time.perf_counter() - started

        def recheck(verify):
            again = layout.plan_links(link_root, store, links, archive_root, verify=verify)
            assert not again.changed and again.unchanged == len(links) and again.verified == verify
            return again

        time.sleep(layout_cache.RACY_NS / 1e9 + 0.1)  # directories changed by the build are racy until then
        assert layout_cache.write_verification(recheck("full"))
        recheck_seconds, _plan = best(lambda: recheck("fast"), options.repeat)
        full_seconds, _plan = best(lambda: recheck("full"), options.repeat)
        walk_seconds, entries = best(lambda: scandir_walk(link_root), options.repeat)
        both_seconds, both = best(lambda: scandir_walk(link_root) + scandir_walk(store), options.repeat)
        print("model_links benchmark: %d links in %d folders, %d entries under the link root"
              % (len(links), len(FOLDERS), entries))
        print("build (plan + apply):        %.3f s" % build_seconds)
        print("no-op re-check, fast:        %.4f s  (best of %d, re-check cache trusted)"
              % (recheck_seconds, options.repeat))
        print("no-op re-check, full:        %.4f s  (best of %d, verify=full)" % (full_seconds, options.repeat))
        print("plain os.scandir walk:       %.4f s  (best of %d)" % (walk_seconds, options.repeat))
        print("walk of link tree + store:   %.3f s  (best of %d, %d entries)" % (both_seconds, options.repeat, both))
        print("ratio fast re-check / walk of the link tree:     %.2f  (target <= 3)" % (recheck_seconds / walk_seconds))
        print("ratio full re-check / walk of the link tree:     %.2f" % (full_seconds / walk_seconds))
        print("ratio fast re-check / walk of link tree + store: %.2f" % (recheck_seconds / both_seconds))
        print("ratio full re-check / walk of link tree + store: %.2f" % (full_seconds / both_seconds))
    finally:
        shutil.rmtree(top)  # the benchmark's own temporary tree


if __name__ == "__main__":
    main()

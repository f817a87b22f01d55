"""The data-loss guarantee, as a property: whatever the tree looks like before, model_archive,
model_links and a rollback never change the multiset of file contents under store + link root +
archive. After model_links every declared link is relative and resolves into the store, no
directory-level symlink is left under the link root, and no symlink into the store is left where
real_files says a real file belongs (those store files were moved there).

The re-check cache must not make this vacuous: every plan here is a full check (verify="full"), so
the whole planner runs on every example. After the second run the cache is written and a fast
re-check must agree; as every directory here changed within the racy window, it re-reads in full too.

HYPOTHESIS_PROFILE=nightly runs many more examples (see docs/testing.md).
"""

import os
import shutil
import tempfile

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ansible_collections.ai4artsed.devserver.plugins.module_utils import layout, layout_cache, rollback, store_cleanup

from helpers.model_trees import build, contents, snapshot

PROFILES = {"default": 1000, "nightly": 20000}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
EXAMPLES = PROFILES[PROFILE]
# The examples are drawn in SHARDS tests of EXAMPLES / SHARDS each, so pytest-xdist spreads them over the
# cores. The suite (and CI) runs the same examples every time (one fixed seed per shard), so it passes or
# fails for the code, not for the draw; the nightly profile draws fresh examples to find new cases (each one
# found becomes a test below).
SHARDS = 4
FIXED_SEEDS = PROFILE == "default"

CONTENTS = st.sampled_from([b"alpha", b"beta", b"gamma", b"delta", b"x" * 7])  # few values: many duplicates
STORE_FOLDERS = ["vae", "VAE", "vae/QwenImage", "loras", "Lora", "Lora/sub", "clip", "checkpoints"]
LINK_FOLDERS = ["vae", "VAE", "loras", "clip", "checkpoints", "musicgen", "vae/sub"]
NAMES = ["a.st", "b.st", "c.st", "d.st"]
MERGES = [{"src": "VAE", "dest": "vae"}, {"src": "Lora", "dest": "loras"}]

store_files = st.dictionaries(
    st.tuples(st.sampled_from(STORE_FOLDERS), st.sampled_from(NAMES)).map("/".join), CONTENTS, max_size=10)

# What can sit at a path under the link root: a real file, or a file symlink (right, wrong, broken, absolute).
link_entries = st.one_of(
    CONTENTS.map(lambda content: ("file", content)),
    st.tuples(st.just("link"), st.sampled_from(STORE_FOLDERS), st.sampled_from(NAMES + ["gone.st"]),
              st.booleans()),
)
link_side = st.dictionaries(
    st.tuples(st.sampled_from(LINK_FOLDERS), st.sampled_from(NAMES)).map("/".join), link_entries, max_size=8)
# Top-level folders that are directory-level symlinks instead (into the store, to a sibling, or broken).
dir_links = st.dictionaries(
    st.sampled_from(["vae", "VAE", "loras", "clip", "Lora"]),
    st.sampled_from(["store:vae", "store:VAE", "store:loras", "store:Lora", "store:clip", "store:missing",
                     "sibling:checkpoints"]),
    max_size=3)


def make_tree(top, store_spec, link_spec, dir_link_spec):
    store = os.path.join(top, "ai", "SwarmUI", "Models")
    link_root = os.path.join(top, "ai", "SwarmUI", "dlbackend", "ComfyUI", "models")
    archive_root = os.path.join(top, "ai", "model-archive")
    for path in (store, link_root):
        os.makedirs(path)
    build(store, store_spec)
    real = {}
    for rel, entry in link_spec.items():
        if rel.split("/")[0] in dir_link_spec:
            continue  # that folder is a directory symlink
        if entry[0] == "file":
            real[rel] = entry[1]
        else:
            _kind, folder, name, absolute = entry
            target = os.path.join(store, folder, name)
            real[rel] = ("link", target if absolute else os.path.relpath(target, os.path.dirname(
                os.path.join(link_root, rel))))
    for name, where in dir_link_spec.items():
        kind, folder = where.split(":")
        target = os.path.join(store, folder) if kind == "store" else os.path.join(link_root, folder)
        real[name] = ("link", os.path.relpath(target, link_root))
    build(link_root, real)
    return store, link_root, archive_root


def store_files_now(store):
    found = []
    for current, _dirs, files in os.walk(store):
        for name in files:
            path = os.path.join(current, name)
            if not os.path.islink(path) and not name.startswith("."):
                found.append(os.path.relpath(path, store))
    return sorted(found)


def draw_layout(data, store):
    targets = store_files_now(store)
    if not targets:
        return {}
    chosen = data.draw(st.lists(st.sampled_from(targets), unique=True, max_size=6))
    links = {}
    for target in chosen:
        folder = data.draw(st.sampled_from(["vae", "loras", "clip", "checkpoints", "vae/sub"]))
        links[folder + "/" + os.path.basename(target)] = target
    return links


def no_directory_symlinks(link_root):
    for current, dirs, _files in os.walk(link_root):
        for name in dirs:
            if os.path.islink(os.path.join(current, name)):
                return False
    return True


def draw_real_files(data, links):
    """Paths that must hold real files (ComfyUI-only downloads): files or folders, never a declared link."""
    chosen = data.draw(st.lists(st.sampled_from(
        ["clip/a.st", "clip/b.st", "vae/a.st", "loras/c.st", "loras", "vae/sub", "checkpoints/d.st"]), max_size=3))
    return [path for path in chosen
            if not any(link == path or link.startswith(path + "/") for link in links)]


def no_store_link_where_a_real_file_belongs(link_root, store, real_files):
    real_store = os.path.realpath(store)
    for current, dirs, files in os.walk(link_root):
        for name in dirs + files:
            path = os.path.join(current, name)
            rel = os.path.relpath(path, link_root)
            if os.path.islink(path) and any(rel == real or rel.startswith(real + "/") for real in real_files) \
                    and os.path.realpath(path).startswith(real_store + os.sep):
                return False
    return True


def run_links(store, link_root, archive_root, links, on_conflict, real_files=()):
    """model_links as the module runs it; a refusal must leave every tree exactly as it was."""
    before = snapshot(os.path.dirname(archive_root))
    try:
        plan = layout.plan_links(link_root, store, links, archive_root, on_conflict=on_conflict, verify="full",
                                 real_files=real_files)
    except layout.LayoutError:
        assert snapshot(os.path.dirname(archive_root)) == before
        return False
    layout.apply_plan(plan)
    for rel, target in links.items():
        path = os.path.join(link_root, rel)
        assert os.path.islink(path) and not os.path.isabs(os.readlink(path)), rel
        assert os.path.realpath(path) == os.path.realpath(os.path.join(store, target)), rel
    assert no_directory_symlinks(link_root)
    assert no_store_link_where_a_real_file_belongs(link_root, store, real_files)
    again = layout.plan_links(link_root, store, links, archive_root, on_conflict=on_conflict, verify="full",
                              real_files=real_files)
    assert not again.changed, again.changes()
    layout_cache.write_verification(again)
    fast = layout.plan_links(link_root, store, links, archive_root, on_conflict=on_conflict, real_files=real_files)
    assert not fast.changed and fast.unchanged == again.unchanged, fast.changes()
    return True


def no_file_content_is_ever_lost(store_spec, link_spec, dir_link_spec, archive_unlisted, on_conflict, data):
    top = tempfile.mkdtemp(prefix="ai4artsed-property-")
    try:
        store, link_root, archive_root = make_tree(top, store_spec, link_spec, dir_link_spec)
        roots = (store, link_root, archive_root)
        original = contents(*roots)

        listed = data.draw(st.lists(st.sampled_from(store_files_now(store) or ["none"]), unique=True))
        options = {"merges": MERGES, "archive_unlisted": archive_unlisted,
                   "listed": [path.replace("VAE/", "vae/").replace("Lora/", "loras/") for path in listed]}
        store_cleanup.apply_archive_plan(store, archive_root, store_cleanup.plan_model_archive(store, archive_root, **options))
        assert contents(*roots) == original
        again = store_cleanup.plan_model_archive(store, archive_root, **options)
        assert all(entry["action"] in ("conflict", "skip") for entry in again), again

        links = draw_layout(data, store)
        run_links(store, link_root, archive_root, links, on_conflict, draw_real_files(data, links))
        assert contents(*roots) == original
        run_links(store, link_root, archive_root, draw_layout(data, store), "archive")  # a changed declaration
        assert contents(*roots) == original

        restorations = rollback.plan_rollback(archive_root, [store, link_root])
        rollback.apply_rollback(archive_root, restorations)
        assert contents(*roots) == original
        assert not [entry for entry in rollback.plan_rollback(archive_root, [store, link_root])
                    if entry["state"] in ("restore", "refused")]
    finally:
        shutil.rmtree(top)  # the test's own temporary tree


def _shard(number):
    """One shard of the property: EXAMPLES / SHARDS examples, drawn from seed `number` unless nightly."""
    test = settings(max_examples=EXAMPLES // SHARDS, deadline=None, database=None if FIXED_SEEDS else settings().database,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])(
        given(store_spec=store_files, link_spec=link_side, dir_link_spec=dir_links, archive_unlisted=st.booleans(),
              on_conflict=st.sampled_from(["fail", "archive"]), data=st.data())(no_file_content_is_ever_lost))
    return seed(number)(test) if FIXED_SEEDS else test


test_no_file_content_is_ever_lost_shard_0 = _shard(0)
test_no_file_content_is_ever_lost_shard_1 = _shard(1)
test_no_file_content_is_ever_lost_shard_2 = _shard(2)
test_no_file_content_is_ever_lost_shard_3 = _shard(3)


def test_a_real_file_place_exposed_through_a_link_to_a_sibling_folder_gets_the_store_file(tmp_path):
    # Found by the property test: models/vae links to the sibling checkpoints/, whose a.st links into the
    # store. Expanding vae/ must not leave a link where a real file belongs (vae/a.st): the file moves in.
    store, link_root, archive_root = make_tree(str(tmp_path), {"vae/a.st": b"alpha"},
                                               {"checkpoints/a.st": ("link", "vae", "a.st", False)},
                                               {"vae": "sibling:checkpoints"})
    original = contents(store, link_root, archive_root)
    assert run_links(store, link_root, archive_root, {}, "fail", ["vae/a.st"])
    assert not os.path.islink(os.path.join(link_root, "vae", "a.st"))
    assert contents(store, link_root, archive_root) == original


def test_a_real_file_place_exposed_through_a_sibling_whose_copy_becomes_a_store_link_is_refused(tmp_path):
    # Found by the property test (nightly profile): loras/ links to the sibling checkpoints/, whose a.st is
    # an identical copy of a store file the plan replaces by its declared link. The real file loras/a.st
    # would then be a link into the store, and the store file cannot move there without breaking the
    # declared link: the plan refuses and changes nothing.
    store, link_root, archive_root = make_tree(str(tmp_path), {"vae/a.st": b"alpha"},
                                               {"checkpoints/a.st": ("file", b"alpha")},
                                               {"loras": "sibling:checkpoints"})
    original = contents(store, link_root, archive_root)
    before = snapshot(str(tmp_path))
    assert not run_links(store, link_root, archive_root, {"checkpoints/a.st": "vae/a.st"}, "fail", ["loras"])
    assert snapshot(str(tmp_path)) == before
    assert contents(store, link_root, archive_root) == original

"""The vendored sources beside this checkout (``../shared/vendor``, resolved from the repository root): the DevServer
app at its pinned commit and the ai4artsed ComfyUI node pack, as git bundles. Without them the caller skips (with
``SKIP_REASON`` for the app).
"""

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
VENDOR = REPO_ROOT.parent / "shared" / "vendor"
APP_BUNDLE = VENDOR / "ai4artsed_webserver-08a54d7.bundle"
PACK_BUNDLE = VENDOR / "ai4artsed_comfyui_nodes-ddd40dda.bundle"
SKIP_REASON = ("needs the DevServer app's source: %s is absent. Get the shared folder beside this checkout "
               "(../shared/vendor, see its README) or clone https://github.com/joeriben/ai4artsed_webserver at "
               "08a54d7225731603985098fe1ecd134d0e5b8cbc there.")


def app_file(path, workdir, bundle=APP_BUNDLE):
    """The text of ``path`` (relative to the app repository's root) on the bundle's main branch; ``workdir`` is an
    empty folder for a bare repository to fetch the bundle into (nothing is checked out)."""
    repository = Path(workdir) / "app.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repository)], check=True)
    subprocess.run(["git", "-C", str(repository), "fetch", "--quiet", str(bundle), "main"], check=True)
    return subprocess.run(["git", "-C", str(repository), "show", "FETCH_HEAD:" + path], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout


def clone_tree(bundle, dest):
    """A work tree of the bundle's main branch at ``dest`` (a path that does not exist yet); returns ``dest``."""
    subprocess.run(["git", "clone", "--quiet", "--branch", "main", str(bundle), str(dest)], check=True)
    return dest

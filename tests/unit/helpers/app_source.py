"""The DevServer app's source at its pinned commit, read from the vendored git bundle beside this checkout.

``../shared/vendor/ai4artsed_webserver-08a54d7.bundle``, resolved from the repository root as the other tests that
read the app do. Without it the caller skips with ``SKIP_REASON``.
"""

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
APP_BUNDLE = REPO_ROOT.parent / "shared" / "vendor" / "ai4artsed_webserver-08a54d7.bundle"
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

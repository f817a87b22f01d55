"""Stand-in for the get-pip.py that ansible-test downloads from a host our machines cannot reach.

ansible-test looks for it in ~/.ansible/test/cache/get_pip_<version>.py before downloading;
scripts/lib/sanity.sh copies this file there. It bootstraps pip from the interpreter's bundled
wheel, then installs what ansible-test asked for from the package index this machine reaches.
"""

import ensurepip
import os
import runpy
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null; the machine's pip config holds its CA bundle.
os.environ.pop("PIP_CONFIG_FILE", None)
arguments = [argument for argument in sys.argv[1:] if argument not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install"] + arguments
runpy.run_module("pip", run_name="__main__", alter_sys=True)

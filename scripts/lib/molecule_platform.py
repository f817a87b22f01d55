"""The `docker run` arguments of the container Molecule's scenarios run in, for scripts/demo.

The one definition of that container is the platform in .config/molecule/config.yml; the demo starts
the same container from it instead of restating the flags. Prints the arguments one per line:
    python3 scripts/lib/molecule_platform.py NAME
"""

import sys
from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[2] / ".config" / "molecule" / "config.yml"
# Keys that only Molecule uses (its inventory and its image handling).
MOLECULE_ONLY = {"name", "groups", "pre_build_image"}
FLAGS = {"hostname": "--hostname", "network_mode": "--network", "cgroupns_mode": "--cgroupns"}
REPEATED_FLAGS = {"capabilities": "--cap-add", "security_opts": "--security-opt", "tmpfs": "--tmpfs",
                  "volumes": "--volume"}


def docker_run_args(platform, name):
    """`docker run` arguments (after `run`) that start `platform` as a detached container called `name`."""
    unknown = sorted(set(platform) - MOLECULE_ONLY - set(FLAGS) - set(REPEATED_FLAGS) - {"image", "command"})
    if unknown:
        raise ValueError("the demo cannot start the Molecule platform: %s in %s has no docker run flag here; "
                         "add it to scripts/lib/molecule_platform.py" % (", ".join(unknown), CONFIG))
    arguments = ["--detach", "--name", name, "--hostname", name]
    for key, flag in FLAGS.items():
        if key in platform and key != "hostname":  # the demo container is named after itself
            arguments += [flag, str(platform[key])]
    for key, flag in REPEATED_FLAGS.items():
        for value in platform.get(key, []):
            arguments += [flag, str(value)]
    arguments.append(platform["image"])
    arguments += str(platform.get("command", "")).split()
    return arguments


def main():
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    try:
        print("\n".join(docker_run_args(config["platforms"][0], sys.argv[1])))
    except ValueError as error:
        sys.exit("ERROR: %s" % error)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks hf_model runs before the first byte of a download, so a 35 GB transfer never ends in
an error that was knowable at the start (an unknown owner, an archive on another disk, a state
folder that cannot be written, a token the HTTP client would reject).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import tempfile

from ansible_collections.ai4artsed.devserver.plugins.module_utils.disk import existing_ancestor
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError

TOKEN_SOURCE = "the `token` option (or HF_TOKEN on the host)"


def check_token(token):
    """Refuse a token an HTTP header cannot carry; the message never contains the token."""
    if not token:
        return
    problems = []
    if any(character in "\r\n" for character in token):
        problems.append("a line break")
    if any(character in " \t\v\f" for character in token):
        problems.append("whitespace")
    if any(not (0x21 <= ord(character) <= 0x7E) and character not in "\r\n \t\v\f" for character in token):
        problems.append("a character that is not visible ASCII")
    if problems:
        raise HfModelError(
            "invalid_token",
            "The Hugging Face token from %s contains %s (the token is not shown). A token is one word of "
            "visible ASCII, such as hf_...; a trailing newline usually comes from reading it from a file: strip "
            "it (for example with | trim) and run again." % (TOKEN_SOURCE, " and ".join(problems)),
        )


def check_owner_group(owner, group):
    """Unknown names fail now, not with a chown after the download."""
    for kind, name, lookup in (("owner", owner, pwd.getpwnam), ("group", group, grp.getgrnam)):
        if name is None or str(name).isdigit():
            continue
        try:
            lookup(name)
        except KeyError:
            raise HfModelError(
                "invalid",
                "%s %r does not exist on this host, so the downloaded files could not be given to it. Create "
                "the %s first (or fix `%s`), then run again; nothing was downloaded." % (kind, name, kind, kind),
            )


def check_archive_filesystem(root, archive_root):
    """Files are moved to the archive, never copied: it must be on root's filesystem."""
    if not archive_root:
        return
    root_device = os.stat(existing_ancestor(root)).st_dev
    archive_existing = existing_ancestor(archive_root)
    if os.stat(archive_existing).st_dev != root_device:
        raise HfModelError(
            "invalid",
            "archive_root %s is on another filesystem than root %s (%s is on a different device), and files are "
            "only moved into the archive, never copied and deleted. Put archive_root on the filesystem of the "
            "store, then run again; nothing was downloaded." % (archive_root, root, archive_existing),
        )


def check_state_dir_writable(state_dir, make_dirs):
    """Create the state folder and write (then remove) a probe the size of a record."""
    try:
        make_dirs(state_dir)
        descriptor, probe = tempfile.mkstemp(prefix=".probe-", dir=state_dir)
        try:
            os.write(descriptor, b" " * 4096)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
            os.unlink(probe)
    except OSError as error:
        raise HfModelError(
            "state_dir",
            "The state folder %s cannot be written (%s), so no record of a download could be kept. Make it "
            "writable for the user that runs hf_model, free space on its filesystem, or set state_dir to a "
            "writable folder, then run again; nothing was downloaded." % (state_dir, error.strerror or error),
        )

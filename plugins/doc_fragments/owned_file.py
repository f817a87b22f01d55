# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The file options and guarantees of the modules that write one file they are given (module_utils/safe_file)."""

    DOCUMENTATION = r"""
options:
  owner:
    description:
      - User that owns the file, by name or uid. Not given, a new file belongs to the account running the module and
        an existing one keeps its owner.
      - A user that does not exist fails the task and changes nothing.
    type: str
  group:
    description:
      - Group of the file, by name or gid. Not given, a new file gets the account's group and an existing one keeps
        its group.
    type: str
  mode:
    description:
      - The file's permission bits as quoted text of three or four octal digits, for example V('0640').
      - A YAML number is refused (YAML reads C(640) as six hundred and forty and C(0640) as 416), and so are setuid,
        setgid and sticky bits (above V('0777')).
      - Not given, a new file gets 0666 less the umask and an existing one keeps its mode.
    type: raw
notes:
  - The file is never read or written through a symlink, and only a regular file is read or replaced there. A
    symlink, FIFO, socket, device or folder at the path fails the task at once, naming the path and what is there;
    nothing of a symlink's target is read, shown or changed. The file's folder may be a symlink only when root (or
    the account running the module) placed it in a folder no other account can write.
  - The file is replaced atomically (a temporary file beside it, synced and renamed over it; removed on any error),
    and it has its owner, group and mode before it appears under its name; owner and mode of an existing file are set
    through an open descriptor, never by path.
"""

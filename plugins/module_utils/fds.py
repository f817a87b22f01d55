# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Frenetic Data Syntax (FDS), the format of SwarmUI's Data/*.fds files: read, change by path, write back.

The rules follow FreneticUtilities' FDSParser/FDSUtility/FDSSection (what SwarmUI runs):
- The text is cleaned first: CRLF and CR become LF, a tab becomes 4 spaces. Indentation counts spaces.
- `key: value` (`key= base64` for binary); `key:` with nothing after it opens a section (any deeper
  indentation below it) or a list (`- item`, `= base64` lines at the key's own indentation), else it is an
  empty section, which SwarmUI reads as an empty string or an empty list.
- `#` lines are comments of the entry that follows; those after the last entry are the root's post comments.
- Values are escaped (backslash `\\s`, tab `\\t`, newline `\\n`, CR `\\r`, `\\x` for nothing); keys also
  escape `.` `:` `=` as `\\d` `\\c` `\\e`. FDS does NOT unescape list items, so they are read and written raw.
- The writer uses SwarmUI's layout: one tab per level, lists at their key's level.
The tree keeps comments and order, so parse(dump(tree)) == tree. Values stay text as read; fds_settings
compares them as SwarmUI reads them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
from collections import OrderedDict

LIST_SYMBOLS = "-=>"


class FDSError(ValueError):
    """A line FDS cannot read; names the line (1-based) as SwarmUI's parser does."""

    def __init__(self, line_number, line, reason):
        self.line_number, self.line, self.reason = line_number, line, reason
        super(FDSError, self).__init__("line %d: %s: %s" % (line_number, reason, line.strip()))


class Entry(object):
    """One value and the comment lines above it. value: str, bytes (binary), list of Entry, or Section."""

    def __init__(self, value, comments=None):
        self.value, self.comments = value, list(comments or [])

    def __eq__(self, other):
        return isinstance(other, Entry) and (self.value, self.comments) == (other.value, other.comments)

    def __repr__(self):
        return "Entry(%r, %r)" % (self.value, self.comments)


class Section(object):
    """Ordered keys to Entry; post_comments are only kept on the root (FDS reads none elsewhere)."""

    def __init__(self, entries=None, post_comments=None):
        self.entries = OrderedDict(entries or [])
        self.post_comments = list(post_comments or [])

    def __eq__(self, other):
        return (isinstance(other, Section) and list(self.entries.items()) == list(other.entries.items())
                and self.post_comments == other.post_comments)

    def __repr__(self):
        return "Section(%r, %r)" % (list(self.entries.items()), self.post_comments)


# Escapes, replaced in FDSUtility's order.

def escape(text):
    if text == "":
        return "\\x"
    text = text.replace("\\", "\\s").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if text.endswith(" "):
        text += "\\x"
    if text.startswith(" "):
        text = "\\x" + text
    return text


def unescape(text):
    for code, char in (("\\t", "\t"), ("\\n", "\n"), ("\\r", "\r"), ("\\x", ""), ("\\s", "\\")):
        text = text.replace(code, char)
    return text


def escape_key(key):
    if key.startswith("#"):
        raise ValueError("FDS cannot write a key that starts with '#' (it reads as a comment): %r" % key)
    key = escape(key)
    if key[0] in "->":
        key = "\\x" + key
    return key.replace(".", "\\d").replace(":", "\\c").replace("=", "\\e")


def unescape_key(key):
    return unescape(key.replace("\\d", ".").replace("\\c", ":").replace("\\e", "="))


# Reading

def _decode_binary(text, number, line):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise FDSError(number + 1, line, "binary data (after '=') is not valid base64")


def _content(lines, start):
    """(index, indentation) of the first line at or after start that is neither blank nor a comment."""
    for index in range(start, len(lines)):
        stripped = lines[index].lstrip(" ")
        if stripped.strip(" ") and not stripped.startswith("#"):
            return index, len(lines[index]) - len(stripped)
    return len(lines), -1


def _walk(lines, start, spacing):
    """Yield (index, resume, comments, text) per line at this level; stop at a shallower one.

    resume is where the comments above the line begin: a caller that leaves this level there hands them to the
    level above, as FDS does. The caller sends back the index to go on from; the return value is the resume.
    """
    comments, index = [], start
    while index < len(lines):
        stripped = lines[index].lstrip(" ")
        text = stripped.rstrip(" ")
        spaces = len(lines[index]) - len(stripped)
        if not text:
            index += 1
        elif text.startswith("#"):
            comments.append((index, text[1:]))
            index += 1
        elif spaces < spacing:
            break
        elif spaces > spacing:
            raise FDSError(index + 1, lines[index], "the indentation grew without a 'key:' line above it "
                           "(expected %d spaces, a tab counts 4)" % spacing)
        else:
            resume = comments[0][0] if comments else index
            index = yield index, resume, [pair[1] for pair in comments], text
            comments = []
    return comments[0][0] if comments else index


def _parse_section(lines, start, spacing, section):
    walker = _walk(lines, start, spacing)
    try:
        index, _resume, comments, text = next(walker)
        while True:
            line = lines[index]
            if text[0] in LIST_SYMBOLS:
                raise FDSError(index + 1, line, "a list item without a 'key:' line above it")
            separator = min([at for at in (text.find(":"), text.find("=")) if at >= 0] or [-1])
            if separator == -1:
                raise FDSError(index + 1, line, "no 'key: value' here (missing ':')")
            if separator == 0:
                raise FDSError(index + 1, line, "an empty key (FDS writes an empty key as '\\x')")
            key, rest = unescape_key(text[:separator]), text[separator + 1:].lstrip(" ")
            if rest:
                value = _decode_binary(rest, index, line) if text[separator] == "=" else unescape(rest)
                after = index + 1
            elif text[separator] == "=":
                raise FDSError(index + 1, line, "'key=' needs its binary data on the same line")
            else:
                value, after = _parse_nested(lines, index + 1, spacing)
            section.entries[key] = Entry(value, comments)
            index, _resume, comments, text = walker.send(after)
    except StopIteration as end:
        return end.value


def _parse_nested(lines, start, spacing):
    """What follows 'key:': a deeper section, a list at the key's level, or an empty section."""
    first, indentation = _content(lines, start)
    if indentation > spacing:
        section = Section()
        return section, _parse_section(lines, start, indentation, section)
    if indentation == spacing and lines[first].lstrip(" ")[0] in LIST_SYMBOLS:
        return _parse_list(lines, start, spacing)
    return Section(), start


def _parse_list(lines, start, spacing):
    items, walker = [], _walk(lines, start, spacing)
    try:
        index, resume, comments, text = next(walker)
        while text[0] in LIST_SYMBOLS:
            if text[0] == ">":
                raise FDSError(index + 1, lines[index], "complex list items ('>') are not supported here; "
                               "only '- text' and '= base64' items")
            rest = text[1:].lstrip()
            value = _decode_binary(rest, index, lines[index]) if text[0] == "=" else rest
            items.append(Entry(value, comments))
            index, resume, comments, text = walker.send(index + 1)
        return items, resume  # a key at the list's level: the section above goes on from it (and its comments)
    except StopIteration as end:
        return items, end.value


def parse(text):
    """The root Section of an FDS text; FDSError names the line that cannot be read."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ").split("\n")
    root = Section()
    end = _parse_section(lines, 0, 0, root)
    root.post_comments = [line.strip(" ")[1:] for line in lines[end:] if line.strip(" ")]
    return root


# Writing

def _list_item(item):
    if isinstance(item.value, bytes):
        return "= " + base64.b64encode(item.value).decode("ascii")
    text = item.value
    if text != text.strip() or set("\t\n\r") & set(text):
        raise ValueError("FDS reads list items without unescaping, so %r cannot be a list item "
                         "(spaces at an end, tab or newline)" % text)
    return ("- " + text).rstrip(" ")


def _dump_lines(section, depth):
    tabs, lines = "\t" * depth, []
    for key, entry in section.entries.items():
        lines += [tabs + "#" + comment for comment in entry.comments]
        head, value = tabs + escape_key(key), entry.value
        if isinstance(value, Section):
            lines += [head + ":"] + _dump_lines(value, depth + 1)
        elif isinstance(value, list):
            lines.append(head + ":")
            for item in value:
                lines += [tabs + "#" + comment for comment in item.comments] + [tabs + _list_item(item)]
        elif isinstance(value, bytes):
            lines.append(head + "= " + base64.b64encode(value).decode("ascii"))
        else:
            lines.append(head + ": " + escape(value))
    return lines


def dump(root):
    """The FDS text of a tree, laid out as SwarmUI writes it."""
    return "".join(line + "\n" for line in _dump_lines(root, 0) + ["#" + c for c in root.post_comments])


# Values by path

def split_path(path):
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


def get(root, path):
    """The Entry at a dotted path (or tuple of keys), or None."""
    *parents, last = split_path(path)
    section = root
    for key in parents:
        entry = section.entries.get(key)
        if entry is None or not isinstance(entry.value, Section):
            return None
        section = entry.value
    return section.entries.get(last)


def set_value(root, path, value):
    """Set the value at a path, keeping its comments; missing sections are made, a scalar in the way replaced."""
    *parents, last = split_path(path)
    section = root
    for key in parents:
        entry = section.entries.setdefault(key, Entry(Section()))
        if not isinstance(entry.value, Section):
            entry.value = Section()
        section = entry.value
    if last in section.entries:
        section.entries[last].value = value
    else:
        section.entries[last] = Entry(value)

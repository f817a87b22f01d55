# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ollama model names, parsed and normalised the way Ollama does (``types/model/name.go``).

A name is ``[host/][namespace/]model[:tag]``; the missing parts are ``registry.ollama.ai``,
``library`` and ``latest``. Ollama compares names case-insensitively, so ``gpt-OSS:20b`` (how the
DevServer app spells it) and ``gpt-oss:20b`` are one model. We lower-case every part: the library's
names are lower case, and Ollama finds a model pulled under any spelling by its lower-case name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import re

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# Per part: (pattern, longest), as Ollama's isValidPart checks them: the first character a letter, digit or '_'.
_PART_RULES = collections.OrderedDict([
    ("host", (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$"), 350, "letters, digits, '_', '-', '.' and ':'")),
    ("namespace", (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$"), 80, "letters, digits, '_' and '-'")),
    ("model", (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), 80, "letters, digits, '_', '-' and '.'")),
    ("tag", (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), 80, "letters, digits, '_', '-' and '.'")),
])

ModelName = collections.namedtuple("ModelName", "host namespace model tag")


class InvalidModelName(ValueError):
    """A name Ollama would refuse; the message names the part and what it may contain."""


def _split_last(text, separator):
    """(before, after) at the last separator, or (text, None) when there is none."""
    before, found, after = text.rpartition(separator)
    return (before, after) if found else (text, None)


def parse_name(text):
    """The ModelName of ``text``, lower-cased, with Ollama's defaults filled in; InvalidModelName if Ollama refuses it.

    >>> parse_name("gpt-OSS:20b")
    ModelName(host='registry.ollama.ai', namespace='library', model='gpt-oss', tag='20b')
    """
    if any(ord(char) < 32 or ord(char) == 127 for char in text or ""):
        # Checked before strip(): a name from a file or template may end in a line break that would be sent along.
        raise InvalidModelName("The Ollama model name %r contains a control character (a line break, tab or NUL, "
                               "perhaps from a file or a template). Write it on one line, for example gpt-oss:20b."
                               % text)
    rest = (text or "").strip()
    parts = {"host": None, "namespace": None, "tag": None}
    # '/' cannot be in a tag, so only a ':' after the last '/' starts one (a host may carry a port).
    if rest.rfind(":") > rest.rfind("/"):
        rest, parts["tag"] = _split_last(rest, ":")
    rest, model = _split_last(rest, "/")
    if model is None:
        model, rest = rest, None
    elif "/" in rest:
        parts["host"], parts["namespace"] = _split_last(rest, "/")
        parts["host"] = parts["host"].partition("://")[2] or parts["host"]  # https://host/ns/model names the host
    else:
        parts["namespace"] = rest
    parts["model"] = model
    defaults = {"host": DEFAULT_HOST, "namespace": DEFAULT_NAMESPACE, "tag": DEFAULT_TAG}
    for kind in ("host", "namespace", "tag"):
        if parts[kind] is None:
            parts[kind] = defaults[kind]
    for kind, (pattern, longest, allowed) in _PART_RULES.items():
        _check_part(text, kind, parts[kind], pattern, longest, allowed)
    return ModelName(**dict((kind, parts[kind].lower()) for kind in _PART_RULES))


def _check_part(text, kind, value, pattern, longest, allowed):
    if not value:
        raise InvalidModelName("The Ollama model name %r has an empty %s. Write it as [host/][namespace/]model[:tag], "
                               "for example gpt-oss:20b." % (text, kind))
    if len(value) > longest or not pattern.match(value):
        raise InvalidModelName("The Ollama model name %r has an invalid %s %r: at most %d characters, %s, starting with "
                               "a letter, digit or '_'. Check the name on https://ollama.com/library."
                               % (text, kind, value, longest, allowed))


def short_name(name):
    """The name as Ollama lists it (``DisplayShortest``): host and namespace only where not the defaults, tag always.

    >>> short_name(parse_name("llama3.2-vision"))
    'llama3.2-vision:latest'
    """
    if name.host != DEFAULT_HOST:
        prefix = "%s/%s/" % (name.host, name.namespace)
    elif name.namespace != DEFAULT_NAMESPACE:
        prefix = name.namespace + "/"
    else:
        prefix = ""
    return "%s%s:%s" % (prefix, name.model, name.tag)


def qualified_name(name):
    """host/namespace/model:tag, the path of the model's manifest below OLLAMA_MODELS/manifests (with ':' as '/')."""
    return "%s/%s/%s:%s" % name


def normalise(text):
    """The short, lower-case name of ``text`` (``gpt-OSS:20b`` -> ``gpt-oss:20b``); InvalidModelName if invalid."""
    return short_name(parse_name(text))

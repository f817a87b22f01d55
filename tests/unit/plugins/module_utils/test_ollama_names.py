"""Ollama model names: parsed, validated and shortened as Ollama does (types/model/name.go)."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.ollama_names import (
    InvalidModelName,
    ModelName,
    normalise,
    parse_name,
    qualified_name,
)

NAMES = [
    # (as written, as Ollama lists it, fully qualified)
    ("gpt-oss:20b", "gpt-oss:20b", "registry.ollama.ai/library/gpt-oss:20b"),
    ("gpt-OSS:20b", "gpt-oss:20b", "registry.ollama.ai/library/gpt-oss:20b"),
    ("llama3.2-vision", "llama3.2-vision:latest", "registry.ollama.ai/library/llama3.2-vision:latest"),
    ("llama3.2-vision:latest", "llama3.2-vision:latest", "registry.ollama.ai/library/llama3.2-vision:latest"),
    ("library/Mistral", "mistral:latest", "registry.ollama.ai/library/mistral:latest"),
    ("Registry.Ollama.AI/library/mistral:7B", "mistral:7b", "registry.ollama.ai/library/mistral:7b"),
    ("jmorgan/tiny_model:q4", "jmorgan/tiny_model:q4", "registry.ollama.ai/jmorgan/tiny_model:q4"),
    ("localhost:5000/team/m:v1", "localhost:5000/team/m:v1", "localhost:5000/team/m:v1"),
    ("https://example.com/team/m", "example.com/team/m:latest", "example.com/team/m:latest"),
    ("  qwen2.5:7b  ", "qwen2.5:7b", "registry.ollama.ai/library/qwen2.5:7b"),
]


@pytest.mark.parametrize("written, short, qualified", NAMES)
def test_names_are_normalised_as_ollama_lists_them(written, short, qualified):
    assert normalise(written) == short
    assert qualified_name(parse_name(written)) == qualified


def test_spellings_of_one_model_parse_equal():
    assert parse_name("gpt-OSS:20b") == parse_name("registry.ollama.ai/library/gpt-oss:20b")
    assert parse_name("gpt-OSS:20b") == ModelName("registry.ollama.ai", "library", "gpt-oss", "20b")
    assert parse_name("gpt-oss:20b") != parse_name("gpt-oss:120b")


INVALID = [
    ("", "empty model"),
    ("gpt-oss:", "empty tag"),
    ("/gpt-oss", "empty namespace"),
    ("gpt oss", "invalid model 'gpt oss'"),
    ("-gpt", "invalid model '-gpt'"),
    ("my.team/gpt", "invalid namespace 'my.team'"),
    ("a/b/c/d", "invalid host 'a/b'"),
    ("gpt:" + "x" * 81, "invalid tag"),
    ("m" * 81, "invalid model"),
]


@pytest.mark.parametrize("written, complaint", INVALID)
def test_names_ollama_refuses_fail_naming_the_part(written, complaint):
    with pytest.raises(InvalidModelName) as error:
        parse_name(written)
    assert complaint in str(error.value)
    assert "ollama.com/library" in str(error.value) or "model[:tag]" in str(error.value)

"""hf_hub: each error of the huggingface_hub library becomes a message that says what to do, without the token."""

import pytest

from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_errors import HfModelError
from ansible_collections.ai4artsed.devserver.plugins.module_utils.hf_hub import HubClient, hub_library

ENDPOINT = "https://hub.example"
TOKEN = "hf_SECRETtoken0123456789abcdef"
REQUEST = {"repo_id": "org/model", "repo_type": "model", "revision": "v1", "filename": "unet/model.safetensors"}


def library_error(name, status=None, text="the library's text"):
    library = hub_library()
    if name in ("ConnectError", "ReadTimeout"):
        return getattr(library.httpx, name)(text)
    if name == "EntryNotFoundError":
        return library.errors.EntryNotFoundError(text)
    request = library.httpx.Request("HEAD", ENDPOINT + "/org/model/resolve/v1/unet/model.safetensors")
    return getattr(library.errors, name)(text, response=library.httpx.Response(status, request=request))


# error, token, repo_type, the kind, what the message must say, what it must not say
CASES = [
    ("GatedRepoError", 401, None, "model", "gated_no_token",
     ["org/model is a gated repository and no token was given", "accept the licence on https://hub.example/org/model",
      "https://hub.example/settings/tokens", "set HF_TOKEN on the host"], []),
    ("GatedRepoError", 403, TOKEN, "model", "gated_not_accepted",
     ["has not been granted access (HTTP 403)", "Accept the licence on https://hub.example/org/model"], [TOKEN]),
    ("RevisionNotFoundError", 404, None, "model", "revision_not_found",
     ["Revision 'v1' does not exist in org/model", "https://hub.example/org/model/commits"], []),
    ("RemoteEntryNotFoundError", 404, None, "model", "file_not_found",
     ["File 'unet/model.safetensors' does not exist in org/model at revision 'v1'",
      "https://hub.example/org/model/tree/v1"], []),
    ("EntryNotFoundError", None, None, "model", "file_not_found", ["does not exist in org/model"], []),
    ("RepositoryNotFoundError", 404, None, "dataset", "repo_not_found",
     ["Repository org/model (dataset) was not found at https://hub.example", "If it is private, pass a token"], []),
    ("RepositoryNotFoundError", 401, TOKEN, "model", "repo_not_found",
     ["Repository org/model (model) was not found"], ["If it is private", TOKEN]),
    ("HfHubHTTPError", 502, TOKEN, "model", "network",
     ["Could not reach https://hub.example for org/model/unet/model.safetensors", "Check the host's network"], [TOKEN]),
    ("ConnectError", None, TOKEN, "model", "network",
     ["Could not reach https://hub.example", "<token>"], [TOKEN]),
]


@pytest.mark.parametrize("name, status, token, repo_type, kind, says, hides", CASES,
                         ids=["%s %s %s" % (case[0], case[1], "token" if case[2] else "anonymous") for case in CASES])
def test_library_errors_become_messages_that_say_what_to_do(name, status, token, repo_type, kind, says, hides):
    client = HubClient(ENDPOINT + "/", token, 5)
    text = "connecting with Authorization: Bearer %s failed" % TOKEN if name == "ConnectError" else "the library's text"
    error = client.translate(library_error(name, status, text), dict(REQUEST, repo_type=repo_type))
    assert isinstance(error, HfModelError) and error.kind == kind
    for part in says:
        assert part in str(error), str(error)
    for part in hides:
        assert part not in str(error), str(error)


def test_a_gated_repository_names_its_licence_page_with_the_repo_type():
    error = HubClient(ENDPOINT, None, 5).translate(library_error("GatedRepoError", 401),
                                                   dict(REQUEST, repo_type="dataset"))
    assert error.details == {"licence_page": "https://hub.example/datasets/org/model"}


@pytest.mark.parametrize("raised, kind", [
    (ValueError("Expecting value: line 1 column 1"), "not_hub"),  # an HTML page where JSON should be
    (lambda: library_error("RevisionNotFoundError", 404), "revision_not_found"),
    (lambda: library_error("ReadTimeout"), "network"),
], ids=["not the hub's API", "a library error", "an httpx error"])
def test_a_request_that_fails_raises_the_translated_error(raised, kind):
    error = raised() if callable(raised) else raised

    def request():
        raise error

    with pytest.raises(HfModelError) as failure:
        HubClient(ENDPOINT, None, 5)._call(request, REQUEST)
    assert failure.value.kind == kind


def test_a_bug_is_not_disguised_as_a_hub_error():
    def request():
        raise KeyError("commit")

    with pytest.raises(KeyError):
        HubClient(ENDPOINT, None, 5)._call(request, REQUEST)

# Copyright: (c) 2026, AI4ArtsEd DevServer team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hub double answers the hub APIs a mirror (olah) asks, as the official client (huggingface_hub) reads them:
the repository's info (public for a gated repository too, as on the hub) and paths-info; and it counts the body
bytes it sends per file, which the fleet scenario's "each byte once" rests on."""

import hashlib

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from hf_hub_double import HubDouble, safetensors_bytes

BIG = bytes(range(256)) * 50000  # 12.8 MB: an LFS file, served through the CDN


@pytest.fixture
def hub(tmp_path):
    with HubDouble(tmp_path / "hub") as double:
        double.add_repo("org/public", {"model.safetensors": safetensors_bytes(1), "big.bin": BIG,
                                       "config.json": b'{"a": 1}'})
        double.add_repo("org/gated", {"model.safetensors": safetensors_bytes(2)}, gated=True)
        yield double


def test_paths_info_lists_the_asked_paths_with_their_lfs_digests(hub):
    api = HfApi(endpoint=hub.url, token=False)
    infos = {info.path: info for info in api.get_paths_info("org/public", ["big.bin", "config.json", "absent.txt"])}
    assert sorted(infos) == ["big.bin", "config.json"]
    assert infos["big.bin"].size == len(BIG)
    assert infos["big.bin"].lfs.sha256 == hashlib.sha256(BIG).hexdigest()
    assert infos["config.json"].lfs is None


def test_a_gated_repositorys_info_is_public_but_its_files_are_not(hub):
    api = HfApi(endpoint=hub.url, token=False)
    info = api.model_info("org/gated")
    assert info.gated == "manual"
    assert [sibling.rfilename for sibling in info.siblings] == ["model.safetensors"]
    assert api.model_info("org/public").gated is False
    with pytest.raises(GatedRepoError):
        hf_hub_download("org/gated", "model.safetensors", endpoint=hub.url, token=False,
                        local_dir=str(hub.root / "client"))


def test_body_bytes_are_counted_per_file(hub, tmp_path):
    for attempt in range(2):
        hf_hub_download("org/public", "big.bin", endpoint=hub.url, token=False, local_dir=str(tmp_path / str(attempt)))
    files = hub.stats.as_dict()["files"]
    assert files == {"model/org/public/big.bin": 2 * len(BIG)}
    assert hub.stats.as_dict()["body_bytes"] == 2 * len(BIG)

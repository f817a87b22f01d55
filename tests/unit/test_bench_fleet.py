"""bench/fleet.py in a smoke mode: tiny files, direct passes only (olah is not built here), and its sha256 check.

Not a timed test: it checks the figures the benchmark prints are counted, not how fast anything is.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
FLEET = REPO_ROOT / "bench" / "fleet.py"


def load_fleet():
    spec = importlib.util.spec_from_file_location("bench_fleet", FLEET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(output):
    """{(N, mode): {column: value}} from the Markdown table the benchmark prints last."""
    lines = [line for line in output.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        if cells["N"].isdigit():
            rows[(int(cells["N"]), cells["mode"])] = cells
    return rows


def test_direct_workstations_each_get_every_file_and_each_delivered_byte_went_upstream(tmp_path):
    done = subprocess.run([sys.executable, str(FLEET), "--direct-only", "--workstations", "1,2", "--file-mb", "1,0.5",
                           "--scratch", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    model_bytes = 2**20 + 2**19
    for count in (1, 2):
        row = rows[(count, "direct")]
        assert int(row["delivered bytes"]) == count * model_bytes
        assert int(row["upstream bytes"]) == count * model_bytes
        assert row["upstream / delivered"] == "1.000"
    assert "PROBLEM" not in done.stdout
    assert list(tmp_path.iterdir()) == [], "the benchmark leaves its scratch folder behind"


def test_a_wrong_or_missing_file_is_a_problem_and_upstream_bytes_are_the_pass_delta():
    fleet = load_fleet()
    repo = SimpleNamespace(files={"a.safetensors": SimpleNamespace(sha256="a" * 64, key="model/r/a.safetensors", size=10),
                                  "b.safetensors": SimpleNamespace(sha256="b" * 64, key="model/r/b.safetensors", size=5)})
    good = {"started": 100.0, "finished": 102.5, "bytes": 15, "failed": [],
            "sha256": {"a.safetensors": "a" * 64, "b.safetensors": "b" * 64}}
    bad = dict(good, sha256={"a.safetensors": "c" * 64})
    before = {"requests": 4, "files": {"model/r/a.safetensors": 10, "model/r/b.safetensors": 5}}
    after = {"requests": 10, "files": {"model/r/a.safetensors": 20, "model/r/b.safetensors": 10}}
    result = fleet.figures(repo, [good, bad, None], before, after, go=100.0)
    assert result["upstream_per_file"] == {"a.safetensors": 10, "b.safetensors": 5}
    assert result["delivered"] == 30 and result["wall"] == 2.5 and result["upstream_requests"] == 6
    problems = "\n".join(result["problems"])
    assert "workstation 1: a.safetensors has sha256 " + "c" * 64 in problems
    assert "workstation 1: b.safetensors has sha256 None" in problems
    assert "workstation 2 failed" in problems
    assert "workstation 0" not in problems
    assert "each byte went upstream once" in fleet.once_line(3, repo, result)

"""playbooks/drift.yml with the drift_report callback, run for real by ansible-playbook on this machine.

The site is a stand-in (a settings file, two links, and optionally a failing task) in a temporary
folder next to a copy of drift.yml, so the test needs no container: what is checked is the real
drift.yml and the real callback, as an operator would run them.
"""

import grp
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

SITE = """---
- name: Stand-in site
  hosts: devservers
  gather_facts: false
  tasks:
    - name: Config | Write the app's settings file
      ansible.builtin.copy:
        content: "wanted\\n"
        dest: "{{ target_dir }}/app.conf"
        mode: "0644"
    - name: Config | Link the models
      ansible.builtin.file:
        src: "{{ target_dir }}/app.conf"
        dest: "{{ target_dir }}/{{ item }}"
        state: link
      loop: [first.link, second.link]
    - name: Config | A check that fails when asked to
      ansible.builtin.fail:
        msg: the service does not answer on port 7821
      when: fail_the_check | default(false) | bool
"""


@pytest.fixture
def site(tmp_path):
    """(folder, run): drift.yml beside the stand-in site.yml; run(*args, env) runs ansible-playbook."""
    (tmp_path / "playbooks").mkdir()
    shutil.copy(REPO_ROOT / "playbooks" / "drift.yml", tmp_path / "playbooks" / "drift.yml")
    (tmp_path / "playbooks" / "site.yml").write_text(SITE)
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    devservers:\n      hosts:\n        workstation:\n"
        "          ansible_connection: local\n          ansible_python_interpreter: %s\n"
        "          target_dir: %s\n" % (sys.executable, target))
    report = tmp_path / "report.txt"

    def run(*args, callback=True, playbook="drift.yml", env=None):
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"),
                   ANSIBLE_NOCOLOR="1", AI4ARTSED_DRIFT_REPORT=str(report), **(env or {}))
        if not callback:  # a configuration of its own, without the repository's callbacks_enabled
            (tmp_path / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
            env["ANSIBLE_CONFIG"] = str(tmp_path / "ansible.cfg")
        command = [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"),
                   str(tmp_path / "playbooks" / playbook)] + list(args)
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    return target, report, run


def converge(target):
    (target / "app.conf").write_text("wanted\n")
    os.chmod(target / "app.conf", 0o644)
    for name in ("first.link", "second.link"):
        os.symlink(target / "app.conf", target / name)


def test_drift_names_each_drifted_place_and_fails(site):
    target, report, run = site
    converge(target)
    (target / "app.conf").write_text("edited by hand\n")
    os.unlink(target / "second.link")

    done = run("--check")

    assert done.returncode != 0, done.stdout
    text = report.read_text()
    assert text.startswith("drift: 2 findings on workstation")
    assert "  files:\n    %s" % (target / "app.conf") in text
    assert "  links:\n    %s - link to %s" % (target / "second.link", target / "app.conf") in text
    assert str(target / "first.link") not in text
    assert text in done.stdout  # printed for the person (or the journal) too
    assert (target / "app.conf").read_text() == "edited by hand\n"  # nothing changed
    assert not (target / "second.link").exists()


def test_a_converged_site_has_no_drift_and_exits_zero(site):
    target, report, run = site
    converge(target)
    report.write_text("drift: 9 findings on workstation (a previous run's report)\n")

    done = run("--check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert report.read_text() == "no drift on workstation\n"


def test_a_failing_check_counts_as_drift_and_names_the_host(site):
    target, report, run = site
    converge(target)

    done = run("--check", "-e", "fail_the_check=true")

    assert done.returncode != 0
    text = report.read_text()
    assert text.startswith("drift: 1 finding on workstation")
    assert "FAILED" in text and "the service does not answer on port 7821" in text


def test_a_run_without_check_is_refused_and_changes_nothing(site):
    target, report, run = site

    done = run()

    assert done.returncode != 0
    assert "only --check makes the roles check" in done.stdout
    assert list(target.iterdir()) == []


def test_without_the_callback_it_says_how_to_enable_it(site):
    target, report, run = site
    converge(target)

    done = run("--check", callback=False)

    assert done.returncode != 0
    assert "ANSIBLE_CALLBACKS_ENABLED=ai4artsed.devserver.drift_report" in done.stdout
    assert not report.exists()


def test_an_ordinary_run_of_the_site_writes_no_report(site):
    target, report, run = site

    done = run(playbook="site.yml")

    assert done.returncode == 0, done.stdout
    assert (target / "app.conf").read_text() == "wanted\n"
    assert not report.exists()
    assert "DRIFT REPORT" not in done.stdout


SECRET = "hunter2-5d41402abc"

# A role whose tasks carry a secret in each place the callback used to quote: a debug message, a command
# line, a URL (uri's failure ends the host, so it comes last) and a loop item (no_log decided per item).
NO_LOG_SITE = """---
- name: Stand-in site with secrets
  hosts: devservers
  gather_facts: false
  vars:
    secret: %s
  roles:
    - vault_user
""" % SECRET

NO_LOG_TASKS = """---
- name: Secrets | Report the token a real run would set
  ansible.builtin.debug:
    msg: "would set the API token to {{ secret }}"
  changed_when: true
  no_log: true
- name: Secrets | Log in with the token
  ansible.builtin.command: "echo {{ secret }}"
  check_mode: false
  no_log: true
- name: Secrets | Write one file per name
  ansible.builtin.copy:
    content: "x\\n"
    dest: "{{ target_dir }}/{{ item }}"
    mode: "0600"
  loop: [plain, "{{ secret }}"]
  no_log: "{{ item == secret }}"
- name: Secrets | Ask the API with the token
  ansible.builtin.uri:
    url: "http://127.0.0.1:9/login?token={{ secret }}"
    body: "{{ secret }}"
  check_mode: false
  no_log: true
"""

HIDDEN = "details hidden (no_log)"


def use_site(target, site_yml, roles=None):
    """Swap the stand-in site.yml for another, with its roles (name: tasks) in playbooks/roles."""
    playbooks = target.parent / "playbooks"
    (playbooks / "site.yml").write_text(site_yml)
    for name, tasks in (roles or {}).items():
        (playbooks / "roles" / name / "tasks").mkdir(parents=True)
        (playbooks / "roles" / name / "tasks" / "main.yml").write_text(tasks)


def test_no_log_tasks_show_their_name_and_role_only(site):
    target, report, run = site
    use_site(target, NO_LOG_SITE, {"vault_user": NO_LOG_TASKS})

    done = run("--check")

    assert done.returncode != 0, done.stdout
    text = report.read_text()
    for output in (text, done.stdout, done.stderr):
        assert SECRET not in output
    assert text.startswith("drift: 5 findings on workstation")
    for line in ("    %s (vault_user: Secrets | Report the token a real run would set)" % HIDDEN,
                 "    %s (vault_user: Secrets | Log in with the token)" % HIDDEN,
                 "    %s (vault_user: Secrets | Write one file per name)" % HIDDEN,
                 "    %s - content or attributes differ (vault_user: Secrets | Write one file per name)" % (
                     target / "plain"),
                 "    FAILED %s (vault_user: Secrets | Ask the API with the token)" % HIDDEN):
        assert line in text.splitlines(), text
    assert text in done.stdout


# drift.yml removes the previous report before the site's plays run; this playbook checks the site without
# that, so the callback meets whatever is at the report's path.
CHECK_IN_PLACE = """---
- name: Check the site, the report left where it is
  ansible.builtin.import_playbook: site.yml
  vars:
    ai4artsed_drift_check: true
"""

MY_GROUP = grp.getgrgid(os.getgid()).gr_name

# (case, the report's mode before the run or None for no file, report_group, wanted mode, a warning's words)
MODES = [
    ("a new report", None, None, 0o600, None),
    ("a report an older run left 0644", 0o644, None, 0o600, None),
    ("a report for a named group", None, MY_GROUP, 0o640, None),
    ("a report for a group that does not exist", 0o644, "no-such-group-24", 0o600,
     "no-such-group-24 (report_group, AI4ARTSED_DRIFT_REPORT_GROUP): there is no such group"),
]


@pytest.mark.parametrize("case, before, group, mode, warning", MODES, ids=[c[0] for c in MODES])
def test_the_report_is_readable_by_its_owner_and_group_only(site, case, before, group, mode, warning):
    target, report, run = site
    converge(target)
    (target.parent / "playbooks" / "check.yml").write_text(CHECK_IN_PLACE)
    if before is not None:
        report.write_text("a previous run's report\n")
        os.chmod(report, before)

    done = run("--check", playbook="check.yml", env={"AI4ARTSED_DRIFT_REPORT_GROUP": group} if group else None)

    assert done.returncode == 0, done.stdout + done.stderr
    assert report.read_text() == "no drift on workstation\n"
    assert stat.S_IMODE(report.stat().st_mode) == mode
    if group:
        assert report.stat().st_gid == (grp.getgrnam(group).gr_gid if mode == 0o640 else os.getgid())
    if warning:
        assert warning in " ".join((done.stdout + done.stderr).split())
    assert [path.name for path in report.parent.iterdir() if ".tmp-" in path.name] == []


@pytest.mark.parametrize("points_to_a_file", [True, False], ids=["a link to a file", "a dangling link"])
def test_a_symlink_at_the_report_path_is_refused(site, points_to_a_file):
    target, report, run = site
    converge(target)
    (target.parent / "playbooks" / "check.yml").write_text(CHECK_IN_PLACE)
    elsewhere = target.parent / "elsewhere.txt"
    if points_to_a_file:
        elsewhere.write_text("someone else's file\n")
    os.symlink(elsewhere, report)

    done = run("--check", playbook="check.yml")

    assert report.is_symlink()
    if points_to_a_file:
        assert elsewhere.read_text() == "someone else's file\n"
    else:
        assert not elsewhere.exists()
    said = " ".join((done.stdout + done.stderr).split())
    assert "%s is a symlink" % report in said

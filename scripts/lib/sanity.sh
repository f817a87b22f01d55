# ansible-test sanity for our modules. ansible-test wants the collection at a path ending in
# ansible_collections/ai4artsed/devserver, so the check runs on a copy of the tracked files there.
# shellcheck shell=bash

run_sanity() {
  local workdir collection pip_version
  workdir="$(mktemp -d /var/tmp/ai4artsed-sanity.XXXXXX)"
  collection="$workdir/ansible_collections/ai4artsed/devserver"
  mkdir -p "$collection"
  (cd "$REPO_ROOT" && git ls-files --cached --others --exclude-standard -z |
    xargs -0 cp --parents --no-dereference -t "$collection")
  # The pip version whose get-pip.py ansible-test would download; our stand-in takes its place.
  pip_version="$(python -c 'import ansible_test._internal.python_requirements as r, re, inspect;
print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r.get_venv_packages)).group(1))')"
  mkdir -p ~/.ansible/test/cache
  cp "$REPO_ROOT/tests/sanity/get_pip_standin.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
  local status=0 log="$REPO_ROOT/tests/output/sanity.log"
  mkdir -p "$(dirname "$log")"
  # pip's chatter for each test's venv goes to the log; the test names and findings are printed.
  (cd "$collection" && git init -q && git add -A &&
    ansible-test sanity --venv --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
      --color no) >"$log" 2>&1 || status=$?
  grep -E '^(Running sanity test|ERROR|FATAL|WARNING: (All|Skipping))' "$log" || true
  [ "$status" -eq 0 ] || { echo "--- last lines of $log:"; tail -n 40 "$log"; }
  rm -rf "$workdir"
  return "$status"
}

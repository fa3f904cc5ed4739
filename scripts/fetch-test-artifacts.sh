#!/usr/bin/env bash
# Fetch the Java artifacts the tests use as oracles (tests/java/artifacts.txt) into Maven's
# own cache, ~/.m2/repository, once. The product never fetches anything at run time.
# Needs Maven (`apt-get install maven`, installed here when missing) and Maven Central.
set -euo pipefail
cd "$(dirname "$0")/.."
list=tests/java/artifacts.txt
repo="${MAVEN_REPO:-$HOME/.m2/repository}"

if ! command -v mvn >/dev/null 2>&1; then
  echo "test artifacts: installing Maven (apt-get install maven)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends maven >/dev/null \
    || { echo "could not install Maven; the tests that need Java artifacts will be skipped" >&2; exit 0; }
fi

fetched=0; present=0; failed=()
while read -r coord; do
  coord="${coord%%#*}"; coord="$(echo "$coord" | xargs)"
  [ -z "$coord" ] && continue
  IFS=: read -r group artifact version packaging classifier <<<"$coord"
  packaging="${packaging:-jar}"
  file="$repo/${group//.//}/$artifact/$version/$artifact-$version${classifier:+-$classifier}.$packaging"
  if [ -f "$file" ]; then present=$((present + 1)); continue; fi
  if mvn -q -B dependency:get -Dtransitive=false -Dartifact="$coord" >/dev/null 2>&1; then
    fetched=$((fetched + 1))
  else
    failed+=("$coord")
  fi
done < "$list"
echo "test artifacts: $present present, $fetched fetched into $repo"
if [ ${#failed[@]} -gt 0 ]; then
  echo "test artifacts: could not fetch ${failed[*]} (Maven Central unreachable?); the tests that need them will be skipped with this reason" >&2
fi

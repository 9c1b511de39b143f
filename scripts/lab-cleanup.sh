#!/usr/bin/env bash
# Removes what lab test runs left behind when their runner died without cleaning up (SIGKILL,
# OOM, a killed CI job). The same rules as sweepStale()/sweepStaleLabKernelRuns() in test/lab/harness/:
#
#  - network namespaces named <PREFIX>-<6 hex>-<name> whose run marker /run/vipd-lab/<id>.pid names
#    an owner that is gone (or that have no marker at all): processes still inside are killed by PID,
#    then the namespace is deleted, then the marker;
#  - lab kernel run directories /tmp/vipd-lab-kernel-* whose owner file names an owner that is gone:
#    the QEMU it recorded is killed (its process group) if it is still that same process, then the
#    directory is removed.
#
# A run whose owner is alive, and anything not of these exact shapes, is never touched. An owner is
# "PID STARTTIME" (start time from /proc/PID/stat), so a recycled PID does not count as alive.
#
# Usage: scripts/lab-cleanup.sh [PREFIX...]. Without a prefix: every prefix that has a run marker
# under /run/vipd-lab (each test suite picks its own prefix). Quiet when there is nothing to do.
set -euo pipefail

marker_dir=/run/vipd-lab
netns_dir=/run/netns
shopt -s nullglob
if (($# == 0)); then
  declare -A seen=()
  for marker in "$marker_dir"/*.pid; do
    file=${marker##*/}
    [[ $file =~ ^([a-z][a-z0-9]{0,11})-[0-9a-f]{6}\.pid$ ]] && seen[${BASH_REMATCH[1]}]=1
  done
  set -- vipd "${!seen[@]}"
fi
for prefix in "$@"; do
  if [[ ! $prefix =~ ^[a-z][a-z0-9]{0,11}$ ]]; then
    echo "lab-cleanup: invalid prefix '$prefix'" >&2
    exit 2
  fi
done

# identity_alive "PID STARTTIME": true when that very process still runs (zombies count as gone).
identity_alive() {
  local pid=$1 start=$2 stat rest
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  local -a f
  read -r -a f <<<"$rest"
  [[ ${f[0]} != Z && ${f[0]} != X && ${f[19]} == "$start" ]]
}

sweep_prefix() {
  local prefix=$1 name path marker file id pid start ns
  # Namespaces are listed before markers are read: a run writes its marker before its first namespace.
  declare -a namespaces=()
  for path in "$netns_dir"/*; do
    name=${path##*/}
    [[ $name =~ ^($prefix-[0-9a-f]{6})-[a-z][a-z0-9]*$ ]] && namespaces+=("$name")
  done

  declare -A live=()
  declare -a stale_markers=()
  for marker in "$marker_dir"/"$prefix"-*.pid; do
    file=${marker##*/}
    [[ $file =~ ^($prefix-[0-9a-f]{6})\.pid$ ]] || continue
    id=${BASH_REMATCH[1]}
    read -r pid start _ <"$marker" 2>/dev/null || continue
    if identity_alive "$pid" "${start:-x}"; then live[$id]=1; else stale_markers+=("$id"); fi
  done

  for ns in "${namespaces[@]}"; do
    [[ $ns =~ ^($prefix-[0-9a-f]{6})- ]]
    id=${BASH_REMATCH[1]}
    [[ -n ${live[$id]:-} ]] && continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      [[ $pid == "$$" ]] && continue
      kill -KILL "$pid" 2>/dev/null && echo "lab-cleanup: killed pid $pid (in netns $ns)"
    done
    ip netns del "$ns" 2>/dev/null && echo "lab-cleanup: deleted netns $ns"
  done
  for id in "${stale_markers[@]}"; do
    rm -f "$marker_dir/$id.pid"
  done

}
for prefix in "$@"; do sweep_prefix "$prefix"; done

for dir in /tmp/vipd-lab-kernel-*; do
  [[ -d $dir && -f $dir/owner ]] || continue
  owner="" kernel=""
  while read -r key pid start; do
    case $key in
    owner) owner="$pid $start" ;;
    kernel) kernel="$pid $start" ;;
    esac
  done <"$dir/owner"
  [[ -n $owner ]] || continue
  # shellcheck disable=SC2086
  identity_alive $owner && continue
  # shellcheck disable=SC2086
  if [[ -n $kernel ]] && identity_alive $kernel; then
    kill -KILL -- "-${kernel%% *}" 2>/dev/null && echo "lab-cleanup: killed QEMU ${kernel%% *} ($dir)"
  fi
  rm -rf -- "$dir" && echo "lab-cleanup: removed $dir"
done
exit 0

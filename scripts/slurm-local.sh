#!/usr/bin/env bash
# A single-node Slurm inside this machine, for the tests marked slurm (and for trying the cluster
# route on a laptop): configuration, state and logs under .nclattice/slurm/ of the checkout, the
# node and both daemons on loopback, no munge (auth/none), no systemd, no accounting. Needs root
# and Debian's slurm-wlm (scripts/dev.sh test installs it).
#   scripts/slurm-local.sh start   write slurm.conf, start slurmctld and slurmd, wait for the node
#   scripts/slurm-local.sh stop    stop the daemons this script started
#   scripts/slurm-local.sh env     print the export line clients need (SLURM_CONF=...)
set -euo pipefail
cd "$(dirname "$0")/.."
real="$PWD/.nclattice/slurm"
dir=$real
# Slurm's configuration parser splits a path at a space (and the daemons are best kept to plain
# names): a checkout whose path has any other character reaches its folder through a link with a
# plain name under the temporary folder
if [[ "$real" =~ [^A-Za-z0-9_./-] ]]; then
  dir="${TMPDIR:-/tmp}/nclattice-slurm-$(printf '%s' "$real" | sha256sum | cut -c1-12)"
fi
conf="$dir/slurm.conf"

write_conf() {
  mkdir -p "$real/state" "$real/spool"
  [ "$dir" = "$real" ] || ln -sfn "$real" "$dir"
  local cpus mem
  cpus=$(nproc)
  [ "$cpus" -lt 4 ] && cpus=4   # tests start a few one-core jobs at once; the node oversubscribes
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  cat > "$conf" <<CONF
# written by scripts/slurm-local.sh: a single-node test cluster on loopback
ClusterName=nclattice
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=${NCLATTICE_SLURMCTLD_PORT:-6817}
SlurmdPort=${NCLATTICE_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
KillWait=5
MinJobAge=60
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  # no cgroup plugin is used (proctrack/linuxproc, task/none); an explicit file keeps slurmd from
  # probing the host's cgroup hierarchy (v1 or v2)
  printf 'CgroupPlugin=%s\n' "${NCLATTICE_SLURM_CGROUP:-autodetect}" > "$dir/cgroup.conf"
}

running() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

start() {
  command -v slurmctld >/dev/null || { echo "error: slurmctld is not installed (apt-get install slurm-wlm)" >&2; exit 2; }
  write_conf
  export SLURM_CONF="$conf"
  running slurmctld || slurmctld -f "$conf" -i >/dev/null 2>&1
  running slurmd || slurmd -f "$conf" -N localhost >/dev/null 2>&1
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then return 0; fi
    scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
    sleep 0.5
  done
  echo "error: the local Slurm did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  exit 1
}

stop() {
  for d in slurmd slurmctld; do
    if running "$d"; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  for d in slurmd slurmctld; do
    for _ in $(seq 20); do running "$d" || break; sleep 0.25; done
  done
}

case "${1:-}" in
  start) start; echo "export SLURM_CONF=$conf" ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *) echo "usage: scripts/slurm-local.sh start|stop|env" >&2; exit 2 ;;
esac

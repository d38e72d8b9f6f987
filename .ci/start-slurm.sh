#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for tests/test_slurm.py (idempotent).
#
#   sudo bash .ci/start-slurm.sh            # install (apt) if needed, write slurm.conf, start, wait
#   bash .ci/start-slurm.sh --no-install    # never call apt-get (fail if SLURM is missing)
#   bash .ci/start-slurm.sh --stop          # stop the daemons this script started
#
# Made for a fresh Debian (12) machine or container, run as root, WITHOUT systemd: munged,
# slurmctld and slurmd are started directly as background daemons. The node is this host with
# the CPUs and memory `slurmd -C` reports; one partition `ci` (default); select/cons_tres; no
# accounting storage (no slurmdbd), so job status must be queried with `squeue` (the profile's
# test passes `--slurm-status-command squeue`; MinJobAge is raised so finished jobs stay visible
# to squeue long enough). Exit status 0 once `sinfo` shows the node idle; non-zero with a message
# otherwise (logs: /var/log/slurm/*.log, /var/log/munge/munged.log).
set -euo pipefail

INSTALL=1
case "${1:-}" in
  --no-install) INSTALL=0 ;;
  --stop)
    for pidf in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
      [[ -s $pidf ]] && kill "$(cat "$pidf")" 2>/dev/null || true
    done
    exit 0 ;;
  "") ;;
  *) echo "usage: $0 [--no-install|--stop]" >&2; exit 2 ;;
esac

say() { echo "start-slurm: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts slurmctld/slurmd)"

CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)
PARTITION=ci

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n1; }

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  [[ $INSTALL -eq 1 ]] || die "slurmctld/slurmd/munged not installed (run without --no-install)"
  say "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# 2. munge: key and daemon.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  say "creating /etc/munge/munge.key"
  if command -v mungekey >/dev/null; then mungekey --create --force --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
  munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
fi

# 3. slurm.conf for this host (real CPUs and memory from slurmd -C).
HW=$(slurmd -C | head -n1)   # NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 ... RealMemory=24105
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$HW"; }
CPUS=$(field CPUs); SOCKETS=$(field SocketsPerBoard); CORES=$(field CoresPerSocket)
THREADS=$(field ThreadsPerCore); MEM=$(field RealMemory)
[[ -n $CPUS && -n $MEM ]] || die "could not parse 'slurmd -C': $HW"
MEM=$(( MEM * 95 / 100 ))   # leave a little for the OS, or slurmd may register the node as invalid
install -d /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
NEW_CONF=$(mktemp)
cat >"$NEW_CONF" <<EOF
# Written by .ci/start-slurm.sh: a one-node test cluster (no accounting, no cgroups; addresses
# are 127.0.0.1 so that no DNS entry for the host name is needed).
ClusterName=rankdistill-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: sacct cannot answer, the executor plugin must use squeue (--slurm-status-command
# squeue). Keep finished jobs in slurmctld's memory for 10 min so squeue still reports their
# final state (the plugin falls back to sacct when MinJobAge < 3 x its first status-check delay).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS SocketsPerBoard=${SOCKETS:-1} CoresPerSocket=${CORES:-$CPUS} ThreadsPerCore=${THREADS:-1} RealMemory=$MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF" 2>/dev/null; then
  mv "$NEW_CONF" "$CONF"; chmod 0644 "$CONF"; CHANGED=1
else
  rm -f "$NEW_CONF"
fi

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 4. Daemons (restarted if the config changed).
if [[ $CHANGED -eq 1 ]]; then
  for pidf in /run/slurmd.pid /run/slurmctld.pid; do
    if running "$pidf"; then kill "$(cat "$pidf")"; sleep 1; fi
  done
fi
if ! running /run/slurmctld.pid; then
  say "starting slurmctld"
  slurmctld -i   # -i: ignore job state left over from an earlier (differently configured) start
fi
for _ in $(seq 1 30); do scontrol ping >/dev/null 2>&1 && break; sleep 1; done
scontrol ping >/dev/null 2>&1 || die "slurmctld does not answer (see /var/log/slurm/slurmctld.log)"
if ! running /run/slurmd.pid; then
  say "starting slurmd"
  slurmd
fi

# 5. Wait for the node to be idle.
for i in $(seq 1 60); do
  st=$(node_state || true)
  case "$st" in
    idle|mixed|allocated) say "SLURM up: node $NODE ($CPUS CPUs, $MEM MB) is $st in partition $PARTITION"; exit 0 ;;
    down*|drain*|drained*|fail*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
sinfo -N -l >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
die "node $NODE did not become idle within 60 s"

#!/usr/bin/env bash
# A one-node SLURM cluster on this machine (Debian/Ubuntu, as root), to try sweeps with
# `scripts/launch.py --backend slurm` and to run tests/test_slurm.py:
#
#   sudo scripts/start_local_slurm.sh        # installs slurm-wlm and munge if needed
#   sinfo                                    # partition "local", node $(hostname -s) idle
#   sudo scripts/start_local_slurm.sh stop
#
# Config: /etc/slurm/slurm.conf (select/cons_tres, proctrack/linuxproc, task/none, no
# accounting); logs: /var/log/slurm/. Not for a shared machine: jobs run as their user
# without cgroup limits.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "error: run as root (it installs packages and starts munged, slurmctld, slurmd)" >&2
  exit 2
fi

stop() {
  for daemon in slurmd slurmctld munged; do
    pid=$(pgrep -x "$daemon" || true)
    if [[ -n $pid ]]; then kill $pid; fi
  done
}

if [[ ${1:-start} == stop ]]; then
  stop
  exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y slurm-wlm munge
fi

node=$(hostname -s)
mkdir -p /etc/munge /var/log/munge /run/munge /var/lib/munge /etc/slurm \
  /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /var/log/munge /run/munge /var/lib/munge
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged
fi
munge -n | unmunge >/dev/null

# The node's real CPUs, sockets and memory, as slurmd sees them.
hardware=$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*//" -e "s/UpTime=.*//")
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$node $hardware State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

if ! pgrep -x slurmctld >/dev/null; then slurmctld; fi
if ! pgrep -x slurmd >/dev/null; then slurmd; fi
for _ in $(seq 30); do
  if sinfo -h -o "%T" 2>/dev/null | grep -Eq "idle|mixed|allocated"; then
    sinfo
    exit 0
  fi
  sleep 1
done
echo "error: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
scontrol update nodename="$node" state=resume 2>/dev/null || true
sinfo >&2 || true
exit 1

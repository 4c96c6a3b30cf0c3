#!/bin/bash
# slurm-up.sh — a one-node SLURM (munge, slurmctld, slurmd on localhost) for the
# tests, on a machine without systemd. Run as root. Idempotent: when the node
# already answers `idle` or `mixed`/`allocated`, it does nothing.
# Facts and pitfalls: ../shared/reference/cluster.md §3 (no cgroup plugins here).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v sinfo >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge openmpi-bin libopenmpi-dev
fi

state() { sinfo -h -o %T 2>/dev/null | head -n 1; }
case "$(state)" in idle|mixed|allocated|completing) echo "slurm-up: already running ($(state))"; exit 0 ;; esac

CPUS=$(nproc)
MEM_MB=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 - 1024 ))  # under slurmd's own measurement
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${CPUS} Sockets=1 CoresPerSocket=${CPUS} ThreadsPerCore=1 RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# munged must run as the munge user (as root it refuses: "Logfile is insecure").
install -d -o munge -g munge -m 0755 /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
for i in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done

# Daemons left from an earlier start that never became idle: stop them by pid file.
for f in /run/slurmd.pid /run/slurmctld.pid; do
  if [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; then
    for i in $(seq 50); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
  fi
done
rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*   # fresh state: no old jobs, no drained node
slurmctld
slurmd
for i in $(seq 150); do
  [ "$(state)" = idle ] && { echo "slurm-up: node idle"; exit 0; }
  sleep 0.2
done
echo "slurm-up: the node never became idle" >&2
sinfo -R >&2 || true
tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
exit 1

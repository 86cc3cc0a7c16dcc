#!/usr/bin/env bash
# A single-node Slurm on localhost for the job-array tests (tests/test_slurm.py).
#
# Idempotent: installs slurm-wlm and munge with apt-get when they are missing, writes a minimal
# slurm.conf, starts munged, slurmctld and slurmd, and waits for the node to be idle. Never fails
# the CI: where Slurm cannot be installed or started it says why and exits 0, and the Slurm tests
# skip with their reason. Takes about 10 s with the install, under 1 s without.
#   RELUSIM_SLURM_NO_INSTALL=1   only start what is installed (what the test fixture uses)
set -u

say() { echo "slurm-setup: $*"; }
give_up() { say "$* -- the Slurm tests will be skipped"; exit 0; }

# sinfo retries for ~9 s when no controller answers: ask it only when the daemons run
if pidof slurmctld >/dev/null && pidof slurmd >/dev/null \
        && sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    say "Slurm already running: $(sinfo -h -o '%P %D %T' | head -1)"
    exit 0
fi
[ "$(id -u)" = 0 ] || give_up "not root"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    [ -z "${RELUSIM_SLURM_NO_INSTALL:-}" ] || give_up "slurm-wlm/munge not installed"
    command -v apt-get >/dev/null || give_up "no apt-get to install slurm-wlm and munge"
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
        >/tmp/relusim-slurm-apt.log 2>&1 || give_up "apt-get install failed (see /tmp/relusim-slurm-apt.log)"
fi

# munge: a key, its run directory, the daemon (as the munge user, as Debian runs it)
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create >/dev/null 2>&1 || give_up "cannot create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged || give_up "munged did not start"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null 2>&1 || give_up "munge does not answer"

# slurm.conf: one node named localhost with this machine's cores, no cgroups, no accounting
MARK="# written by relusim/.ci/slurm-setup.sh"
if [ -e /etc/slurm/slurm.conf ] && ! grep -qF "$MARK" /etc/slurm/slurm.conf; then
    give_up "/etc/slurm/slurm.conf exists and was not written by this script; leaving it alone"
fi
CPUS=$(getconf _NPROCESSORS_ONLN)  # not nproc: it reads OMP_NUM_THREADS, which dask sets to 1
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >/etc/slurm/slurm.conf <<EOF
$MARK: a single-node test cluster
ClusterName=relusim-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

pidof slurmctld >/dev/null || slurmctld -c || give_up "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
pidof slurmd >/dev/null || slurmd -N localhost || give_up "slurmd did not start (see /var/log/slurm/slurmd.log)"
for _ in $(seq 150); do
    sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)' && break
    sleep 0.2
done
state=$(sinfo -h -o %T 2>/dev/null | head -1)
case "$state" in
    idle|mixed|allocated) say "Slurm is up: partition debug, node localhost, $CPUS CPUs ($state)" ;;
    *) give_up "the node did not become idle (state: ${state:-none}; see /var/log/slurm/)" ;;
esac

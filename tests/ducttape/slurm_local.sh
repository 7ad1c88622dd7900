#!/usr/bin/env bash
# A real single-node Slurm on localhost, for testing ducttape's `slurm` submitter.
#
#   tests/ducttape/slurm_local.sh install      # apt-get install slurmctld slurmd slurm-client munge (root)
#   tests/ducttape/slurm_local.sh start DIR    # start munged (if needed), slurmctld and slurmd;
#                                              # state, logs and slurm.conf live in DIR
#   tests/ducttape/slurm_local.sh stop DIR     # cancel jobs, stop what `start` started
#
# After `start`, clients need `export SLURM_CONF=DIR/slurm.conf`. Recipe measured in
# docs/environment.md: Debian's Slurm 22.05 without systemd, as root, proctrack/linuxproc, no cgroups,
# job completion records in a text file (read with `sacct -c`). Processes are stopped by their pid
# files, never by name.
set -euo pipefail

cmd="${1:-}"

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "slurm_local.sh: $1 needs root" >&2
    exit 2
  fi
}

do_install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
      && command -v sbatch >/dev/null && command -v munged >/dev/null 2>&1 \
      || { [ -x /usr/sbin/munged ] && command -v slurmctld >/dev/null && command -v sbatch >/dev/null; }; then
    return 0
  fi
  need_root "installing Slurm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_munge() {
  local dir="$1"
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return 0  # a working munged is already running
  fi
  need_root "starting munged"
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    chown munge:munge /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
      || runuser -u munge -- mungekey --create
    chmod 600 /etc/munge/munge.key
  fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      cat /run/munge/munged.pid > "$dir/munged.pid.started" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  echo "slurm_local.sh: munged did not start" >&2
  exit 1
}

do_start() {
  local dir="$1"
  do_install
  mkdir -p "$dir/state" "$dir/spool"
  dir="$(cd "$dir" && pwd)"
  start_munge "$dir"
  local host cpus conf
  host="$(hostname -s)"
  cpus="$(nproc)"
  conf="$dir/slurm.conf"
  cat > "$conf" <<EOF
ClusterName=ducttapetest
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SchedulerParameters=batch_sched_delay=0
MinJobAge=5
MailProg=/bin/true
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf" -N "$host"
  for _ in $(seq 150); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "SLURM_CONF=$conf"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm_local.sh: node did not come up; logs:" >&2
  tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
  do_stop "$dir"
  exit 1
}

stop_pidfile() {
  local f="$1"
  [ -s "$f" ] || return 0
  local pid
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

do_stop() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/slurm.conf" ]; then
    SLURM_CONF="$dir/slurm.conf" scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
    sleep 0.3
  fi
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  if [ -s "$dir/munged.pid.started" ]; then
    stop_pidfile "$dir/munged.pid.started"
  fi
}

case "$cmd" in
  install) do_install ;;
  start) do_start "${2:?usage: slurm_local.sh start DIR}" ;;
  stop) do_stop "${2:?usage: slurm_local.sh stop DIR}" ;;
  *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac

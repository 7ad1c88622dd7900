"""Built-in submitters and versioners, written in the ducttape language itself.

A workflow may redefine any of them (a workflow-defined block with the same name wins).
The ``slurm`` submitter is an addition to ducttape 0.3: its dot parameters are all optional.
"""

BUILTINS_TAPE = r'''
# Runs the task's commands in the local shell (the default).
submitter shell :: COMMANDS {
  action run {
    eval "$COMMANDS"
  }
}

# Slurm: one batch job per task realization, submitted with `sbatch --wait` so the task ends
# when the job ends and takes the job's exit status. Every resource is an optional dot parameter
# of the task (.gpus .cpus .mem .time .partition .nodes .account .qos .constraint .gres .sbatch_args).
submitter slurm :: COMMANDS TASK REALIZATION CONFIGURATION
                :: gpus cpus mem time partition nodes account qos constraint gres sbatch_args {
  action run {
    wrapper="$PWD/ducttape_job.sh"
    jobname="${CONFIGURATION:+$CONFIGURATION-}$TASK-$REALIZATION"
    {
      echo "#!/bin/bash"
      echo "#SBATCH --job-name=$jobname"
      echo "#SBATCH --output=$PWD/ducttape_job_stdout.txt"
      echo "#SBATCH --error=$PWD/ducttape_job_stderr.txt"
      echo "#SBATCH --chdir=$PWD"
      if [ -n "${nodes:-}" ]; then echo "#SBATCH --nodes=$nodes"; fi
      if [ -n "${cpus:-}" ]; then echo "#SBATCH --cpus-per-task=$cpus"; fi
      if [ -n "${mem:-}" ]; then echo "#SBATCH --mem=$mem"; fi
      if [ -n "${time:-}" ]; then echo "#SBATCH --time=$time"; fi
      if [ -n "${partition:-}" ]; then echo "#SBATCH --partition=$partition"; fi
      if [ -n "${account:-}" ]; then echo "#SBATCH --account=$account"; fi
      if [ -n "${qos:-}" ]; then echo "#SBATCH --qos=$qos"; fi
      if [ -n "${constraint:-}" ]; then echo "#SBATCH --constraint=$constraint"; fi
      if [ -n "${gpus:-}" ]; then echo "#SBATCH --gpus=$gpus"; fi
      if [ -n "${gres:-}" ]; then echo "#SBATCH --gres=$gres"; fi
      echo "set -e"
      echo "set -o pipefail"
      echo "set -u"
      echo "cd \"$PWD\""
      echo "$COMMANDS"
    } > "$wrapper"
    rm -f ducttape_job_stdout.txt ducttape_job_stderr.txt ducttape_slurm_jobid.txt
    cancel_job() {
      if [ -s ducttape_slurm_jobid.txt ]; then
        scancel "$(cut -d';' -f1 ducttape_slurm_jobid.txt)" || true
      fi
      exit 143
    }
    trap cancel_job TERM INT HUP
    # shellcheck disable=SC2086
    sbatch --wait --parsable ${sbatch_args:-} "$wrapper" > ducttape_slurm_jobid.txt &
    sbatch_pid=$!
    while kill -0 "$sbatch_pid" 2>/dev/null && [ ! -s ducttape_slurm_jobid.txt ]; do sleep 0.05; done
    if [ -s ducttape_slurm_jobid.txt ]; then
      echo "Submitted batch job $(cut -d';' -f1 ducttape_slurm_jobid.txt)" >&2
    fi
    rc=0
    wait "$sbatch_pid" || rc=$?
    jobid="$(cut -d';' -f1 ducttape_slurm_jobid.txt 2>/dev/null || true)"
    echo "ducttape: slurm job ${jobid:-?} finished with exit code $rc" >&2
    if [ -f ducttape_job_stdout.txt ]; then cat ducttape_job_stdout.txt; fi
    if [ -f ducttape_job_stderr.txt ]; then cat ducttape_job_stderr.txt >&2; fi
    exit "$rc"
  }
}

# Sun Grid Engine: qsub -sync y blocks until the job ends.
submitter sge :: vmem walltime q
              :: COMMANDS TASK REALIZATION CONFIGURATION {
  action run {
    wrapper="ducttape_job.sh"
    echo "#$ -S /bin/bash" > $wrapper
    echo "#$ -q $q" >> $wrapper
    echo "#$ -l h_rt=$walltime" >> $wrapper
    echo "#$ -l h_vmem=$vmem" >> $wrapper
    echo "#$ -j y" >> $wrapper
    echo "#$ -o localhost:$PWD/job.out" >> $wrapper
    echo "#$ -N $CONFIGURATION-$TASK-$REALIZATION" >> $wrapper
    echo "set -e" >> $wrapper
    echo "set -o pipefail" >> $wrapper
    echo "set -u" >> $wrapper
    echo "set -x" >> $wrapper
    echo "cd $PWD" >> $wrapper
    echo "$COMMANDS" >> $wrapper
    qsub -sync y $wrapper
  }
}

# Torque / PBS: submit, then poll qstat until the job is gone.
submitter torque :: walltime vmem cpus
                 :: COMMANDS TASK REALIZATION CONFIGURATION {
  action run {
    wrapper="ducttape_job.sh"
    echo "#PBS -S /bin/bash" > $wrapper
    echo "#PBS -V" >> $wrapper
    echo "#PBS -l walltime=$walltime" >> $wrapper
    echo "#PBS -l nodes=1:ppn=$cpus" >> $wrapper
    echo "#PBS -l pmem=$vmem" >> $wrapper
    echo "#PBS -j oe" >> $wrapper
    echo "#PBS -o $PWD/job.out" >> $wrapper
    echo "#PBS -N $TASK-$REALIZATION" >> $wrapper
    echo "set -euo pipefail" >> $wrapper
    echo "cd $PWD" >> $wrapper
    echo "$COMMANDS" >> $wrapper
    echo "echo \$? > $PWD/ducttape_job_exit_code.txt" >> $wrapper
    jobid=$(qsub $wrapper)
    echo "$jobid" > ducttape_torque_jobid.txt
    while qstat "$jobid" >/dev/null 2>&1; do sleep 10; done
    if [ -f job.out ]; then cat job.out; fi
    exit "$(cat ducttape_job_exit_code.txt 2>/dev/null || echo 1)"
  }
}

submitter pbs :: walltime vmem
              :: COMMANDS TASK REALIZATION CONFIGURATION {
  action run {
    wrapper="ducttape_job.sh"
    echo "#PBS -S /bin/bash" > $wrapper
    echo "#PBS -V" >> $wrapper
    echo "#PBS -l walltime=$walltime" >> $wrapper
    echo "#PBS -l mem=$vmem" >> $wrapper
    echo "#PBS -j oe" >> $wrapper
    echo "#PBS -o $PWD/job.out" >> $wrapper
    echo "#PBS -N $TASK-$REALIZATION" >> $wrapper
    echo "set -euo pipefail" >> $wrapper
    echo "cd $PWD" >> $wrapper
    echo "$COMMANDS" >> $wrapper
    echo "echo \$? > $PWD/ducttape_job_exit_code.txt" >> $wrapper
    jobid=$(qsub $wrapper)
    echo "$jobid" > ducttape_pbs_jobid.txt
    while qstat "$jobid" >/dev/null 2>&1; do sleep 10; done
    if [ -f job.out ]; then cat job.out; fi
    exit "$(cat ducttape_job_exit_code.txt 2>/dev/null || echo 1)"
  }
}

versioner git :: repo ref {
  action checkout > dir {
    git clone "$repo" "$dir"
    if [ "$ref" != "HEAD" ]; then (cd "$dir" && git checkout "$ref"); fi
    (cd "$dir" && git submodule update --init --recursive)
  }
  action repo_version > version {
    if [ "$ref" = "HEAD" ]; then
      git ls-remote "$repo" HEAD | cut -f1 > "$version"
    else
      echo "$ref" > "$version"
    fi
  }
  action local_version > version date {
    git rev-parse HEAD > "$version"
    git log -1 --format=%cd > "$date"
  }
}

versioner svn :: repo rev {
  action checkout > dir {
    svn checkout -r "$rev" "$repo" "$dir"
  }
  action repo_version > version {
    if [ "$rev" = "HEAD" ]; then
      svn info "$repo" | awk '/^Revision:/{print $2}' > "$version"
    else
      echo "$rev" > "$version"
    fi
  }
  action local_version > version date {
    svn info | awk '/^Revision:/{print $2}' > "$version"
    svn info | awk -F': ' '/^Last Changed Date:/{print $2}' > "$date"
  }
}

versioner disk :: path {
  action checkout > dir {
    mkdir -p "$dir"
    for f in "$path"/* "$path"/.[!.]*; do
      if [ -e "$f" ]; then ln -s "$f" "$dir/"; fi
    done
  }
  action repo_version > version {
    echo "VERSIONING_UNSUPPORTED" > "$version"
  }
  action local_version > version date {
    echo "VERSIONING_UNSUPPORTED" > "$version"
    echo "VERSIONING_UNSUPPORTED" > "$date"
  }
}
'''

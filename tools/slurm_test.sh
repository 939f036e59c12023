#!/usr/bin/env bash
# Usage: [GPUS=8] [GRES=gpu:8] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# PYTHON picks the interpreter; SRUN_ARGS holds extra srun options,
# separated by whitespace.
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
# The generic resources to request per node; GRES= (empty) requests none,
# for CPU partitions, where GPUS then counts the tasks.
GRES=${GRES-gpu:${GPUS_PER_NODE}}
PYTHON=${PYTHON:-python}
# Split on whitespace only: no glob expansion.
read -r -a SRUN_EXTRA <<< "${SRUN_ARGS:-}"
# Each test.py option stays one argument, spaces and wildcards included.
PY_ARGS=("${@:5}")

# No empty entry when PYTHONPATH is unset: it would put the current
# directory on sys.path.
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:${PYTHONPATH}}" \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES:+"--gres=${GRES}"} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    "${SRUN_EXTRA[@]}" \
    "${PYTHON}" -u "$(dirname "$0")/test.py" "${CONFIG}" "${CHECKPOINT}" \
    --launcher="slurm" "${PY_ARGS[@]}"

#!/bin/bash
# Submits a survey to Slurm: the shard array, then the merge once every task succeeded.
#   scripts/slurm/submit.sh [CONF] [SBATCH OPTIONS...]
# CONF defaults to survey.conf beside this script; SBATCH OPTIONS go to the array (for
# example --partition=scan). Prints the two job ids.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
conf=$(realpath "${1:-$here/survey.conf}")
shift || true
# shellcheck source=survey.conf
source "$conf"
die() { echo "submit.sh: $*" >&2; exit 2; }
[[ -n ${SEED:-} ]] || die "set SEED in $conf, once for the whole survey (od -An -N8 -tu8 /dev/urandom)"
[[ -n ${CONTACT:-} && -n ${PURPOSE:-} ]] || die "set CONTACT and PURPOSE in $conf: they go into every shard's metadata"
[[ $SHARDS =~ ^[1-9][0-9]*$ ]] || die "SHARDS in $conf must be a number of shards"
[[ -f $BLOCKLIST ]] || die "no blocklist $BLOCKLIST: create it (an empty file if there are no opt-outs yet)"
mkdir -p "$DIR/logs"
# The tasks read the same file through SURVEY_CONF (sbatch passes the environment on).
export SURVEY_CONF=$conf
array=$(sbatch --parsable --array="0-$((SHARDS - 1))" --output="$DIR/logs/shard-%A_%a.log" \
    "$@" "$here/shard.sbatch")
array=${array%%;*}
# afterok: the merge starts once every task has ended with exit 0; a re-queued task is
# waited for. If a task fails for good, the merge never starts: fix it, resubmit the
# array (unfinished shards resume) or run merge.sbatch by hand to see what is missing.
merge=$(sbatch --parsable --dependency="afterok:$array" --output="$DIR/logs/merge-%j.log" \
    "$here/merge.sbatch")
merge=${merge%%;*}
echo "shards: job $array (array 0-$((SHARDS - 1))), merge: job $merge, logs in $DIR/logs"

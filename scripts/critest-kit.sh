# Sourced by scripts/test-cri.sh and bench/cri-with-containerd.sh: sets REPO (this repository)
# and TOOLS, the offline critest kit: CRITEST_TOOLS when set, else ../shared/tools/critest
# beside the repository, else /work/shared/tools/critest.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIT=$REPO/../shared/tools/critest
[ -d "$KIT" ] || KIT=/work/shared/tools/critest
TOOLS=${CRITEST_TOOLS:-$KIT}

#!/usr/bin/env bash
# Print the build tags of the fastest build this machine can make, for
# `go build -tags "$(scripts/fast-tags.sh)"`:
#   dnnl openblas   the oneDNN engine (needs oneDNN 2.6 or newer, 2.x or
#                   3.x: Debian 12's libdnnl-dev 2.6.3, Debian 13's 3.7.2)
#                   and OpenBLAS
#   openblas        the gorgonia engine with OpenBLAS's sgemm: where oneDNN
#                   is missing, or older than 2.6 (Ubuntu 22.04's 2.2), or
#                   newer than 3.x
#   (nothing)       neither library: the pure-Go build
# A note on stderr says what was left out and why. EVOSWARM_TAGS, when set
# (even to ""), is printed instead.
set -euo pipefail

if [ -n "${EVOSWARM_TAGS+set}" ]; then
  echo "$EVOSWARM_TAGS"
  exit 0
fi
cc=${CC:-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "fast-tags: no C compiler ($cc): the pure-Go build" >&2
  echo ""
  exit 0
fi
links() { echo 'int main(void) { return 0; }' | "$cc" -x c - "$@" -o /dev/null >/dev/null 2>&1; }

tags=()
ver=$(printf '#include <oneapi/dnnl/dnnl_version.h>\nDNNL_VERSION_MAJOR DNNL_VERSION_MINOR\n' | "$cc" -E -P -x c - 2>/dev/null | tail -n 1 || true)
read -r major minor <<<"${ver:-x x}" || true
if [[ $minor =~ ^[0-9]+$ && ( ( $major == 2 && $minor -ge 6 ) || $major == 3 ) ]] && links -ldnnl; then
  tags+=(dnnl)
elif [[ $major =~ ^[0-9]+$ ]]; then
  echo "fast-tags: oneDNN $major.$minor is here, but the oneDNN engine needs 2.6 to 3.x: training on the gorgonia engine instead (slower)" >&2
else
  echo "fast-tags: oneDNN is not installed (libdnnl-dev): training on the gorgonia engine (slower)" >&2
fi
if printf '#include <cblas.h>\n' | "$cc" -E -x c - >/dev/null 2>&1 && links -lopenblas; then
  tags+=(openblas)
else
  echo "fast-tags: OpenBLAS is not installed (libopenblas-dev): the gorgonia engine's sgemm is pure Go" >&2
fi
echo "${tags[*]}"

#!/usr/bin/env bash
# cuda-sdk.sh — make the small CUDA build SDK that `go build -tags gpu` needs,
# in the ignored folder .cuda/ at the repository root:
#
#   .cuda/include/   the CUDA headers (cuda.h, cublas_v2.h, ...) from Debian's
#                    nvidia-cuda-dev (non-free, CUDA 11.8)
#   .cuda/stubs/     stub shared libraries to link against: libcuda.so
#                    (SONAME libcuda.so.1) and libcublas.so (SONAME
#                    $CUBLAS_SONAME, default libcublas.so.13), made of one
#                    function, returning an error code, for every cu*/cublas*
#                    function that the headers declare. They are only linked, never run: the
#                    binary loads the real libraries of the GPU machine by
#                    SONAME (driver 580 / CUDA 13, pip's cuBLAS 13).
#   .cuda/nvidia-cuda-dev_*.deb   the downloaded package (~774 MB), kept so
#                    that a rebuild of the SDK needs no download.
#
# Idempotent: a second run finds everything in place and only prints how to
# use it. Remove .cuda/ (or set FORCE=1) to start over; FORCE=1 keeps the
# .deb. Needs root for apt (it adds Debian's non-free component in its own
# sources file when nvidia-cuda-dev is not yet visible to apt).
#
# Usage: scripts/cuda-sdk.sh            then build as it prints.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SDK=$ROOT/.cuda
CUBLAS_SONAME=${CUBLAS_SONAME:-libcublas.so.13}
CUDA_SONAME=libcuda.so.1
STAMP=$SDK/.stamp
WANT_STAMP="v2 cuda=$CUDA_SONAME cublas=$CUBLAS_SONAME"

log() { printf 'cuda-sdk: %s\n' "$*" >&2; }

usage() {
	cat <<EOF
CUDA build SDK ready in $SDK
  headers: $SDK/include (from $(cat "$SDK/.deb-version" 2>/dev/null || echo nvidia-cuda-dev))
  stubs:   $SDK/stubs/libcuda.so ($CUDA_SONAME), $SDK/stubs/libcublas.so ($CUBLAS_SONAME)
Build with:
  CGO_CFLAGS=-I$SDK/include CGO_LDFLAGS=-L$SDK/stubs go build -tags gpu ./...
  CGO_CFLAGS=-I$SDK/include CGO_LDFLAGS=-L$SDK/stubs go test -tags gpu -c -o /tmp/cuda.test ./train/cuda/
(The stubs are for linking only; the binary needs the real $CUDA_SONAME and
$CUBLAS_SONAME at run time, e.g. LD_LIBRARY_PATH=<torch's site-packages>/nvidia/cu13/lib.)
EOF
}

# Fast path: everything already built for these SONAMEs.
if [[ ${FORCE:-0} != 1 && -f $STAMP && $(cat "$STAMP") == "$WANT_STAMP" &&
	-f $SDK/include/cuda.h && -f $SDK/include/cublas_v2.h &&
	-f $SDK/stubs/libcuda.so && -f $SDK/stubs/libcublas.so ]]; then
	usage
	exit 0
fi

mkdir -p "$SDK"
SECONDS=0

# ---------------------------------------------------------------- download
shopt -s nullglob
debs=("$SDK"/nvidia-cuda-dev_*.deb)
shopt -u nullglob
if ((${#debs[@]} == 0)); then
	command -v apt-get >/dev/null || {
		log "apt-get not found: this script needs Debian (bookworm) to fetch nvidia-cuda-dev"
		exit 1
	}
	as_root() { if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi; }
	candidate() { apt-cache policy nvidia-cuda-dev 2>/dev/null | awk '/Candidate:/ {print $2}'; }
	if [[ $(candidate) == "" || $(candidate) == "(none)" ]]; then
		# Debian's non-free component, in a file of our own so that the
		# machine's existing apt configuration is left as it is. The URI
		# and keyring are taken from the existing Debian entry when there
		# is one.
		src=/etc/apt/sources.list.d/evoswarm-cuda-nonfree.sources
		uri=http://deb.debian.org/debian
		keyring=/usr/share/keyrings/debian-archive-keyring.gpg
		if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
			u=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
			k=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
			[[ -n $u ]] && uri=$u
			[[ -n $k && -f $k ]] && keyring=$k
		fi
		codename=bookworm
		if [[ -r /etc/os-release ]]; then
			c=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
			[[ -n $c ]] && codename=$c
		fi
		if [[ ! -f $src ]]; then
			log "adding Debian's non-free component ($src)"
			as_root tee "$src" >/dev/null <<EOF
# Added by evoswarm scripts/cuda-sdk.sh: Debian's non-free component, for
# nvidia-cuda-dev (CUDA headers). Safe to remove.
Types: deb
URIs: $uri
Suites: $codename $codename-updates
Components: non-free
Signed-By: $keyring
EOF
		fi
		log "apt-get update (for $src only)"
		as_root apt-get update -qq \
			-o Dir::Etc::sourcelist="$src" -o Dir::Etc::sourceparts=- \
			-o APT::Get::List-Cleanup=0
		if [[ $(candidate) == "" || $(candidate) == "(none)" ]]; then
			log "nvidia-cuda-dev is still not available from apt (see $src)"
			exit 1
		fi
	fi
	log "downloading nvidia-cuda-dev $(candidate) (~774 MB) into $SDK"
	# apt-get download writes into the current directory. As root it
	# warns that the download is unsandboxed; that is harmless here.
	(cd "$SDK" && apt-get download -q nvidia-cuda-dev 2>&1 | grep -v 'unsandboxed' >&2 || true)
	shopt -s nullglob
	debs=("$SDK"/nvidia-cuda-dev_*.deb)
	shopt -u nullglob
	((${#debs[@]} > 0)) || { log "download failed"; exit 1; }
	log "download took ${SECONDS}s"
fi
deb=${debs[-1]}
dpkg-deb -f "$deb" Version >"$SDK/.deb-version.tmp"
echo "nvidia-cuda-dev $(cat "$SDK/.deb-version.tmp")" >"$SDK/.deb-version"
rm -f "$SDK/.deb-version.tmp"

# ----------------------------------------------------------------- extract
# One streaming pass over the package's data: only usr/include and the
# libcuda stub are written to disk.
if [[ ! -f $SDK/include/cuda.h || ! -f $SDK/include/cublas_v2.h || ${FORCE:-0} == 1 ]]; then
	t0=$SECONDS
	tmp=$SDK/.extract
	rm -rf "$tmp" "$SDK/include"
	mkdir -p "$tmp"
	log "extracting usr/include and the libcuda stub from $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$tmp" --wildcards \
			'./usr/include/*' '*/stubs/libcuda.so*'
	mv "$tmp/usr/include" "$SDK/include"
	mkdir -p "$SDK/stubs/nvidia"
	find "$tmp" -path '*/stubs/libcuda.so*' -type f -exec cp -f {} "$SDK/stubs/nvidia/" \;
	rm -rf "$tmp"
	log "extraction took $((SECONDS - t0))s ($(du -sh "$SDK/include" | cut -f1) of headers)"
fi
for h in cuda.h cublas_v2.h cublas_api.h; do
	[[ -f $SDK/include/$h ]] || { log "missing $SDK/include/$h after extraction"; exit 1; }
done

# ------------------------------------------------------------------- stubs
# The functions that the headers declare, as gcc sees them after the
# preprocessor (so cuda.h's `#define cuCtxCreate cuCtxCreate_v2` gives the
# real symbol name): gcc -aux-info lists every prototype with its origin
# and whether it was declared (C) or defined (F, e.g. static inline helpers,
# which are not library symbols).
work=$SDK/.stubgen
rm -rf "$work"
mkdir -p "$work" "$SDK/stubs"
names() { # header prefix-regex -> symbol names declared in $SDK/include
	printf '#include <%s>\n' "$1" >"$work/t.c"
	gcc -I"$SDK/include" -aux-info "$work/aux.txt" -fsyntax-only "$work/t.c"
	grep -F "/* $SDK/include/" "$work/aux.txt" |
		awk '$2 ~ /:[NOI]C$/' |
		sed -E 's/^\/\*[^*]*\*\/ *//' |
		grep -oE "\\b($2)[A-Za-z0-9_]*[[:space:]]*\\(" |
		sed -E 's/[[:space:]]*\($//' | sort -u
}
gen() { # names-file soname out return-value
	{
		echo "/* Generated by scripts/cuda-sdk.sh: link-time stub for $2, not to be run."
		echo " * Should it be loaded anyway, every function fails with $4. */"
		while read -r f; do printf 'int %s(void) { return %s; }\n' "$f" "$4"; done <"$1"
	} >"$work/stub.c"
	gcc -shared -fPIC -O0 -w -Wl,-soname,"$2" -o "$3" "$work/stub.c"
}
names cuda.h 'cu' | grep -E '^cu[A-Z]' >"$work/cuda.txt"
names cublas_v2.h 'cublas' >"$work/cublas.txt"
# Sanity checks: the symbols gorgonia.org/cu and cu/blas certainly need.
for s in cuInit cuCtxCreate_v2 cuMemAlloc_v2 cuModuleLoadData cuLaunchKernel; do
	grep -qx "$s" "$work/cuda.txt" || { log "stub generator missed $s"; exit 1; }
done
for s in cublasCreate_v2 cublasSgemm_v2 cublasDestroy_v2; do
	grep -qx "$s" "$work/cublas.txt" || { log "stub generator missed $s"; exit 1; }
done
# Like NVIDIA's own stub, the libcuda stub's functions return
# CUDA_ERROR_STUB_LIBRARY (34); the cuBLAS stub's return
# CUBLAS_STATUS_NOT_INITIALIZED (1). No file is named after the SONAMEs
# (libcuda.so.1, ...), so the stubs cannot be loaded by accident at run time.
gen "$work/cuda.txt" "$CUDA_SONAME" "$SDK/stubs/libcuda.so" 34
gen "$work/cublas.txt" "$CUBLAS_SONAME" "$SDK/stubs/libcublas.so" 1
cp "$work/cuda.txt" "$SDK/stubs/libcuda.symbols"
cp "$work/cublas.txt" "$SDK/stubs/libcublas.symbols"
rm -rf "$work"
log "stubs: libcuda.so ($CUDA_SONAME, $(wc -l <"$SDK/stubs/libcuda.symbols") functions)," \
	"libcublas.so ($CUBLAS_SONAME, $(wc -l <"$SDK/stubs/libcublas.symbols") functions)"

echo "$WANT_STAMP" >"$STAMP"
log "done in ${SECONDS}s"
usage

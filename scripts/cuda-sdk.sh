#!/usr/bin/env bash
# cuda-sdk.sh — make the small CUDA build SDK that `go build -tags gpu` needs,
# once per user, in the user's cache, and share it between runs and clones:
#
#   SDK=${EVOSWARM_CUDA_SDK:-${XDG_CACHE_HOME:-$HOME/.cache}/evoswarm/cuda-$CUDA_SDK_VERSION}
#   $SDK/include/    the CUDA headers (cuda.h, cublas_v2.h, ...) from Debian's
#                    nvidia-cuda-dev (non-free; CUDA_SDK_VERSION, default 11.8)
#   $SDK/stubs/$CUBLAS_SONAME/
#                    stub shared libraries to link against: libcuda.so
#                    (SONAME libcuda.so.1) and libcublas.so (SONAME
#                    $CUBLAS_SONAME, default libcublas.so.13), made of one
#                    function, returning an error code, for every cu*/cublas*
#                    function that the headers declare. They are only linked,
#                    never run: the binary loads the real libraries of the GPU
#                    machine by SONAME (driver 580 / CUDA 13, pip's cuBLAS 13).
#
# The package (~774 MB) is fetched without changing the system: apt-get runs
# with a sources list, package lists and a download cache of its own in a
# scratch folder (Debian's non-free component on the mirror the machine
# already uses, checked against Debian's archive keyring as apt always
# does), so nothing under /etc/apt or /var/lib/apt is touched and no root is
# needed. Only the headers (~16 MB) are kept; the .deb and apt's files are
# deleted. CUDA_SDK_DEB=path/to/nvidia-cuda-dev_*.deb uses a package at hand
# instead of downloading one.
#
# Each part is complete only when its stamp file (.complete), written last,
# is there: an interrupted run leaves none, and the next run starts that part
# over. Runs from several clones at once wait for each other (flock).
# FORCE=1 makes everything again.
#
# Usage:
#   scripts/cuda-sdk.sh          make the SDK if needed; print how to build with it
#   scripts/cuda-sdk.sh --env    the same, but print only the shell assignments
#                                CUDA_SDK_INCLUDE=... and CUDA_SDK_STUBS=...
#                                (eval "$(scripts/cuda-sdk.sh --env)")
#   scripts/cuda-sdk.sh --check  exit 0 if the SDK is made, 1 if not; make
#                                nothing, print nothing
set -euo pipefail

CUDA_SDK_VERSION=${CUDA_SDK_VERSION:-11.8}
CUBLAS_SONAME=${CUBLAS_SONAME:-libcublas.so.13}
CUDA_SONAME=libcuda.so.1
CACHE=${XDG_CACHE_HOME:-${HOME:?}/.cache}/evoswarm
SDK=${EVOSWARM_CUDA_SDK:-$CACHE/cuda-$CUDA_SDK_VERSION}
STUBS=$SDK/stubs/$CUBLAS_SONAME
WANT_STUBS="v3 cuda=$CUDA_SONAME cublas=$CUBLAS_SONAME"

log() { printf 'cuda-sdk: %s\n' "$*" >&2; }

mode=usage
case "${1:-}" in
"") ;;
--env) mode=env ;;
--check) mode=check ;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac

headers_ok() {
	[[ -f $SDK/.complete && $(cat "$SDK/.complete") == "nvidia-cuda-dev $CUDA_SDK_VERSION."* &&
		-f $SDK/include/cuda.h && -f $SDK/include/cublas_v2.h && -f $SDK/include/cublas_api.h ]]
}
stubs_ok() {
	[[ -f $STUBS/.complete && $(cat "$STUBS/.complete") == "$WANT_STUBS" &&
		-f $STUBS/libcuda.so && -f $STUBS/libcublas.so ]]
}

done_msg() {
	if [[ $mode == env ]]; then
		printf 'CUDA_SDK_INCLUDE=%q\nCUDA_SDK_STUBS=%q\n' "$SDK/include" "$STUBS"
		return
	fi
	cat <<EOF
CUDA build SDK ready in $SDK
  headers: $SDK/include (from $(cat "$SDK/.complete"))
  stubs:   $STUBS/libcuda.so ($CUDA_SONAME), $STUBS/libcublas.so ($CUBLAS_SONAME)
Build with:
  CGO_CFLAGS=-I$SDK/include CGO_LDFLAGS=-L$STUBS go build -tags gpu ./...
  CGO_CFLAGS=-I$SDK/include CGO_LDFLAGS=-L$STUBS go test -tags gpu -c -o /tmp/cuda.test ./train/cuda/
(The stubs are for linking only; the binary needs the real $CUDA_SONAME and
$CUBLAS_SONAME at run time, e.g. LD_LIBRARY_PATH=<torch's site-packages>/nvidia/cu13/lib.)
EOF
}

if [[ $mode == check ]]; then
	headers_ok && stubs_ok
	exit
fi

# Fast path: everything there, no lock needed (complete parts never change).
if [[ ${FORCE:-0} != 1 ]] && headers_ok && stubs_ok; then
	done_msg
	exit 0
fi

for c in dpkg-deb gcc flock; do
	command -v "$c" >/dev/null || {
		log "$c not found (dpkg, gcc and util-linux are needed to make the SDK)"
		exit 1
	}
done
mkdir -p "$(dirname "$SDK")"
exec 9>"$SDK.lock"
if ! flock -n 9; then
	log "waiting for another cuda-sdk.sh run ($SDK.lock)"
	flock 9
fi
SECONDS=0
if [[ ${FORCE:-0} == 1 ]]; then
	rm -rf "$SDK"
fi

# ---------------------------------------------------------------- headers
# debian_mirror prints the URI of the machine's Debian archive (not the
# security archive) and its keyring, from apt's deb822 or one-line sources.
debian_mirror() {
	local uri="" key="" f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		if [[ -n $uri ]]; then
			key=$(awk '/^Signed-By:/ && $2 ~ /^\// { print $2; exit }' "$f")
			break
		fi
	done
	if [[ -z $uri ]]; then
		uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed -E 's/\[[^]]*\]//' | awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }')
	fi
	[[ -n $uri ]] || uri=http://deb.debian.org/debian
	[[ -n $key && -f $key ]] || key=/usr/share/keyrings/debian-archive-keyring.gpg
	printf '%s %s\n' "${uri%/}" "$key"
}

download() { # dir -> the .deb's path on stdout
	local w=$1 uri key codename apt cand
	command -v apt-get >/dev/null || {
		log "apt-get not found: set CUDA_SDK_DEB to a nvidia-cuda-dev $CUDA_SDK_VERSION .deb from Debian"
		exit 1
	}
	read -r uri key < <(debian_mirror)
	[[ -f $key ]] || { log "Debian's archive keyring $key is missing (package debian-archive-keyring)"; exit 1; }
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	codename=${codename:-bookworm}
	mkdir -p "$w/lists/partial" "$w/cache/archives/partial" "$w/etc/parts" "$w/etc/prefs" "$w/deb"
	cat >"$w/etc/sources.list" <<EOF
deb [signed-by=$key] $uri $codename non-free
deb [signed-by=$key] $uri $codename-updates non-free
EOF
	apt=(-o Dir::Etc::SourceList="$w/etc/sources.list" -o Dir::Etc::SourceParts="$w/etc/parts"
		-o Dir::Etc::Preferences="$w/etc/prefs/none" -o Dir::Etc::PreferencesParts="$w/etc/prefs"
		-o Dir::State::Lists="$w/lists" -o Dir::Cache="$w/cache" -o Dir::Cache::pkgcache=
		-o Dir::Cache::srcpkgcache= -o APT::Sandbox::User="$(id -un)" -o Acquire::Languages=none)
	log "apt-get update: $uri $codename{,-updates} non-free (private lists in $w)"
	apt-get "${apt[@]}" update -qq >&2
	cand=$(apt-cache "${apt[@]}" policy nvidia-cuda-dev | awk '/Candidate:/ { print $2 }')
	if [[ $cand != "$CUDA_SDK_VERSION."* ]]; then
		log "Debian $codename's non-free nvidia-cuda-dev is '${cand:-none}', not CUDA $CUDA_SDK_VERSION" \
			"(set CUDA_SDK_VERSION to build against another; gorgonia.org/cu builds with 11.8 and 12.x, not 13)"
		exit 1
	fi
	log "downloading nvidia-cuda-dev $cand (~774 MB)"
	(cd "$w/deb" && apt-get "${apt[@]}" download -q nvidia-cuda-dev 2>&1 | grep -v unsandboxed >&2) || true
	local debs=("$w"/deb/nvidia-cuda-dev_*.deb)
	[[ -f ${debs[0]} ]] || { log "download failed"; exit 1; }
	printf '%s\n' "${debs[0]}"
}

if ! headers_ok; then
	rm -rf "$SDK" # a part made by an interrupted run, or of another version
	mkdir -p "$SDK"
	work=$SDK/.work
	mkdir -p "$work"
	if [[ -n ${CUDA_SDK_DEB:-} ]]; then
		deb=$CUDA_SDK_DEB
	else
		deb=$(download "$work")
		log "download took ${SECONDS}s"
	fi
	version=$(dpkg-deb -f "$deb" Version)
	[[ $(dpkg-deb -f "$deb" Package) == nvidia-cuda-dev && $version == "$CUDA_SDK_VERSION."* ]] || {
		log "$deb is not nvidia-cuda-dev $CUDA_SDK_VERSION.*"
		exit 1
	}
	# One streaming pass over the package's data: only usr/include is
	# written to disk.
	t0=$SECONDS
	log "extracting usr/include from $(basename "$deb")"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './usr/include/*'
	mv "$work/usr/include" "$SDK/include"
	rm -rf "$work"
	for h in cuda.h cublas_v2.h cublas_api.h; do
		[[ -f $SDK/include/$h ]] || { log "no $h in $deb"; exit 1; }
	done
	echo "nvidia-cuda-dev $version" >"$SDK/.complete"
	log "extraction took $((SECONDS - t0))s ($(du -sh "$SDK/include" | cut -f1) of headers)"
fi

# ------------------------------------------------------------------- stubs
# The functions that the headers declare, as gcc sees them after the
# preprocessor (so cuda.h's `#define cuCtxCreate cuCtxCreate_v2` gives the
# real symbol name): gcc -aux-info lists every prototype with its origin
# and whether it was declared (C) or defined (F, e.g. static inline helpers,
# which are not library symbols).
if ! stubs_ok; then
	rm -rf "$STUBS"
	work=$STUBS/.work
	mkdir -p "$work"
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
	# (libcuda.so.1, ...), so the stubs cannot be loaded by accident at run
	# time.
	gen "$work/cuda.txt" "$CUDA_SONAME" "$STUBS/libcuda.so" 34
	gen "$work/cublas.txt" "$CUBLAS_SONAME" "$STUBS/libcublas.so" 1
	cp "$work/cuda.txt" "$STUBS/libcuda.symbols"
	cp "$work/cublas.txt" "$STUBS/libcublas.symbols"
	rm -rf "$work"
	echo "$WANT_STUBS" >"$STUBS/.complete"
	log "stubs: libcuda.so ($CUDA_SONAME, $(wc -l <"$STUBS/libcuda.symbols") functions)," \
		"libcublas.so ($CUBLAS_SONAME, $(wc -l <"$STUBS/libcublas.symbols") functions)"
fi

log "done in ${SECONDS}s"
done_msg

#!/usr/bin/env bash
# fetch-data.sh: fetch a data set for evoswarm and verify it against the
# checksums its official source publishes. See --help.
set -euo pipefail

readonly PROG="${0##*/}"

usage() {
	cat <<EOF
Usage: $PROG [--dir DIR] [--no-apt] NAME...

Fetches the data sets NAME (fashion-mnist, mnist, cifar10, cifar100) and
verifies each downloaded file's MD5 checksum against the one its official
source publishes (none of them publishes SHA-256).

  fashion-mnist  On Debian/Ubuntu, as root or with password-less sudo, installs
                 the package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
                 Otherwise, or with --no-apt, downloads the four IDX .gz files from
                 http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/
  mnist          the four IDX .gz files, from the mirror
                 https://ossci-datasets.s3.amazonaws.com/mnist/
  cifar10        cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/,
                 unpacked to cifar-10-batches-bin/
  cifar100       cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/,
                 unpacked to cifar-100-binary/

Downloads go to DIR/NAME, where DIR is, in order: --dir, \$EVOSWARM_DATA,
\${XDG_CACHE_HOME:-\$HOME/.cache}/evoswarm (here: $(data_root "")).
evoswarm looks for NAME in \$EVOSWARM_DATA/NAME, then in the user cache
directory's evoswarm/NAME, then in /usr/share/datasets/NAME.
Files already present with the right checksum are not downloaded again.

Options:
  --dir DIR   put the data under DIR/NAME
  --no-apt    never use apt-get; always download
  -h, --help  show this help
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

log() {
	echo "$PROG: $*" >&2
}

# data_root DIR: the directory data sets go under.
data_root() {
	if [[ -n "$1" ]]; then
		echo "$1"
	elif [[ -n "${EVOSWARM_DATA:-}" ]]; then
		echo "$EVOSWARM_DATA"
	else
		echo "${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/evoswarm"
	fi
}

# md5_of FILE: the file's MD5 in hex.
md5_of() {
	local sum
	sum=$(md5sum -- "$1")
	echo "${sum%% *}"
}

# download URL FILE MD5: downloads URL to FILE unless FILE already has the
# checksum, then verifies it; a file that fails is deleted.
download() {
	local url=$1 file=$2 want=$3 got
	if [[ -f "$file" && "$(md5_of "$file")" == "$want" ]]; then
		log "have $file"
		return 0
	fi
	log "downloading $url"
	local part="$file.part"
	if command -v curl >/dev/null; then
		curl --fail --location --retry 3 --connect-timeout 30 --output "$part" -- "$url" ||
			{
				rm -f -- "$part"
				die "download of $url failed"
			}
	elif command -v wget >/dev/null; then
		wget --tries=3 --timeout=30 --output-document="$part" -- "$url" ||
			{
				rm -f -- "$part"
				die "download of $url failed"
			}
	else
		die "neither curl nor wget is installed"
	fi
	got=$(md5_of "$part")
	if [[ "$got" != "$want" ]]; then
		rm -f -- "$part"
		die "$url: MD5 $got, want $want; file deleted, try again"
	fi
	mv -f -- "$part" "$file"
	log "verified $file (MD5 $want)"
}

# fetch_idx DEST BASEURL FILE MD5 [FILE MD5]...: downloads IDX files into DEST.
fetch_idx() {
	local dest=$1 base=$2
	shift 2
	mkdir -p -- "$dest"
	while (($# >= 2)); do
		download "$base$1" "$dest/$1" "$2"
		shift 2
	done
}

# fetch_tar DEST URL MD5 SUBDIR MARKER: downloads a tar.gz into DEST and
# unpacks its SUBDIR there, unless DEST/SUBDIR/MARKER exists already.
fetch_tar() {
	local dest=$1 url=$2 want=$3 subdir=$4 marker=$5
	local archive="$dest/${url##*/}"
	if [[ -f "$dest/$subdir/$marker" ]]; then
		log "have $dest/$subdir"
		return 0
	fi
	mkdir -p -- "$dest"
	download "$url" "$archive" "$want"
	local tmp
	tmp=$(mktemp -d -- "$dest/.unpack.XXXXXX")
	if ! tar -xzf "$archive" -C "$tmp"; then
		rm -rf -- "$tmp"
		die "cannot unpack $archive"
	fi
	if [[ ! -f "$tmp/$subdir/$marker" ]]; then
		rm -rf -- "$tmp"
		die "$archive holds no $subdir/$marker"
	fi
	rm -rf -- "${dest:?}/$subdir"
	mv -- "$tmp/$subdir" "$dest/$subdir"
	rm -rf -- "$tmp" "$archive"
	log "unpacked $dest/$subdir"
}

# apt_fashion_mnist: makes sure Debian's dataset-fashion-mnist is installed
# when that is possible here; returns 1 otherwise, so the caller downloads.
apt_fashion_mnist() {
	local sys=/usr/share/datasets/fashion-mnist
	if [[ -f "$sys/train-images-idx3-ubyte.gz" && -f "$sys/t10k-labels-idx1-ubyte.gz" ]]; then
		log "have $sys (Debian package dataset-fashion-mnist)"
		return 0
	fi
	command -v apt-get >/dev/null || return 1
	local -a sudo=()
	if ((EUID != 0)); then
		if ! command -v sudo >/dev/null || ! sudo -n true 2>/dev/null; then
			log "not root and no password-less sudo: downloading instead of apt-get install"
			return 1
		fi
		sudo=(sudo -n)
	fi
	if ! apt-cache show dataset-fashion-mnist >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update || return 1
		apt-cache show dataset-fashion-mnist >/dev/null 2>&1 || {
			log "no package dataset-fashion-mnist here: downloading instead"
			return 1
		}
	fi
	log "installing dataset-fashion-mnist with apt-get"
	"${sudo[@]}" apt-get install -y dataset-fashion-mnist || return 1
	log "installed $sys"
}

# fetch NAME ROOT NO_APT: fetches one data set into ROOT/NAME.
fetch() {
	local name=$1 root=$2 no_apt=$3
	local dest="$root/$name"
	case "$name" in
	fashion-mnist)
		if [[ -z "$no_apt" ]] && apt_fashion_mnist; then
			return 0
		fi
		fetch_idx "$dest" "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" \
			train-images-idx3-ubyte.gz 8d4fb7e6c68d591d4c3dfef9ec88bf0d \
			train-labels-idx1-ubyte.gz 25c81989df183df01b3e8a0aad5dffbe \
			t10k-images-idx3-ubyte.gz bef4ecab320f06d8554ea6380940ec79 \
			t10k-labels-idx1-ubyte.gz bb300cfdad3c16e7a12a480ee83cd310
		;;
	mnist)
		fetch_idx "$dest" "https://ossci-datasets.s3.amazonaws.com/mnist/" \
			train-images-idx3-ubyte.gz f68b3c2dcbeaaa9fbdd348bbdeb94873 \
			train-labels-idx1-ubyte.gz d53e105ee54ea40749a09fcbcd1e9432 \
			t10k-images-idx3-ubyte.gz 9fb629c4189551a2d022fa330f9573f3 \
			t10k-labels-idx1-ubyte.gz ec29112dd5afa0611ce80d1b7f02629c
		;;
	cifar10)
		fetch_tar "$dest" "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" \
			c58f30108f718f92721af3b95e74349a cifar-10-batches-bin test_batch.bin
		;;
	cifar100)
		fetch_tar "$dest" "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz" \
			03b5dce01913d631647c71ecec9e9cb8 cifar-100-binary test.bin
		;;
	*)
		die "unknown data set '$name': want fashion-mnist, mnist, cifar10 or cifar100 (see --help)"
		;;
	esac
	log "$name is in $dest"
}

main() {
	local dir="" no_apt=""
	local -a names=()
	while (($#)); do
		case "$1" in
		-h | --help)
			usage
			return 0
			;;
		--dir)
			(($# >= 2)) || die "--dir needs a directory"
			dir=$2
			shift
			;;
		--dir=*) dir=${1#--dir=} ;;
		--no-apt) no_apt=1 ;;
		--)
			shift
			names+=("$@")
			break
			;;
		-*) die "unknown option $1 (see --help)" ;;
		*) names+=("$1") ;;
		esac
		shift
	done
	if ((${#names[@]} == 0)); then
		usage >&2
		exit 2
	fi
	command -v md5sum >/dev/null || die "md5sum is not installed (coreutils)"
	local root name
	root=$(data_root "$dir")
	for name in "${names[@]}"; do
		fetch "$name" "$root" "$no_apt"
	done
}

main "$@"

#!/usr/bin/env bash
# make release: versioned binaries of the worker, the starter and the DataWorks
# emulator for linux and darwin, amd64 and arm64, one archive per platform with
# LICENSE, README.md and CHANGELOG.md, and SHA256SUMS, into
# $OUT/<version>/ (default dist/, git-ignored). Nothing is published.
#
# The version is the one Go stamps from git (runtime/debug.ReadBuildInfo):
# the tag on HEAD (git tag v0.1.0 first), else a pseudo-version. The tree must
# be clean, so that the binaries are the commit; ALLOW_DIRTY=1 builds anyway,
# marked +dirty. PLATFORMS="linux/amd64 …" narrows the list.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}
BINARIES=(worker starter dataworks-emulator)
PACKAGES=(./worker ./starter ./cmd/dataworks-emulator)

die() { echo "release: $*" >&2; exit 1; }

# Reproducible archives need GNU tar's --sort and --mtime (macOS: brew install gnu-tar, TAR=gtar).
TAR=${TAR:-tar}
"$TAR" --version 2>/dev/null | grep -q 'GNU tar' || die "$TAR is not GNU tar: install it (macOS: brew install gnu-tar) and run TAR=gtar make release"
if command -v sha256sum >/dev/null; then sha256() { sha256sum -- "$@"; }; else sha256() { shasum -a 256 -- "$@"; }; fi

if [[ -n "$(git status --porcelain --untracked-files=no)" && "${ALLOW_DIRTY:-}" != 1 ]]; then
	die "the work tree has uncommitted changes: commit them (or ALLOW_DIRTY=1 for a trial build, versioned +dirty)"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# The Dockerfile's flags, and -buildvcs=true over any GOFLAGS=-buildvcs=false:
# the version and revision come from the VCS stamp.
build() { # os arch dir
	CGO_ENABLED=0 GOOS=$1 GOARCH=$2 go build -buildvcs=true -trimpath -ldflags='-s -w' -o "$3/" "${PACKAGES[@]}"
}

# version reads the module version Go stamped into a binary of any platform.
version() {
	go version -m "$1" | awk '$1 == "mod" { print $3; exit }'
}

first=${PLATFORMS%% *}
build "${first%/*}" "${first#*/}" "$stage/probe"
v=$(version "$stage/probe/worker")
if [[ -z "$v" || "$v" == "(devel)" ]] || ! go version -m "$stage/probe/worker" | grep -q 'vcs.revision='; then
	die "Go stamped no version into the binaries: build from a git clone with git installed (Go does not stamp builds in a git worktree)"
fi

dest="$OUT/$v"
rm -rf "$dest"
mkdir -p "$dest"
commit_time=$(git log -1 --format=%ct)
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	name="manualdag_${v}_${os}_${arch}"
	dir="$stage/$name"
	build "$os" "$arch" "$dir"
	for b in "${BINARIES[@]}"; do
		[[ "$(version "$dir/$b")" == "$v" ]] || die "$name/$b is not version $v"
	done
	cp LICENSE README.md CHANGELOG.md "$dir/"
	# Reproducible archives: fixed order, owner and times.
	"$TAR" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$commit_time" -C "$stage" -cf - "$name" | gzip -n >"$dest/$name.tar.gz"
	echo "release: $dest/$name.tar.gz"
done
(cd "$dest" && sha256 *.tar.gz >SHA256SUMS)
echo "release: $dest/SHA256SUMS (verify with: cd $dest && sha256sum -c SHA256SUMS)"

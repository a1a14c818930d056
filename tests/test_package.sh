#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and checks what a package
# would hold: the binaries run from there and say their version, the desktop
# file's Exec and Icon resolve inside the prefix, the man pages and the bash
# completion are there and complete, and nothing points back into the source
# or build tree.
#
#   tests/test_package.sh BUILD_DIR SOURCE_DIR VERSION
set -euo pipefail
build=$1 source=$2 version=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null

# Each installed binary runs with a bare environment and names this version.
check_version() {
    local out
    out=$(env -i PATH=/usr/bin:/bin HOME="$prefix" QT_QPA_PLATFORM=offscreen "$prefix/bin/$1" --version) ||
        fail "$1 --version failed"
    [[ $out == *"$version"* ]] || fail "$1 --version says '$out', not $version"
    echo "ok: $out"
}
check_version liftlab-cli
losses=$(env -i PATH=/usr/bin:/bin "$prefix/bin/liftlab-cli" losses) || fail "liftlab-cli losses"
[[ $losses == *lifted* ]] || fail "liftlab-cli losses lists no lifted loss"

# No run path, and no other path, into the source or build tree.
for binary in "$prefix"/bin/*; do
    if readelf -d "$binary" | grep -E 'R(UN)?PATH' | grep -qE "$build|$source"; then
        fail "$binary has a run path into the build or source tree"
    fi
done

# The page's text whole (grep -q on a pipe would end gzip early, a SIGPIPE under pipefail).
man_page() { gzip -dc "$prefix/share/man/man1/$1.1.gz"; }
[[ $(man_page liftlab-cli) == *"$version"* ]] || fail "man page of liftlab-cli"
"$source/packaging/check_completion.sh" "$prefix/bin/liftlab-cli" \
    "$prefix/share/bash-completion/completions/liftlab-cli"
for file in share/liftlab/export_backbone.py share/liftlab/README.md share/doc/liftlab/README.md \
            share/doc/liftlab/LICENSE share/doc/liftlab/copyright share/doc/liftlab/changelog.gz; do
    [[ -s $prefix/$file ]] || fail "$file not installed"
done
[[ -x $prefix/share/liftlab/export_backbone.py ]] || fail "export_backbone.py is not executable"

# The window: only where it was built.
if [[ -x $build/app/liftlab ]]; then
    check_version liftlab
    [[ $(man_page liftlab) == *"$version"* ]] || fail "man page of liftlab"
    desktop=$prefix/share/applications/io.github.liftlab.LiftLab.desktop
    [[ -f $desktop ]] || fail "no desktop file"
    exec_program=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$desktop")
    [[ -x $prefix/bin/$exec_program ]] || fail "Exec=$exec_program is not in $prefix/bin"
    icon=$(sed -n 's/^Icon=//p' "$desktop")
    for size in 16x16 32x32 48x48 256x256; do
        [[ -s $prefix/share/icons/hicolor/$size/apps/$icon.png ]] || fail "no $size icon $icon"
    done
    [[ -s $prefix/share/icons/hicolor/scalable/apps/$icon.svg ]] || fail "no scalable icon $icon"
    [[ -s $prefix/share/metainfo/io.github.liftlab.LiftLab.metainfo.xml ]] || fail "no metainfo"
    grep -q "<launchable type=\"desktop-id\">$(basename "$desktop")</launchable>" \
        "$prefix/share/metainfo/io.github.liftlab.LiftLab.metainfo.xml" || fail "metainfo does not launch $desktop"
    desktop-file-validate "$desktop" || fail "desktop-file-validate"
    appstreamcli validate --no-net "$prefix/share/metainfo/io.github.liftlab.LiftLab.metainfo.xml" ||
        fail "appstreamcli validate"
    echo "ok: Exec=$exec_program, Icon=$icon"
fi
echo "ok: $prefix holds LiftLab $version"

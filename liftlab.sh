#!/usr/bin/env bash
# LiftLab entry point.
#   ./liftlab.sh run    install what is missing, build, start LiftLab
#                       (the GUI with a display, the headless demo without)
#   ./liftlab.sh test   install what is missing, build, run the test suite
#   ./liftlab.sh test --sanitize
#                       the unit and GUI tests built by clang with AddressSanitizer,
#                       LeakSanitizer and UndefinedBehaviorSanitizer, then each
#                       parser's libFuzzer target for 30 s (build/sanitize)
#   ./liftlab.sh build  install what is missing and build only
#   ./liftlab.sh package
#                       install what is missing, build, and make the Debian package
#                       build/package/liftlab_<version>_amd64.deb (then lintian on it)
#   ./liftlab.sh build --headless
#                       liftlab-cli and the unit tests only, without the GUI
#                       toolkit (servers, cluster nodes): build/headless
set -euo pipefail
cd "$(dirname "$0")"

# Debian 12 packages needed to build, test and run liftlab-cli.
PACKAGES=(
    cmake ninja-build g++ pkg-config
    libtorch-dev libopenblas0-pthread   # OpenBLAS: without it torch's matmul is ~25x slower
    libgloo-dev                         # torch.distributed's Gloo backend (its headers)
    qt6-base-dev                        # QtCore (JSON, the tests' QtTest)
    zlib1g-dev libcli11-dev libfftw3-dev   # FFTW: t-SNE repulsion by FFT
    libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev   # image datasets
    libmatio-dev                        # Cars196's cars_annos.mat
    libfreetype-dev fonts-dejavu-core fonts-dejavu-extra   # the glyphs dataset
    python3-torch python3-torchvision   # models/export_backbone.py, and the tests that use it
    dataset-fashion-mnist               # the embedded default dataset
)

# And for the window.
GUI_PACKAGES=(qt6-charts-dev libqt6opengl6-dev libxkbcommon-dev)

# The desktop file's and metainfo's validators (the `package` tests).
GUI_PACKAGES+=(desktop-file-utils appstream)

# What the package mode needs: dpkg-shlibdeps (dpkg-dev) and `file` compute
# the package's dependencies; lintian checks it.
PACKAGE_PACKAGES=(dpkg-dev file lintian)

# The sanitize mode's compiler and runtimes.
SANITIZE_PACKAGES=(clang-14 libclang-rt-14-dev libomp-14-dev)

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "liftlab: installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
    cmake --preset release >/dev/null
    cmake --build --preset release
}

case "${1:-run}" in
    run)
        PACKAGES+=("${GUI_PACKAGES[@]}")
        install_packages
        build
        shift || true
        if [ -x build/release/app/liftlab ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
            exec build/release/app/liftlab "$@"
        fi
        exec build/release/app/liftlab-cli demo "$@"
        ;;
    test)
        if [ "${2:-}" = --sanitize ]; then
            PACKAGES+=("${GUI_PACKAGES[@]}" "${SANITIZE_PACKAGES[@]}")
            install_packages
            cmake --preset sanitize >/dev/null
            cmake --build --preset sanitize
            ctest --preset sanitize
            ctest --preset fuzz
        else
            PACKAGES+=("${GUI_PACKAGES[@]}")
            install_packages
            build
            ctest --preset release
        fi
        ;;
    package)
        PACKAGES+=("${GUI_PACKAGES[@]}" "${PACKAGE_PACKAGES[@]}")
        install_packages
        build
        rm -rf build/package
        cpack --config build/release/CPackConfig.cmake -B build/package
        deb=$(ls build/package/liftlab_*.deb)
        echo "liftlab: $deb"
        # Errors fail the build; warnings are listed and justified in packaging/README.md.
        lintian --fail-on error "$deb"
        ;;
    build)
        if [ "${2:-}" = --headless ]; then
            install_packages
            cmake --preset headless >/dev/null
            cmake --build --preset headless
        else
            PACKAGES+=("${GUI_PACKAGES[@]}")
            install_packages
            build
        fi
        ;;
    *)
        echo "usage: $0 [run|test|build|package]" >&2
        exit 2
        ;;
esac

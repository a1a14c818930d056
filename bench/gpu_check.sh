#!/usr/bin/env bash
# GPU check: liftlab-cli trains the same short run on `cuda` and on `cpu`, and
# the per-step losses and the final Recall@1 must agree. Made for a bare GPU
# machine: one NVIDIA GPU, CUDA (nvcc), CMake, ninja, g++ and a python3 whose
# PyTorch 2.x wheel holds a CUDA libtorch, but no package registry, and at most
# 64 MiB that travels with the working tree. CI never runs it.
#
#   bench/gpu_check.sh prepare   on Debian 12 (here): download the .deb files
#                                of the libraries the headless build needs,
#                                make stand-ins for the ones left out, and a
#                                small Fashion-MNIST, all into build/gpu-debs
#                                (ignored by git: carry that one folder)
#   bench/gpu_check.sh [check] [--logs DIR]
#                                on the GPU machine: unpack the .debs into a
#                                prefix, build liftlab-cli against python3's
#                                libtorch (build/gpu-check), train on cuda and
#                                on cpu, compare. Without an NVIDIA GPU it says
#                                so and exits 0, having checked nothing. Exit 1:
#                                the runs disagree; 2: it could not get as far
#                                as comparing. Logs and the run folders go to
#                                DIR (default build/gpu-check/logs).
#
# Settings (environment):
#   GPU_CHECK_STEPS=200          training steps of each run
#   GPU_CHECK_TOL_FIRST=1e-3     relative difference allowed in step 1's loss
#                                (same weights, same batch: only the arithmetic
#                                differs)
#   GPU_CHECK_TOL_EARLY=1e-2     ... in each loss of the first 20 steps
#   GPU_CHECK_TOL_LATE=5e-2      ... between the two runs' mean loss over their
#                                last 20 steps (rounding differences grow as
#                                training goes on; a wrong kernel is far off)
#   GPU_CHECK_TOL_RECALL=0.02    absolute difference allowed in the final R@1
#   GPU_CHECK_TF32=0             1: let cuDNN/cuBLAS use TF32 (their default on
#                                Ampere and later; NVIDIA_TF32_OVERRIDE=0 turns
#                                it off here so that the GPU computes in FP32)
#   GPU_CHECK_NCCL=0             1: -DLIFTLAB_NCCL=ON (USE_C10D_NCCL) with the
#                                wheel's nccl.h
#   GPU_CHECK_CXX_STANDARD       C++ standard; default 17, 20 for torch >= 2.12
#   TORCH_PREFIX                 libtorch's CMake folder (default: python3's
#                                torch.utils.cmake_prefix_path)
#   LIFTLAB_GPU_CHECK_FORCE=1    run without a GPU: build as above, then
#                                compare `cpu --kernels generic` (in the place
#                                of cuda) with `cpu` (to test the script here:
#                                TORCH_PREFIX=/usr/lib/x86_64-linux-gnu/cmake)
#   GPU_CHECK_RUN_A, GPU_CHECK_RUN_B
#                                the device options of the two runs (default
#                                "--device cuda" and "--device cpu")
#
# What the prefix holds and why (prepare prints the sizes): QtCore (+ QtTest,
# which find_package asks for, moc and the other tools Qt6CoreTools checks for,
# qmake6's mkspecs) and ICU, glib, pcre2; OpenCV core/imgproc/imgcodecs and the
# image libraries imgcodecs needs; FFTW (float), matio, FreeType, zlib; the
# header-only CLI11, nlohmann-json (some torch 2.x headers include it, the
# wheel does not ship it) and gloo (ProcessGroupGloo.hpp includes it; the
# wheel's own gloo headers are used when it has them); pkgconf in case
# pkg-config is missing. Left out, because their dependencies explode (GDAL
# alone pulls in ~60 packages) and the check never calls them: GDAL and GDCM
# (imgcodecs), HDF5 (matio: .mat v7.3), BLAS/LAPACK (OpenCV core) and GLX
# (OpenCV core's OpenGL interop). In their place prepare builds stand-in
# libraries with the same sonames that define exactly the symbols the kept
# libraries import from them (Debian links OpenCV with -z now, so every symbol
# must resolve at load time); each aborts with its name if ever called. So
# liftlab-cli built this way reads no DICOM, GDAL raster or v7.3 .mat file and
# cannot run cv::solve-like LAPACK paths: enough for this check, not a build
# to ship.
#
# Risks this script checks for, and what happens:
# - C++ ABI. PyTorch wheels before 2.7 are built with _GLIBCXX_USE_CXX11_ABI=0
#   and TorchConfig.cmake puts that on every target that links torch; Debian's
#   Qt and OpenCV use the new ABI. LiftLab passes std::string to three of their
#   functions (cv::imread, QByteArray::toStdString/fromStdString), so an
#   old-ABI build fails to link. The check reads the ABI from TorchConfig.cmake
#   (python3: torch.compiled_with_cxx11_abi()) and stops with that message
#   (torch 2.7 and later wheels, and Debian's libtorch, use the new ABI).
# - glibc and libstdc++. Debian 12's libraries need glibc >= 2.35 (QtCore) and
#   GLIBCXX_3.4.30 (GCC 12's libstdc++); prepare records the exact maxima in
#   build/gpu-debs/manifest.txt and the check compares them with the machine's
#   before building (Ubuntu 22.04 has 2.35/3.4.30, 24.04 2.39/3.4.33).
# - CUDA discovery. find_package(Torch) of a CUDA libtorch enables CUDA and
#   looks for the toolkit: the check passes nvcc (PATH, $CUDA_HOME,
#   /usr/local/cuda) as CMAKE_CUDA_COMPILER, CUDAToolkit_ROOT and
#   CUDA_TOOLKIT_ROOT_DIR, the GPU's architecture as CMAKE_CUDA_ARCHITECTURES
#   and TORCH_CUDA_ARCH_LIST, and python3 as PYTHON_EXECUTABLE. A missing
#   cuDNN/cuSPARSELt/kineto gives warnings only. If the configure step still
#   fails, its log is in the logs folder.
# - Two OpenMP runtimes: the wheel's libtorch brings its own libgomp, LiftLab
#   links the system's. Both work; CPU images/s may suffer from the two pools.
# - The wheel's NCCL: USE_C10D_NCCL stays off unless GPU_CHECK_NCCL=1.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=build/gpu-debs          # what prepare makes and the GPU machine needs (carry it)
WORK=build/gpu-check         # the GPU machine's build, prefix, runs and logs
ARCH=x86_64-linux-gnu

# Libraries the headless build links, and what they load (Debian 12 names).
RUNTIME_PACKAGES=(
    libqt6core6 libqt6test6 libicu72 libglib2.0-0 libdouble-conversion3 libb2-1
    libpcre2-16-0 libpcre2-8-0 libzstd1
    libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libtbb12
    libjpeg62-turbo libwebp7 libpng16-16 libtiff6 libjbig0 liblerc4 libdeflate0 liblzma5
    libopenjp2-7 libopenexr-3-1-30 libimath-3-1-29
    libfftw3-single3 libmatio11 libfreetype6 libbrotli1 zlib1g
)
# Headers, CMake and pkg-config files, .so links, Qt's tools; pkg-config itself.
DEV_PACKAGES=(
    qt6-base-dev qt6-base-dev-tools qmake6
    libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
    libfftw3-dev libmatio-dev libfreetype-dev zlib1g-dev
    libcli11-dev libgloo-dev nlohmann-json3-dev
    pkgconf-bin libpkgconf3
)
# Left out; a stand-in of the same soname is built (see above).
STUB_LIBRARIES=(libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0 libhdf5_serial.so.103
                libblas.so.3 liblapack.so.3 libGLX.so.0)
# What liftlab-cli and the build load from the prefix.
ROOT_LIBRARIES="libQt6Core.so.6 libQt6Test.so.6 libopencv_core.so.406 libopencv_imgproc.so.406 libopencv_imgcodecs.so.406
                libmatio.so.11 libfftw3f.so.3 libfreetype.so.6 libz.so.1 usr/lib/qt6/libexec/moc usr/bin/pkgconf"
# What any machine that builds C++ has: glibc's and GCC's runtime libraries.
BASE_LIBRARIES="libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 ld-linux-x86-64.so.2
                libstdc++.so.6 libgcc_s.so.1 libgomp.so.1"
# The Fashion-MNIST subset the runs train and test on (IDX files, gzip).
TRAIN_IMAGES=10000
TEST_IMAGES=5000

say() { echo "gpu_check: $*"; }
die() { echo "gpu_check: $*" >&2; exit 2; }

# --- prepare (Debian 12) ------------------------------------------------------

# Unpacks every .deb in $1 into $2.
unpack_debs() {
    local from=$1 into=$2 deb
    mkdir -p "$into"
    for deb in "$from"/*.deb; do
        if command -v dpkg-deb >/dev/null; then
            dpkg-deb -x "$deb" "$into"
        else
            local tmp
            tmp=$(mktemp -d)
            (cd "$tmp" && ar x "$deb")
            tar -xf "$tmp"/data.tar.* -C "$into"
            rm -rf "$tmp"
        fi
    done
}

# Writes and compiles the stand-in libraries into $2 from the prefix $1:
# for each soname in STUB_LIBRARIES, the symbols (with their versions) that
# the prefix's libraries import and this machine's real library defines.
make_stubs() {
    local prefix=$1 out=$2
    mkdir -p "$out"
    python3 - "$prefix" "$out" "${STUB_LIBRARIES[@]}" <<'EOF'
import os, re, subprocess, sys
prefix, out, stubs = sys.argv[1], sys.argv[2], sys.argv[3:]

def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

def elf(path):
    with open(path, 'rb') as f:
        return f.read(4) == b'\x7fELF'

system = {}
for line in run('ldconfig', '-p').splitlines():
    m = re.match(r'\s*(\S+) \(libc6,x86-64.*\) => (\S+)', line)
    if m:
        system.setdefault(m.group(1), m.group(2))

kept = []
for d, _, files in os.walk(prefix):
    for f in files:
        p = os.path.join(d, f)
        if '.so' in f and not os.path.islink(p) and elf(p):
            kept.append(p)

for soname in stubs:
    real = system.get(soname)
    if not real:
        sys.exit(f'{soname} is not installed here: its symbols are read from it (./liftlab.sh build --headless installs it)')
    defs = {}
    for line in run('readelf', '-W', '--dyn-syms', real).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0][:-1].isdigit() and f[6] != 'UND':
            defs[f[7].split('@')[0]] = (f[3], int(f[2], 0) if f[2].startswith('0x') else int(f[2]))
    wanted = {}
    for lib in kept:
        if soname not in re.findall(r'NEEDED.*\[(.*)\]', run('readelf', '-d', lib)):
            continue
        for line in run('nm', '-D', '--undefined-only', lib).splitlines():
            name = line.split()[-1]
            base, _, version = name.partition('@')
            if base in defs:
                wanted[base] = version.lstrip('@')
    if not wanted:
        sys.exit(f'nothing in the prefix imports from {soname}: drop it from STUB_LIBRARIES')
    c = [f'/* Stand-in for {soname}, made by bench/gpu_check.sh prepare: every function aborts. */',
         'extern long write(int, const void *, unsigned long);', 'extern void abort(void);',
         'static void stub(const char *name) {',
         f'    static const char what[] = "gpu_check stand-in {soname}: called ";',
         '    unsigned long n = 0; while (name[n]) ++n;',
         '    write(2, what, sizeof what - 1); write(2, name, n); write(2, "\\n", 1); abort();', '}']
    for name, version in sorted(wanted.items()):
        kind, size = defs[name]
        if kind == 'OBJECT':
            c.append(f'char {name}[{max(size, 1)}] __attribute__((aligned(16)));')
        elif kind == 'TLS':
            c.append(f'__thread char {name}[{max(size, 1)}];')
        else:
            c.append(f'void {name}(void) {{ stub("{name}"); }}')
    source = os.path.join(out, soname + '.c')
    open(source, 'w').write('\n'.join(c) + '\n')
    cmd = ['gcc', '-shared', '-fPIC', '-O1', '-w', '-nostartfiles', '-o', os.path.join(out, soname), '-Wl,-soname,' + soname, source]
    versions = sorted({v for v in wanted.values() if v})
    if versions:
        script = os.path.join(out, soname + '.map')
        with open(script, 'w') as f:
            for v in versions:
                f.write(v + ' { global: ' + ' '.join(n + ';' for n, w in sorted(wanted.items()) if w == v) + ' };\n')
        cmd.insert(1, '-Wl,--version-script=' + script)
    subprocess.run(cmd, check=True)
    os.remove(source)
    if versions:
        os.remove(script)
    print(f'  stand-in {soname}: {len(wanted)} symbols' + (f' ({", ".join(versions)})' if versions else ''))
EOF
}

# Writes the first N images of a Fashion-MNIST IDX pair from $1 into $2.
make_dataset() {
    local from=$1 out=$2
    mkdir -p "$out"
    python3 - "$from" "$out" "$TRAIN_IMAGES" "$TEST_IMAGES" <<'EOF'
import gzip, os, struct, sys
src, out, ntrain, ntest = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for part, n in (('train', ntrain), ('t10k', ntest)):
    for kind, item in (('images-idx3-ubyte', 28 * 28), ('labels-idx1-ubyte', 1)):
        data = gzip.open(os.path.join(src, f'{part}-{kind}.gz')).read()
        dims = data[3]
        header = bytearray(data[:4 + 4 * dims])
        struct.pack_into('>I', header, 4, n)
        body = data[4 + 4 * dims:4 + 4 * dims + n * item]
        assert len(body) == n * item
        with open(os.path.join(out, f'{part}-{kind}.gz'), 'wb') as f:
            with gzip.GzipFile(fileobj=f, mode='wb', mtime=0) as g:
                g.write(bytes(header) + body)
EOF
}

# Prints the highest GLIBC_ and GLIBCXX_ versions that the ELF files under $1 need.
needed_versions() {
    # objdump fails on the scripts among them: their symbols are not wanted.
    { find "$1" -type f \( -name '*.so*' -o -path '*/libexec/*' -o -path '*/bin/*' \) -print0 |
        xargs -0 objdump -T 2>/dev/null || true; } | grep -o 'GLIBC_[0-9.]*\|GLIBCXX_3\.[0-9.]*' | sort -u |
        awk -F_ '{print $1, $2}' | sort -k1,1 -k2,2V |
        awk '{max[$1] = $2} END {print "glibc", max["GLIBC"]; print "glibcxx", max["GLIBCXX"]}'
}

prepare() {
    grep -q '^12' /etc/debian_version 2>/dev/null || die "prepare runs on Debian 12 (its package names and libraries)"
    for tool in apt-get dpkg-deb python3 gcc objdump nm readelf; do
        command -v $tool >/dev/null || die "prepare needs $tool"
    done
    local staging=$WORK-prepare
    rm -rf "$DEBS" "$staging"
    mkdir -p "$DEBS/debs" "$staging"
    say "downloading ${#RUNTIME_PACKAGES[@]} + ${#DEV_PACKAGES[@]} packages"
    if ! (cd "$DEBS/debs" && apt-get download -q "${RUNTIME_PACKAGES[@]}" "${DEV_PACKAGES[@]}") >"$staging/download.log" 2>&1; then
        cat "$staging/download.log" >&2
        die "apt-get download failed (apt-get update first?)"
    fi

    # The prefix as the GPU machine will see it, to read it.
    unpack_debs "$DEBS/debs" "$staging/prefix"
    say "stand-ins for the libraries left out:"
    make_stubs "$staging/prefix" "$DEBS/stubs"

    # Every library in the prefix must find what it loads: in the prefix, a
    # stand-in, or the base system.
    local missing
    missing=$(python3 - "$staging/prefix" "$DEBS/stubs" "$BASE_LIBRARIES" "$ROOT_LIBRARIES" <<'EOF'
import os, re, subprocess, sys
prefix, stubs, base, roots = sys.argv[1], sys.argv[2], set(sys.argv[3].split()), sys.argv[4].split()
where = {f: None for f in os.listdir(stubs)}
for d, _, files in os.walk(prefix):
    for f in files:
        if '.so' in f:
            where.setdefault(f, os.path.join(d, f))
todo = [os.path.join(prefix, r) if '/' in r else r for r in roots]
seen = set()
while todo:
    lib = todo.pop()
    path = lib if lib.startswith('/') else where.get(lib)
    if lib in seen or path is None:
        continue
    seen.add(lib)
    for n in re.findall(r'NEEDED.*\[(.*)\]', subprocess.run(['readelf', '-d', path], capture_output=True, text=True).stdout):
        if n in base:
            continue
        if n not in where:
            print(f'{os.path.relpath(path, prefix)} needs {n}')
        todo.append(n)
EOF
)
    [ -z "$missing" ] || die "the prefix is not closed:
$missing"
    # And every symbol must resolve at load time (as -z now asks), the stand-ins' too.
    LD_LIBRARY_PATH=$staging/prefix/usr/lib/$ARCH:$staging/prefix/lib/$ARCH:$DEBS/stubs python3 - $ROOT_LIBRARIES <<'EOF' ||
import ctypes, os, sys
for lib in sys.argv[1:]:
    if '/' not in lib:
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL | os.RTLD_NOW)
EOF
        die "a library of the prefix does not load with the stand-ins"

    say "Fashion-MNIST subset: $TRAIN_IMAGES training and $TEST_IMAGES test images"
    local fashion=/usr/share/datasets/fashion-mnist
    if [ ! -f $fashion/train-images-idx3-ubyte.gz ]; then
        (cd "$staging" && apt-get download -q dataset-fashion-mnist >/dev/null) || die "cannot download dataset-fashion-mnist"
        dpkg-deb -x "$staging"/dataset-fashion-mnist_*.deb "$staging/fashion"
        fashion=$staging/fashion/usr/share/datasets/fashion-mnist
    fi
    make_dataset $fashion "$DEBS/fashion-mnist"

    {
        echo "# bench/gpu_check.sh prepare, $(date -u +%F), Debian $(cat /etc/debian_version)"
        needed_versions "$staging/prefix"
        for deb in "$DEBS"/debs/*.deb; do
            echo "deb $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
        done
        for stub in "${STUB_LIBRARIES[@]}"; do echo "stub $stub"; done
    } >"$DEBS/manifest.txt"
    rm -rf "$staging"

    local debs stubs data tracked untracked total
    debs=$(du -cb "$DEBS"/debs/*.deb | tail -1 | cut -f1)
    stubs=$(du -cb "$DEBS"/stubs/* | tail -1 | cut -f1)
    data=$(du -cb "$DEBS"/fashion-mnist/* | tail -1 | cut -f1)
    tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
    untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
    total=$((debs + stubs + data + tracked + ${untracked:-0}))
    mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
    say "$(ls "$DEBS"/debs | wc -l) .deb files $(mib "$debs"), stand-ins $(mib "$stubs"), dataset $(mib "$data")"
    say "with the working tree ($(mib "$tracked") tracked, $(mib "${untracked:-0}") untracked): $(mib "$total") of the 64 MiB that may travel"
    grep '^glibc' "$DEBS/manifest.txt" | sed 's/^/gpu_check: needs /'
    say "done: carry $DEBS, run bench/gpu_check.sh there"
}

# --- check (the GPU machine) ----------------------------------------------------

# 0 when version $1 >= $2.
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | sed -n 1p)" = "$2" ]; }

have_gpu() {
    command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || return 1
    command -v python3 >/dev/null && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null
}

check() {
    local logs=""
    while [ $# -gt 0 ]; do
        case $1 in
            --logs) logs=$2; shift 2 ;;
            *) die "unknown argument $1 (usage: $0 [prepare | check [--logs DIR]])" ;;
        esac
    done
    local force=${LIFTLAB_GPU_CHECK_FORCE:-0}
    if [ "$force" != 1 ] && ! have_gpu; then
        say "no NVIDIA GPU here (nvidia-smi, or torch.cuda.is_available() in python3, says none): nothing was checked"
        exit 0
    fi
    [ -f "$DEBS/manifest.txt" ] || die "$DEBS is missing: run bench/gpu_check.sh prepare on Debian 12 and bring that folder along"
    for tool in cmake ninja c++ python3; do
        command -v $tool >/dev/null || die "$tool is missing"
    done
    logs=${logs:-$WORK/logs}
    mkdir -p "$logs"
    logs=$(cd "$logs" && pwd)
    local root
    root=$(pwd)

    # libtorch and its ABI.
    local torch_prefix=${TORCH_PREFIX:-} torch_version="" torch_cmake
    if [ -z "$torch_prefix" ]; then
        torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)') || die "python3 has no torch (set TORCH_PREFIX)"
        torch_version=$(python3 -c 'import torch; print(torch.__version__)')
    fi
    torch_cmake=$(find "$torch_prefix" -maxdepth 3 -name TorchConfig.cmake -print -quit)
    [ -n "$torch_cmake" ] || die "no TorchConfig.cmake under $torch_prefix"
    if grep -q '_GLIBCXX_USE_CXX11_ABI=0' "$torch_cmake" "$(dirname "$torch_cmake")"/*.cmake 2>/dev/null; then
        die "this libtorch ($torch_cmake) uses the old C++ ABI (_GLIBCXX_USE_CXX11_ABI=0, the PyTorch wheels before 2.7):
  Debian's Qt and OpenCV use the new one, and liftlab-cli would not link (cv::imread and
  QByteArray::toStdString/fromStdString take a std::string). Use a PyTorch 2.7 or later wheel."
    fi
    local standard=${GPU_CHECK_CXX_STANDARD:-17}
    if [ -z "${GPU_CHECK_CXX_STANDARD:-}" ] && [ -n "$torch_version" ] && version_ge "${torch_version%%+*}" 2.12; then
        standard=20
    fi

    # The machine against what the Debian 12 libraries need.
    local need_glibc need_glibcxx glibc libstdcxx glibcxx
    need_glibc=$(awk '$1 == "glibc" {print $2}' "$DEBS/manifest.txt")
    need_glibcxx=$(awk '$1 == "glibcxx" {print $2}' "$DEBS/manifest.txt")
    glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
    libstdcxx=$(c++ -print-file-name=libstdc++.so.6)
    glibcxx=$(grep -ao 'GLIBCXX_3\.4\.[0-9]*' "$(readlink -f "$libstdcxx")" | sed 's/GLIBCXX_//' | sort -uV | tail -1)
    version_ge "$glibc" "$need_glibc" ||
        die "this machine's glibc is $glibc; the Debian 12 libraries in $DEBS need $need_glibc (a newer OS image, e.g. Ubuntu 22.04 or later)"
    version_ge "$glibcxx" "$need_glibcxx" ||
        die "this machine's libstdc++ ($libstdcxx) goes up to GLIBCXX_$glibcxx; the Debian 12 libraries need GLIBCXX_$need_glibcxx (GCC 12 or later)"

    # The prefix: the .debs unpacked, links and pkg-config files pointed into it.
    local prefix=$root/$WORK/prefix
    if [ ! -f "$prefix/.stamp" ] || ! cmp -s "$DEBS/manifest.txt" "$prefix/.stamp"; then
        say "unpacking $(ls "$DEBS"/debs/*.deb | wc -l) .deb files into $WORK/prefix"
        rm -rf "$prefix"
        unpack_debs "$DEBS/debs" "$prefix"
        local link target pc
        while read -r link; do
            target=$(readlink "$link")
            case $target in /*) ln -sfn "$prefix$target" "$link" ;; esac
        done < <(find "$prefix" -type l)
        for pc in "$prefix/usr/lib/$ARCH"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc; do
            [ -f "$pc" ] || continue
            sed -i -E "s#(^|[= ])(-[IL])?/usr(/|\$)#\1\2$prefix/usr\3#g" "$pc"
        done
        # matio's HDF5 is a stand-in: nothing of LiftLab's calls it directly.
        sed -i -E 's# -L[^ ]*hdf5[^ ]*##g; s# -lhdf5##g; s# -I[^ ]*hdf5[^ ]*##g' "$prefix/usr/lib/$ARCH/pkgconfig/matio.pc"
        cp "$DEBS/manifest.txt" "$prefix/.stamp"
    fi
    # The stand-ins, in a folder of their own, except for a library that
    # libtorch itself loads (Debian's libtorch: BLAS and LAPACK): that one is
    # this machine's own.
    local stubs=$root/$WORK/stubs torch_lib torch_loads stub
    torch_lib=$(dirname "$(find "$torch_prefix/.." "$torch_prefix/../.." -maxdepth 2 -name 'libtorch_cpu.so*' -print -quit)")
    torch_loads=$(for lib in "$torch_lib"/libtorch*.so "$torch_lib"/libc10*.so; do [ -e "$lib" ] && ldd "$lib"; done 2>/dev/null | awk '{print $1}' | sort -u)
    rm -rf "$stubs"
    mkdir -p "$stubs"
    for stub in "$DEBS"/stubs/lib*; do
        if grep -qxF "$(basename "$stub")" <<<"$torch_loads"; then
            say "$(basename "$stub"): libtorch loads it, so not the stand-in but this machine's"
        else
            cp "$stub" "$stubs/"
        fi
    done
    local libpath=$prefix/usr/lib/$ARCH:$prefix/lib/$ARCH:$stubs
    # pkg-config: this machine's, else pkgconf from the prefix (with its library).
    local pkg_config
    pkg_config=$(command -v pkg-config || true)
    if [ -z "$pkg_config" ]; then
        pkg_config=$root/$WORK/pkg-config
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$prefix/lib/$ARCH:$prefix/usr/lib/$ARCH" "$prefix/usr/bin/pkgconf" >"$pkg_config"
        chmod +x "$pkg_config"
    fi
    export PKG_CONFIG_LIBDIR=$prefix/usr/lib/$ARCH/pkgconfig:$prefix/usr/share/pkgconfig PKG_CONFIG_PATH=

    # Include folders: the prefix's (gloo, CLI11, nlohmann-json...) after the targets' own.
    local cxx_flags="-isystem $prefix/usr/include"
    local cmake_args=(
        -G Ninja -DCMAKE_BUILD_TYPE=Release -DLIFTLAB_BUILD_GUI=OFF
        "-DCMAKE_PREFIX_PATH=$prefix/usr;$torch_prefix" # the prefix first: Debian's torch folder also holds Qt6
        -DCMAKE_LIBRARY_ARCHITECTURE="$ARCH" -DPKG_CONFIG_EXECUTABLE="$pkg_config"
        -DCMAKE_CXX_STANDARD="$standard" -DCMAKE_POLICY_VERSION_MINIMUM=3.5
        -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$libpath"
        -DPYTHON_EXECUTABLE="$(command -v python3)"
    )
    local device_name="none (forced)" arch=""
    if [ "$force" != 1 ] || have_gpu; then
        device_name=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | sed -n 1p)
        arch=$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
        local nvcc cuda_home
        nvcc=$(command -v nvcc || true)
        for cuda_home in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
            [ -z "$nvcc" ] && [ -n "$cuda_home" ] && [ -x "$cuda_home/bin/nvcc" ] && nvcc=$cuda_home/bin/nvcc
        done
        [ -n "$nvcc" ] || die "no nvcc (PATH, CUDA_HOME, /usr/local/cuda): find_package(Torch) of a CUDA libtorch needs the toolkit"
        cuda_home=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
        export TORCH_CUDA_ARCH_LIST=$arch
        cmake_args+=(-DCMAKE_CUDA_COMPILER="$nvcc" -DCUDAToolkit_ROOT="$cuda_home" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_home"
                     -DCMAKE_CUDA_ARCHITECTURES="${arch/./}")
        if [ "${GPU_CHECK_NCCL:-0}" = 1 ]; then
            local nccl
            nccl=$(python3 -c 'import glob, os, torch; r = os.path.dirname(os.path.dirname(torch.__file__)); print(next(iter(glob.glob(r + "/nvidia/**/include/nccl.h", recursive=True)), ""))')
            [ -n "$nccl" ] || die "GPU_CHECK_NCCL=1 but no nvidia/*/include/nccl.h beside torch"
            cxx_flags+=" -isystem $(dirname "$nccl")"
            cmake_args+=(-DLIFTLAB_NCCL=ON)
        fi
    fi
    cmake_args+=(-DCMAKE_CXX_FLAGS="$cxx_flags")
    {
        echo "device: $device_name${arch:+, compute capability $arch}"
        echo "torch: ${torch_version:-?} ($torch_cmake)"
        echo "glibc $glibc (needs $need_glibc), libstdc++ GLIBCXX_$glibcxx (needs $need_glibcxx), $(c++ --version | sed -n 1p)"
        echo "cmake $(cmake --version | awk 'NR == 1 {print $3}'), ninja $(ninja --version), C++$standard"
    } | tee "$logs/machine.txt" | sed 's/^/gpu_check: /'

    local build=$WORK/build start=$SECONDS
    say "configuring $build"
    cmake -S . -B "$build" "${cmake_args[@]}" >"$logs/configure.log" 2>&1 ||
        { tail -40 "$logs/configure.log"; die "configure failed: $logs/configure.log"; }
    say "building liftlab-cli ($(nproc) jobs)"
    cmake --build "$build" --target liftlab-cli -j "$(nproc)" >"$logs/build.log" 2>&1 ||
        { grep -m 20 -B2 -A6 'error' "$logs/build.log" | sed -n 1,80p; die "build failed: $logs/build.log"; }
    say "built in $((SECONDS - start)) s"
    local cli=$build/app/liftlab-cli
    # Run with the prefix's libraries first: the Debian 12 set that was built together.
    export LD_LIBRARY_PATH=$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    ldd "$cli" >"$logs/ldd.txt"
    ! grep -q 'not found' "$logs/ldd.txt" || { grep 'not found' "$logs/ldd.txt"; die "liftlab-cli cannot load everything"; }

    # The runs: the same experiment, seed and batches; only the device differs.
    local steps=${GPU_CHECK_STEPS:-200} threads
    threads=$(nproc)
    [ "$threads" -le 16 ] || threads=16
    local run_a=${GPU_CHECK_RUN_A:---device cuda} run_b=${GPU_CHECK_RUN_B:---device cpu}
    if [ "$force" = 1 ] && [ -z "${GPU_CHECK_RUN_A:-}" ] && ! have_gpu; then
        run_a="--device cpu --kernels generic"
    fi
    local common=(train --dataset "$root/$DEBS/fashion-mnist" --split seen -P 10 -K 13 --no-augment
                  --lr 5e-3 --schedule cosine --iterations "$steps" --eval-every 0 --seed 1 --threads "$threads")
    local name args
    for name in a b; do
        [ $name = a ] && args=$run_a || args=$run_b
        rm -rf "${logs:?}/run-$name"
        say "training $steps steps with $args"
        # shellcheck disable=SC2086 # the device options are words
        if ! (export LIFTLAB_CACHE= ; [ "${GPU_CHECK_TF32:-0}" = 1 ] || export NVIDIA_TF32_OVERRIDE=0
              timeout 300 "$cli" "${common[@]}" $args --out "$logs/run-$name" >"$logs/run-$name.log" 2>&1); then
            tail -20 "$logs/run-$name.log"
            die "the run with $args failed: $logs/run-$name.log"
        fi
    done

    python3 - "$logs" "$run_a" "$run_b" <<'EOF'
import json, math, os, sys
logs, name_a, name_b = sys.argv[1], sys.argv[2], sys.argv[3]
tol_first = float(os.environ.get('GPU_CHECK_TOL_FIRST', '1e-3'))
tol_early = float(os.environ.get('GPU_CHECK_TOL_EARLY', '1e-2'))
tol_late = float(os.environ.get('GPU_CHECK_TOL_LATE', '5e-2'))
tol_recall = float(os.environ.get('GPU_CHECK_TOL_RECALL', '0.02'))

def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]

def load(which):
    d = os.path.join(logs, 'run-' + which)
    steps = {m['step']: m['loss'] for m in lines(os.path.join(d, 'metrics.jsonl'))}
    evals = lines(os.path.join(d, 'eval.jsonl'))
    with open(os.path.join(d, 'summary.json')) as f:
        summary = json.load(f)
    return steps, evals[-1]['recall_at_1'] if evals else float('nan'), summary.get('images_per_sec', float('nan'))

(la, ra, ia), (lb, rb, ib) = load('a'), load('b')
rel = lambda x, y: abs(x - y) / max(abs(y), 1e-12)
common = sorted(set(la) & set(lb))
failures = []
if not common or set(la) != set(lb):
    failures.append(f'the runs logged different steps ({len(la)} and {len(lb)})')
bad = [s for s in common if not (math.isfinite(la[s]) and math.isfinite(lb[s]))]
if bad:
    failures.append(f'a loss is not finite at step {bad[0]}')
rows = []
def row(what, a, b, diff, tol, ok):
    rows.append((what, a, b, diff, tol, 'ok' if ok else 'DIFFERS'))
    if not ok:
        failures.append(what)
if common and not bad:
    first = common[0]
    d = rel(la[first], lb[first])
    row(f'loss at step {first}', f'{la[first]:.6f}', f'{lb[first]:.6f}', f'rel {d:.1e}', f'{tol_first:g}', d <= tol_first)
    early = common[:20]
    worst = max(early, key=lambda s: rel(la[s], lb[s]))
    d = rel(la[worst], lb[worst])
    row(f'loss, steps {early[0]}-{early[-1]} (worst: {worst})', f'{la[worst]:.6f}', f'{lb[worst]:.6f}', f'rel {d:.1e}', f'{tol_early:g}', d <= tol_early)
    late = common[-20:]
    ma, mb = sum(la[s] for s in late) / len(late), sum(lb[s] for s in late) / len(late)
    d = rel(ma, mb)
    row(f'mean loss, steps {late[0]}-{late[-1]}', f'{ma:.6f}', f'{mb:.6f}', f'rel {d:.1e}', f'{tol_late:g}', d <= tol_late)
    median = sorted(rel(la[s], lb[s]) for s in common)[len(common) // 2]
    rows.append(('loss, all steps (median)', '', '', f'rel {median:.1e}', '', ''))
d = abs(ra - rb)
row('Recall@1 at the end', f'{ra:.4f}', f'{rb:.4f}', f'abs {d:.4f}', f'{tol_recall:g}', d <= tol_recall)
rows.append(('images/s', f'{ia:.0f}', f'{ib:.0f}', f'x{ia / ib:.2f}' if ib > 0 else '', '', ''))

header = ('', name_a, name_b, 'difference', 'tolerance', '')
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(6)]
text = '\n'.join('  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + rows)
verdict = 'the runs agree' if not failures else 'the runs DISAGREE: ' + '; '.join(failures)
print(text + '\n' + 'gpu_check: ' + verdict)
with open(os.path.join(logs, 'comparison.txt'), 'w') as f:
    f.write(text + '\n' + verdict + '\n')
sys.exit(1 if failures else 0)
EOF
}

case "${1:-check}" in
    prepare) prepare ;;
    check) shift || true; check "$@" ;;
    --logs) check "$@" ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) die "usage: $0 [prepare | check [--logs DIR]]" ;;
esac

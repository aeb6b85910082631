# Shared by the ci/arm64 scripts (sourced, not run).
# shellcheck shell=bash

# The cache of extracted packages (see ci/arm64/setup for why it is here).
FL_ARM64_CACHE="${FAULTLINE_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/faultline/arm64}"

# Reads what setup left: FL_ARM64_RUST (the extracted toolchain's root),
# FL_ARM64_QEMU (the extracted QEMU's root), FL_ARM64_KERNEL (vmlinuz) and
# FL_ARM64_BUSYBOX (a static arm64 busybox).
fl_arm64_load() {
    local stamp="$FL_ARM64_CACHE/ready"
    if [ ! -f "$stamp" ]; then
        echo "ci/arm64: not set up ($stamp is missing): run ci/arm64/setup" >&2
        return 1
    fi
    # shellcheck disable=SC1090
    . "$stamp"
    FL_ARM64_MODULES="$(dirname "$(dirname "$FL_ARM64_KERNEL")")/lib/modules"
}

# The environment that cross-builds for aarch64 with the extracted
# toolchain: its rustc and cargo first on PATH (rustup's stay installed and
# stay the default elsewhere), static glibc binaries linked by Debian's
# cross gcc.
fl_arm64_env() {
    export PATH="$FL_ARM64_RUST/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$FL_ARM64_RUST/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export RUSTC="$FL_ARM64_RUST/usr/bin/rustc"
    export RUSTDOC="$FL_ARM64_RUST/usr/bin/rustdoc"
    unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTFLAGS
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
}

# The extracted qemu-system-aarch64 with its own libraries, data (-L) and
# modules: fl_arm64_qemu_cmd sets the array FL_ARM64_QEMU_CMD (for timeout,
# nice and the like); fl_arm64_qemu runs it.
fl_arm64_qemu_cmd() {
    local q="$FL_ARM64_QEMU"
    FL_ARM64_QEMU_CMD=(env
        "LD_LIBRARY_PATH=$q/usr/lib/x86_64-linux-gnu:$q/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        "QEMU_MODULE_DIR=$q/usr/lib/x86_64-linux-gnu/qemu"
        "$q/usr/bin/qemu-system-aarch64" -L "$q/usr/share/qemu")
}
fl_arm64_qemu() {
    fl_arm64_qemu_cmd
    "${FL_ARM64_QEMU_CMD[@]}" "$@"
}

#!/usr/bin/env bash
# Lints the whole workspace with clippy (warnings are errors) and, in the same pass,
# type-checks the CUDA build (`--features runner/cuda`: burn-cuda / cubecl-cuda) on a
# machine without network access, as CI does.
#
# burn 0.22's CUDA backend compiles kernels through cubecl-llvm, whose build dependency
# `tracel-llvm-bundler` downloads a prebuilt LLVM in its build script — impossible offline.
# `cargo clippy` (like `cargo check`) never links, so it does not need that LLVM: with
# DOCS_RS set, both build scripts (tracel-llvm-bundler and cubecl-llvm) skip the native
# LLVM setup, exactly as on docs.rs, and every Rust line of the CUDA path is still compiled
# and type-checked.
#
# A real CUDA build (`cargo build --release --features cuda`) needs network access once, for
# that LLVM download, and a CUDA toolkit at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCS_RS=1 cargo clippy --locked --workspace --all-targets --features runner/cuda "$@" -- -D warnings

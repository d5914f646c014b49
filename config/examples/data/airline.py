"""Writes airline.csv beside this file: the monthly international airline passengers of
Box and Jenkins (1976), January 1949 to December 1960, in thousands, as pmdarima ships
them.

    python3 config/examples/data/airline.py   (needs pmdarima)
"""

import pathlib

from pmdarima.datasets import load_airpassengers

HERE = pathlib.Path(__file__).resolve().parent
y = load_airpassengers()
lines = ["month,passengers"]
for i, v in enumerate(y):
    lines.append(f"{1949 + i // 12}-{i % 12 + 1:02d}-01,{int(v)}")
(HERE / "airline.csv").write_text("\n".join(lines) + "\n")
print(f"wrote {len(lines) - 1} months to {HERE / 'airline.csv'}")

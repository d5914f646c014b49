"""Writes digits.csv beside this file: scikit-learn's handwritten digits (1,797 images
of 8 x 8 pixels, intensities 0-16; UCI's optdigits test set), one row per image,
pixels p0..p63 row by row, then the label.

    python3 config/examples/data/digits.py   (needs scikit-learn)
"""

import pathlib

from sklearn.datasets import load_digits

HERE = pathlib.Path(__file__).resolve().parent
d = load_digits()
lines = [",".join([f"p{i}" for i in range(64)] + ["label"])]
for x, y in zip(d.data.astype(int), d.target):
    lines.append(",".join(str(v) for v in x) + f",{y}")
(HERE / "digits.csv").write_text("\n".join(lines) + "\n")
print(f"wrote {len(lines) - 1} images to {HERE / 'digits.csv'}")

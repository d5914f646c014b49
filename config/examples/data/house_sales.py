"""Writes house_sales.csv beside this file (standard library only, seeded): 1,500 house
sales for the regression example (regression.yaml, `mlx init --template regression`).

The price follows living area, lot area, bedrooms, age and neighbourhood, with noise of
about 15,000, so a model has something to learn and the RMSE limit of the example
(25,000) is reachable; a few lot areas are missing, for the median imputation.

    python3 config/examples/data/house_sales.py
"""

import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
PREMIUM = {"riverside": 40_000, "old_town": 15_000, "suburb": 0, "industrial": -20_000}


def main():
    rng = random.Random(20260101)
    lines = ["living_area,lot_area,bedrooms,year_built,neighborhood,price\n"]
    for _ in range(1500):
        living = round(rng.uniform(60, 260), 1)
        lot = round(living * rng.uniform(1.5, 4.0), 1)
        bedrooms = max(1, min(6, round(living / 45 + rng.gauss(0, 0.6))))
        year = rng.randint(1950, 2024)
        hood = rng.choice(sorted(PREMIUM))
        price = (
            40_000
            + 1_800 * living
            + 60 * lot
            + 6_000 * bedrooms
            + 900 * (year - 1950)
            + PREMIUM[hood]
            + rng.gauss(0, 15_000)
        )
        lot_text = "" if rng.random() < 0.02 else f"{lot}"
        lines.append(f"{living},{lot_text},{bedrooms},{year},{hood},{round(price, -2):.0f}\n")
    (HERE / "house_sales.csv").write_text("".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()

"""Writes the example datasets beside this file (standard library only, seeded):
customers.csv (what a model is trained on) and customers-current.csv
(a later batch in which income has shifted). Churn depends on tenure, plan and
income.

    python3 config/examples/data/generate.py
"""

import math
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent


def rows(rng, n, income_mean):
    for i in range(n):
        age = rng.randint(18, 80)
        tenure = rng.randint(0, 120)
        income = round(rng.gauss(income_mean, 12_000), 2)
        plan = rng.choices(["basic", "plus", "pro"], weights=[5, 3, 2])[0]
        # Churn follows tenure, plan and income, so a model has something to learn.
        logit = 3.0 - 0.22 * tenure + (1.6 if plan == "basic" else 0.0) - (income - 52_000) / 40_000
        churned = "yes" if rng.random() < 1 / (1 + math.exp(-logit)) else "no"
        yield f"{i},{age},{tenure},{income},{plan},{churned}\n"


def write(name, seed, n, income_mean):
    rng = random.Random(seed)
    with open(HERE / name, "w", encoding="utf-8") as f:
        f.write("customer_id,age,tenure_months,income,plan,churned\n")
        f.writelines(rows(rng, n, income_mean))


write("customers.csv", 1, 2000, 52_000)
write("customers-current.csv", 2, 1500, 60_000)

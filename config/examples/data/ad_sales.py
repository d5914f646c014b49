"""Writes the ad-sales example beside this file (standard library only, seeded):

- ad_sales.csv: two years of daily sales (2024-01-01 to 2025-12-30) with price,
  ad_spend, competitor_price, promotion and is_holiday;
- ad_spend.csv: the two years' ad spend alone, which the full example
  (time_series.yaml) joins to the sales it reads from PostgreSQL;
- ad_sales_future.csv: the eight weeks after, in which the relationship changes (a
  competitor's campaign erodes what ad spend buys, by 0.016 units per unit of spend
  each week, and makes customers more price sensitive), for monitoring to catch.

Sales have a weekly cycle, a slow trend, AR(1) noise, and real effects: +0.08 units per
unit of ad spend, -25 per unit of price, +12 per unit the competitor is dearer, +60 on
promotion days and +80 on holidays.

    python3 config/examples/data/ad_sales.py
"""

import datetime
import pathlib
import random

HERE = pathlib.Path(__file__).resolve().parent
START = datetime.date(2024, 1, 1)
DAYS = 730
FUTURE_DAYS = 56
WEEKLY = [-40.0, -25.0, -10.0, 0.0, 25.0, 60.0, 30.0]  # Monday .. Sunday
HOLIDAYS = {(1, 1), (5, 27), (7, 4), (9, 2), (11, 28), (12, 25), (12, 26)}


def series(rng):
    price, competitor, noise = 10.0, 10.5, 0.0
    promotion_left = 0
    for t in range(DAYS + FUTURE_DAYS):
        day = START + datetime.timedelta(days=t)
        changed = t >= DAYS
        # Prices wander about their usual levels.
        price = 10.0 + 0.95 * (price - 10.0) + rng.gauss(0, 0.15)
        competitor = 10.5 + 0.95 * (competitor - 10.5) + rng.gauss(0, 0.15)
        ad_spend = max(0.0, rng.gauss(1000 + 250 * (day.weekday() >= 4), 300))
        if promotion_left == 0 and rng.random() < 0.03:
            promotion_left = rng.randint(2, 5)
        promotion = 1 if promotion_left > 0 else 0
        promotion_left = max(0, promotion_left - 1)
        holiday = 1 if (day.month, day.day) in HOLIDAYS else 0
        noise = 0.6 * noise + rng.gauss(0, 12)
        # After the two years, a competitor's campaign erodes what ad spend buys, week by
        # week, and makes customers more price sensitive.
        week = (t - DAYS) // 7 if changed else 0
        ad_effect = max(0.0, 0.08 - 0.016 * week)
        price_effect = -25.0 - 2.0 * week
        sales = (
            620
            + 0.02 * t
            + WEEKLY[day.weekday()]
            + ad_effect * ad_spend
            + price_effect * (price - 10)
            + 12 * (competitor - price)
            + 60 * promotion
            + 80 * holiday
            + noise
        )
        yield (
            f"{day.isoformat()},{round(sales, 1)},{price:.2f},{ad_spend:.0f},"
            f"{competitor:.2f},{promotion},{holiday}\n"
        )


def main():
    rows = list(series(random.Random(20240101)))
    header = "date,sales,price,ad_spend,competitor_price,promotion,is_holiday\n"
    for name, part in (("ad_sales.csv", rows[:DAYS]), ("ad_sales_future.csv", rows[DAYS:])):
        with open(HERE / name, "w", encoding="utf-8") as f:
            f.write(header)
            f.writelines(part)
    # The full example (time_series.yaml) reads the sales from PostgreSQL and the ad
    # spend from marketing's export, joined on the date.
    with open(HERE / "ad_spend.csv", "w", encoding="utf-8") as f:
        f.write("date,ad_spend\n")
        f.writelines(",".join(r.split(",")[0:4:3]) + "\n" for r in rows[:DAYS])


if __name__ == "__main__":
    main()

import pandas as pd


def main(values: list = [3, 1, 4, 1, 5, 9, 2, 6]) -> dict:
    """Summary statistics of a list. Run: sandbox run examples/pandas_summary.py --arg 'values=[1,2,3]'"""
    df = pd.DataFrame({"value": values})
    print(df.describe())
    return {"count": int(df["value"].count()), "mean": float(df["value"].mean()), "max": int(df["value"].max())}

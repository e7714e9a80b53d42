import matplotlib.pyplot as plt


def main(title: str = "Squares") -> dict:
    """Draw a chart; files in artifacts/ come back as artifacts.
    Run: sandbox run examples/chart.py --save-artifacts out/"""
    xs = list(range(10))
    ys = [x * x for x in xs]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(xs, ys, marker="o")
    ax.set_title(title)
    fig.savefig("artifacts/chart.png", dpi=80)
    return {"points": len(xs), "file": "chart.png"}

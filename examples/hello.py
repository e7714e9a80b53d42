def main(name: str = "World") -> dict:
    """Say hello. Run: sandbox run examples/hello.py --arg name=World"""
    print(f"Hello from Python, {name}!")
    return {"greeting": f"Hello, {name}!", "length": len(name)}

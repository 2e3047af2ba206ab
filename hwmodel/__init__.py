"""What it costs: the analytical hardware cost model and the cycle-level simulator (torch-free)."""

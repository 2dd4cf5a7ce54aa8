"""The demo shop behind `make demo` / `omnishop demo`: channels, a real catalog with variants and per-channel
prices, suppliers, stock in a warehouse and the flagship store, customers with deliberate cross-channel
duplicates, and the log-ins and API key the demo prints.

Everything is deterministic, loaded through each context's services inside one transaction, and idempotent
(a second load finds what exists by its natural keys and adds nothing). The data comes from a committed
extract of real public datasets (`data/`, built by `extract.py`). No models live here. See docs/demo.md.
"""

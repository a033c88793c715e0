"""panel: an LLM reviewer panel for newly launched tools.

Importing this package loads no model code: vLLM and torch are imported lazily by the
backends that need them, so ``panel --help`` and the pure modules stay fast.
"""

__version__ = "0.1.0"

"""Every vLLM-version-specific call (written against vLLM 0.32): the engine, its compat layer, the
grammar plugin, weights and the server.
"""

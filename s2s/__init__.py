"""s2s: LSTM sequence-to-sequence models in JAX/Flax, from arithmetic to translation."""

__version__ = "0.1.0"

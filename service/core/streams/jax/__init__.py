"""The ``jax``, ``keras`` and ``flax`` streams: JAX 0.10.2's CPU ``jax.random`` (threefry2x32), in numba."""

"""Uniform noise for masks and samples, from a stateless seed on any backend."""

import keras

BACKEND = keras.backend.backend()


def split_uniform(seed, shapes):
    """One U(0, 1) float32 tensor per entry of `shapes`, each from its own
    split of `seed`.

    `seed` is a `[2]` int64 tensor (TensorFlow stateless seed) or a `[2]`
    uint32 JAX key; the split is the backend's own, so a backend's noise is
    reproducible from the seed (the backends' streams differ). The streams
    depend on the number of shapes and their order, not on their sizes.

    Args:
        seed: the stateless seed.
        shapes: dict of name -> shape, in a fixed order; a `None` shape
            splits its stream off without drawing it.

    Returns:
        dict of name -> tensor, for the shapes that are not `None`.

    Example:
    ```python
    noise = split_uniform(seed, {"select": (8, 128), "mask": (8, 19)})
    ```
    """
    names = list(shapes)
    if BACKEND == "jax":
        import jax

        keys = jax.random.split(seed, len(names))
        return {
            name: jax.random.uniform(key, tuple(shapes[name]))
            for name, key in zip(names, keys)
            if shapes[name] is not None
        }
    import tensorflow as tf

    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=len(names)))
    return {
        name: tf.random.stateless_uniform(list(shapes[name]), s)
        for name, s in zip(names, seeds)
        if shapes[name] is not None
    }

"""One objective step on the backend named by KERAS_BACKEND, for parity tests.

Usage: python backend_step.py WEIGHTS.weights.h5 INPUTS.npz OUT.npz [--no-tensorflow]

Builds the tiny pretrainer of the tests (no dropout), loads the weights,
runs `compute_objective` on the given batch and noise and writes the losses,
the statistics and the gradient of the loss for every trainable variable
(keyed by variable path). `--no-tensorflow` makes `import tensorflow` fail
first, as on an accelerator machine without TensorFlow.
"""

import json
import os
import sys

if "--no-tensorflow" in sys.argv:
    sys.modules["tensorflow"] = None
    sys.modules["tensorflow_text"] = None
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import electra_keras  # noqa: E402


def loss_and_gradients(model, inputs, noise):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            results = model.compute_objective(inputs, noise, training=True)
        gradients = tape.gradient(results["loss"], model.trainable_variables)
        return results, [np.asarray(tf.convert_to_tensor(g)) for g in gradients]
    if backend == "jax":
        import jax

        def loss(values):
            with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, values))):
                results = model.compute_objective(inputs, noise, training=True)
            return results["loss"], results

        (_, results), gradients = jax.value_and_grad(loss, has_aux=True)(
            [v.value for v in model.trainable_variables]
        )
        return results, [np.asarray(g) for g in gradients]
    if backend == "torch":
        results = model.compute_objective(inputs, noise, training=True)
        results["loss"].backward()
        return results, [v.value.grad.detach().cpu().numpy() for v in model.trainable_variables]
    raise ValueError(backend)


def main():
    weights, inputs_path, output = sys.argv[1:4]
    arrays = dict(np.load(inputs_path))
    settings = json.loads(str(arrays.pop("settings")))
    model = electra_keras.ElectraPretrainer(
        settings["model"], {}, mask_token_id=settings["mask_token_id"],
        special_token_ids=settings["special_token_ids"],
    )
    model.load_weights(weights)
    inputs = {k: keras.ops.convert_to_tensor(arrays[k]) for k in ("token_ids", "segment_ids", "padding_mask")}
    noise = {k: keras.ops.convert_to_tensor(arrays["noise_" + k]) for k in ("select", "mask", "gumbel")}
    results, gradients = loss_and_gradients(model, inputs, noise)
    values = {
        name: keras.ops.convert_to_numpy(results[name])
        for name in ("loss", "mlm_loss", "disc_loss", "corrupted_ids")
    }
    values.update({"stat:" + name: keras.ops.convert_to_numpy(v) for name, v in results["statistics"].items()})
    values.update({"grad:" + v.path: g for v, g in zip(model.trainable_variables, gradients)})
    values["backend"] = np.array(keras.backend.backend())
    values["tensorflow_loaded"] = np.array(sys.modules.get("tensorflow") is not None)
    np.savez(output, **values)


if __name__ == "__main__":
    main()

"""Trains the tests' tiny pretrainer with `fit` on JAX, without TensorFlow.

Usage: python jax_train.py DATA_DIR OUTPUT_DIR --steps N [--devices K] [--initial W.weights.h5]
                          [--objective electra|mlm]

Reads a built dataset through `electra_keras.data.numpy_pipeline`, trains with
`keras.distribution.DataParallel` over K devices when K > 1 (CPU devices
are forced by XLA_FLAGS before JAX starts), evaluates on the eval split,
and writes `history.json` and `final.weights.h5` to OUTPUT_DIR.
"""

import argparse
import json
import os
import pathlib
import sys

sys.modules["tensorflow"] = None
sys.modules["tensorflow_text"] = None

parser = argparse.ArgumentParser()
parser.add_argument("data_dir")
parser.add_argument("output_dir")
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--devices", type=int, default=1)
parser.add_argument("--initial")
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--objective", choices=["electra", "mlm"], default="electra")
parser.add_argument("--accumulate", type=int, default=1)
parser.add_argument(
    "--row-noise", action="store_true",
    help="draw each row's masks and samples from its own tokens, so that a row gets the same "
    "noise in a micro-batch as in the whole batch",
)
args = parser.parse_args()
if args.devices > 1:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.devices}"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import electra_keras  # noqa: E402
from electra_keras.data import numpy_pipeline as numpy_data  # noqa: E402
from electra_keras.data.shard_format import read_manifest  # noqa: E402

assert keras.backend.backend() == "jax"
if args.devices > 1:
    devices = jax.devices()
    assert len(devices) == args.devices, devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

keras.utils.set_random_seed(1)  # the same initial weights in every process
manifest = read_manifest(args.data_dir)
model_config = {
    "vocabulary_size": manifest["vocabulary_size"], "embedding_size": 24, "hidden_size": 32,
    "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "generator_size_fraction": 0.5,
    "max_position_embeddings": 64, "dropout": 0.0,
}
vocabulary = (pathlib.Path(args.data_dir) / "vocab.txt").read_text(encoding="utf-8").splitlines()
specials = [vocabulary.index(token) for token in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")]
model_class = electra_keras.ElectraPretrainer


class RowNoise(model_class):
    def noise_for(self, inputs, seed):
        length, predictions = self.noise_dimensions(inputs)
        positions = jax.numpy.arange(1, length + 1, dtype="uint32")
        row_hashes = jax.numpy.sum(inputs["token_ids"].astype("uint32") * positions, axis=1)

        def row_noise(row_hash):
            keys = jax.random.split(jax.random.fold_in(jax.numpy.array([0, 9], "uint32"), row_hash), 3)
            return (jax.random.uniform(keys[0], (length,)), jax.random.uniform(keys[1], (predictions,)),
                    jax.random.uniform(keys[2], (predictions, self.model_config.vocabulary_size)))

        select, mask, gumbel = jax.vmap(row_noise)(row_hashes)
        return {"select": select, "mask": mask, "gumbel": gumbel}


if args.row_noise:
    model_class = RowNoise
pretrainer = model_class(
    model_config, {"kind": args.objective}, mask_token_id=vocabulary.index("[MASK]"), special_token_ids=specials, seed=7,
    gradient_accumulation_steps=args.accumulate,
)
if args.initial:
    pretrainer.load_weights(args.initial)
pretrainer.compile(optimizer=keras.optimizers.AdamW(2e-3, weight_decay=0.01))
train = numpy_data.numpy_tfrecord_batches(args.data_dir, args.batch_size, shuffle=False)
# Three epochs, so the history shows the losses move.
history = pretrainer.fit(train, steps_per_epoch=max(args.steps // 3, 1), epochs=3, verbose=0)
evaluation = pretrainer.evaluate(
    numpy_data.numpy_tfrecord_batches(args.data_dir, args.batch_size, split="eval", shuffle=False, repeat=False),
    verbose=0, return_dict=True,
)
output = pathlib.Path(args.output_dir)
output.mkdir(parents=True, exist_ok=True)
pretrainer.save_weights(output / "final.weights.h5")
np.savez(output / "final_weights.npz", *pretrainer.get_weights())
(probe,) = next(numpy_data.numpy_tfrecord_batches(args.data_dir, 4, split="eval", shuffle=False, repeat=False))
np.savez(output / "probe.npz", logits=np.asarray(pretrainer(probe)), **probe)
(output / "history.json").write_text(json.dumps({
    "train": {k: [float(x) for x in v] for k, v in history.history.items()},
    "eval": {k: float(v) for k, v in evaluation.items()},
    "devices": len(jax.devices()),
    "tensorflow_loaded": sys.modules.get("tensorflow") is not None,
}))

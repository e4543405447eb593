"""Checkpoints in and out: Hugging Face, keras-hub presets, official TF1.

- `open_pretrained(paths)`: detects what a folder holds (a run of this
  project, a Hugging Face pair, a keras-hub preset, an official TF1
  checkpoint) once, for pretraining's `--init-from`, fine-tuning and export.
- `huggingface`: `ElectraForMaskedLM` / `ElectraForPreTraining` pairs in and
  out (safetensors; no torch needed).
- `keras_hub_presets`: the discriminator as a `keras_hub.models.ElectraBackbone`
  preset, and presets in.
- `official`: google-research/electra TF1 checkpoints in.

Example:
```python
from electra_keras.interop import open_pretrained

source = open_pretrained(["koelectra-small-v3-generator", "koelectra-small-v3-discriminator"])
pretrainer = source.build_pretrainer()
```
"""

from electra_keras.interop.huggingface import CheckpointFormatError
from electra_keras.interop.pretrained import open_pretrained
from electra_keras.interop.source import Pretrained

__all__ = ["CheckpointFormatError", "Pretrained", "open_pretrained"]

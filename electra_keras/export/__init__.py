"""SavedModels that TF Serving loads as they are, with string-in signatures.

- `export_discriminator`: a trained discriminator (`discriminator.py`).
- `export_classifier`: a fine-tuned classifier or regressor (`classifier.py`).
- `export_tagger`: a fine-tuned tagger, `tag` returns entity spans (`tagger.py`).
- `export_answerer`: a fine-tuned question answerer, `answer` (`answerer.py`).
- `text_encoding.ServingTextEncoder`: the one in-graph tokenizer and packer
  every export uses.
- `length_buckets.LengthBuckets`: the widths the model runs at, so a
  request pays for its tokens, not for padding to the full length.
- `request_limits.RequestLimits`: the most texts per request and characters
  per text every signature serves (INVALID_ARGUMENT past them).
- `savedmodel`: the atomic writer, TF Serving method names, warmup requests.
- `job.export_pretrained`: a pretrained model (any format `open_pretrained`
  reads) to a SavedModel, a Hugging Face pair or a keras-hub preset.

Example:
```python
from electra_keras import export

export.export_discriminator(pretrainer, "models/electra/1", "vocab.txt", sequence_length=128)
```
"""

from electra_keras.export.answerer import AnswererServingModule
from electra_keras.export.answerer import export_answerer
from electra_keras.export.classifier import ClassifierServingModule
from electra_keras.export.classifier import export_classifier
from electra_keras.export.discriminator import DiscriminatorServingModule
from electra_keras.export.discriminator import export_discriminator
from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.request_limits import RequestLimits
from electra_keras.export.savedmodel import DEFAULT_WARMUP_TEXTS
from electra_keras.export.savedmodel import next_version
from electra_keras.export.savedmodel import write_warmup_requests
from electra_keras.export.tagger import TaggerServingModule
from electra_keras.export.tagger import export_tagger

__all__ = [
    "DEFAULT_WARMUP_TEXTS",
    "AnswererServingModule",
    "ClassifierServingModule",
    "DiscriminatorServingModule",
    "LengthBuckets",
    "RequestLimits",
    "TaggerServingModule",
    "export_answerer",
    "export_classifier",
    "export_discriminator",
    "export_tagger",
    "next_version",
    "write_warmup_requests",
]

"""electra_keras: ELECTRA pretraining for Keras 3 (TensorFlow; JAX too).

Importing the package registers its Keras classes, so saved `.keras` files
load with `keras.models.load_model` after `import electra_keras`.

Example:
```python
import electra_keras

config = electra_keras.ElectraConfig.from_yaml("configs/tiny.yaml")
pretrainer = electra_keras.ElectraPretrainer(
    {**vars(config.model), "vocabulary_size": 8000}, config.objective,
    mask_token_id=4, special_token_ids=[0, 2, 3, 4],
)
```
"""

from electra_keras.baselines import MaskedLMPretrainer
from electra_keras.config import ElectraConfig
from electra_keras.finetuning import ElectraClassifier
from electra_keras.finetuning import ElectraTokenClassifier
from electra_keras.modeling import ElectraEmbedding
from electra_keras.modeling import ElectraEncoder
from electra_keras.modeling import ReplacedTokenDetectionHead
from electra_keras.optimization import WarmupLinearDecay
from electra_keras.optimization import build_optimizer
from electra_keras.pretrainer import ElectraPretrainer

__all__ = [
    "ElectraClassifier",
    "ElectraConfig",
    "ElectraEmbedding",
    "ElectraEncoder",
    "ElectraPretrainer",
    "ElectraTokenClassifier",
    "MaskedLMPretrainer",
    "ReplacedTokenDetectionHead",
    "WarmupLinearDecay",
    "build_optimizer",
]
__version__ = "0.1.0"

"""`Pretrained`: what a pretrained checkpoint holds, before its weights are read.

Every format module returns one (`huggingface.open_huggingface`,
`official.open_official`, `keras_hub_presets.open_keras_hub_preset`,
`pretrained.open_run`), and `open_pretrained` picks the module; jobs only
see this object.
"""

import dataclasses
import typing

from electra_keras.config import ModelConfig
from electra_keras.config import ObjectiveConfig
from electra_keras.data.tokenizer import special_ids_of
from electra_keras.pretraining.trainer import ElectraPretrainer


@dataclasses.dataclass
class Pretrained:
    """A pretrained ELECTRA found on disk: its sizes and vocabulary, weights not yet read.

    Attributes:
        kind: "run", "huggingface", "keras_hub" or "official".
        paths: the folders it was opened from.
        model_config: `ModelConfig` with `vocabulary_size` set.
        vocabulary: list of tokens.
        lowercase, strip_accents, tokenize_chinese_chars: BERT's tokenizer
            settings, as the checkpoint says (`strip_accents` resolved).
        loader: `loader(pretrainer)` copies the stored weights into a
            pretrainer of `model_config`'s sizes.
        has_generator: False when only the discriminator is stored (the
            generator of a pretrainer built from it starts from random weights).
        objective_config: the objective it was trained with, when it says.
        sequence_length: the length it was trained at, when it says.

    Example:
    ```python
    source = electra_keras.interop.open_pretrained(["runs/demo"])
    pretrainer = source.build_pretrainer()
    ```
    """

    kind: str
    paths: tuple
    model_config: ModelConfig
    vocabulary: list
    lowercase: bool
    loader: typing.Callable
    strip_accents: bool = False
    tokenize_chinese_chars: bool = True
    has_generator: bool = True
    objective_config: typing.Optional[ObjectiveConfig] = None
    sequence_length: typing.Optional[int] = None

    def tokenizer_kwargs(self):
        """`lowercase`, `strip_accents`, `tokenize_chinese_chars`: for `make_tokenizer`, `OffsetTokenizer`, exports.

        Example:
        ```python
        tokenizer = make_tokenizer(source.vocabulary, **source.tokenizer_kwargs())
        ```
        """
        return {
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
        }

    def describe(self):
        """`"<paths> (<kind>)"`, for logs and errors."""
        return f"{' and '.join(str(p) for p in self.paths)} ({self.kind})"

    def build_pretrainer(self, objective_config=None, load_weights=True, **pretrainer_kwargs):
        """A new `ElectraPretrainer` of this model's sizes, with its weights.

        Args:
            objective_config: the objective to continue with; by default the
                checkpoint's own, else ELECTRA's.
            load_weights: False keeps the random initialisation (the same
                sizes and vocabulary, untrained: a baseline).
            **pretrainer_kwargs: passed to `ElectraPretrainer` (seed, dtype...).

        Example:
        ```python
        encoder = open_pretrained(["runs/demo"]).build_pretrainer().discriminator
        ```
        """
        objective_config = objective_config or self.objective_config or ObjectiveConfig()
        mask_token_id, special_token_ids = special_ids_of(self.vocabulary)
        pretrainer = ElectraPretrainer(
            model_config=self.model_config,
            objective_config=objective_config,
            mask_token_id=mask_token_id,
            special_token_ids=special_token_ids,
            **pretrainer_kwargs,
        )
        if load_weights:
            self.load_into(pretrainer)
        return pretrainer

    def load_into(self, pretrainer):
        """Copies the stored weights into a pretrainer of the same sizes.

        Example:
        ```python
        open_pretrained(["koelectra-generator", "koelectra-discriminator"]).load_into(pretrainer)
        ```
        """
        self.loader(pretrainer)

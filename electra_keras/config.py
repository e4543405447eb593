"""One configuration object for ELECTRA pretraining, loaded from YAML.

Configuration flows one way: a YAML file, then command-line overrides, into an
`ElectraConfig`, into the builders. Every field has the paper's default (ELECTRA
Small unless a config file says otherwise) and is checked on load, so a typo or
a bad value stops with a message naming the field.

(One module over 400 lines on purpose: the sections and their checks are
read together, like the official `configure_pretraining`.)
"""

import dataclasses
import pathlib
import typing

import yaml

OBJECTIVE_KINDS = ("electra", "mlm")
# configs/*.yaml (a link to these): tiny, small, base, large.
CONFIG_DIR = pathlib.Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A configuration file or override that cannot be used."""


def max_predictions_per_seq(sequence_length, mask_probability):
    """The fixed number of masked positions per sequence (official formula).

    Example:
    ```python
    electra_keras.config.max_predictions_per_seq(128, 0.15)  # 19
    ```
    """
    return max(1, int((mask_probability + 0.005) * sequence_length))


@dataclasses.dataclass
class ModelConfig:
    """Sizes of the discriminator and of the generator derived from it.

    The generator has `generator_size_fraction` of the discriminator's hidden
    size, FFN size and heads, and `generator_layers_fraction` of its layers
    (official `generator_hidden_size` and `generator_layers`).

    Example:
    ```python
    model = electra_keras.config.ModelConfig(hidden_size=256, num_heads=4)
    model.generator_hidden_size  # 64
    ```
    """

    vocabulary_size: typing.Optional[int] = None  # None: the tokenizer's.
    embedding_size: int = 128
    hidden_size: int = 256
    num_layers: int = 12
    num_heads: int = 4
    intermediate_size: int = 1024
    generator_size_fraction: float = 0.25
    generator_layers_fraction: float = 1.0
    max_position_embeddings: int = 512
    num_segments: int = 2
    dropout: float = 0.1
    # "gelu_approximate" (tanh form: official TF code, keras-hub) or "gelu"
    # (exact erf form: Hugging Face configs).
    hidden_activation: str = "gelu_approximate"
    initializer_range: float = 0.02

    @property
    def generator_hidden_size(self):
        return max(1, int(round(self.hidden_size * self.generator_size_fraction)))

    @property
    def generator_num_heads(self):
        return max(1, int(round(self.num_heads * self.generator_size_fraction)))

    @property
    def generator_intermediate_size(self):
        return max(1, int(round(self.intermediate_size * self.generator_size_fraction)))

    @property
    def generator_num_layers(self):
        return max(1, int(round(self.num_layers * self.generator_layers_fraction)))

    def validate(self):
        _check_positive(self, "embedding_size", "hidden_size", "num_layers", "num_heads")
        _check_positive(self, "intermediate_size", "max_position_embeddings", "num_segments")
        _check_fraction(self, "generator_size_fraction", "generator_layers_fraction")
        _check_probability(self, "dropout")
        if self.vocabulary_size is not None:
            _check_positive(self, "vocabulary_size")
        if self.hidden_activation not in ("gelu_approximate", "gelu"):
            raise ConfigError(
                "model.hidden_activation must be 'gelu_approximate' or 'gelu', "
                f"got {self.hidden_activation!r}"
            )
        for prefix, hidden, heads in (
            ("", self.hidden_size, self.num_heads),
            ("generator ", self.generator_hidden_size, self.generator_num_heads),
        ):
            if hidden % heads:
                raise ConfigError(
                    f"model: the {prefix}hidden size {hidden} is not divisible by "
                    f"its {heads} attention heads; change model.hidden_size, "
                    "model.num_heads or model.generator_size_fraction"
                )


@dataclasses.dataclass
class ObjectiveConfig:
    """The pretraining objective and its masking (official `pretrain_helpers`).

    `kind` picks the objective: "electra" (replaced token detection: a
    generator fills the masks, the discriminator labels every token) or
    "mlm" (the official `electra_objective: false`, BERT-style masked
    language modelling of the discriminator-sized encoder, the baseline
    ELECTRA is measured against; the generator and discriminator settings
    are then unused).

    Example:
    ```python
    objective = electra_keras.config.ObjectiveConfig(mask_probability=0.25)
    objective.resolved_max_predictions(512)  # 130
    ```
    """

    kind: str = "electra"
    mask_probability: float = 0.15
    # None: int((mask_probability + 0.005) * sequence_length), as official.
    max_predictions_per_seq: typing.Optional[int] = None
    # Of the selected positions, this share becomes [MASK]; the rest keep the
    # original token. ELECTRA uses no random-token replacement.
    mask_token_rate: float = 0.85
    temperature: float = 1.0
    generator_weight: float = 1.0
    discriminator_weight: float = 50.0

    def resolved_max_predictions(self, sequence_length):
        if self.max_predictions_per_seq is not None:
            return self.max_predictions_per_seq
        return max_predictions_per_seq(sequence_length, self.mask_probability)

    def validate(self):
        if self.kind not in OBJECTIVE_KINDS:
            raise ConfigError(f"objective.kind must be one of {', '.join(OBJECTIVE_KINDS)}, got {self.kind!r}")
        _check_probability(self, "mask_probability", "mask_token_rate")
        _check_positive(self, "temperature")
        _check_non_negative(self, "generator_weight", "discriminator_weight")
        if self.max_predictions_per_seq is not None:
            _check_positive(self, "max_predictions_per_seq")


@dataclasses.dataclass
class OptimizerConfig:
    """AdamW and the learning-rate schedule.

    `schedule` is "paper" (linear warmup, then linear decay to zero) or
    "official" (google-research/electra: linear decay from step 0 multiplied
    by min(1, step / warmup_steps)).

    Example:
    ```python
    optimizer = electra_keras.config.OptimizerConfig(learning_rate=2e-4)
    ```
    """

    learning_rate: float = 5e-4
    warmup_steps: int = 10000
    schedule: str = "paper"
    weight_decay: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    clip_norm: float = 1.0

    def validate(self):
        _check_positive(self, "learning_rate", "epsilon", "clip_norm")
        _check_non_negative(self, "warmup_steps", "weight_decay")
        for name in ("beta_1", "beta_2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"optimizer.{name} must be in [0, 1), got {value!r}")
        if self.schedule not in ("paper", "official"):
            raise ConfigError(
                f"optimizer.schedule must be 'paper' or 'official', got {self.schedule!r}"
            )


@dataclasses.dataclass
class DataConfig:
    """Tokenization and packing of the corpus.

    Example:
    ```python
    data = electra_keras.config.DataConfig(sequence_length=512, lowercase=True)
    ```
    """

    sequence_length: int = 128
    lowercase: bool = False
    strip_accents: bool = False
    # Size of the WordPiece vocabulary built when no vocab.txt is given.
    vocabulary_size: int = 30522
    # Official builder: 10% single-segment examples, 5% shorter targets.
    single_segment_probability: float = 0.1
    short_sequence_probability: float = 0.05
    # Share of packed examples held out for evaluation.
    eval_fraction: float = 0.02
    # Seeds the packing of an in-memory corpus and which examples are held
    # out, apart from training.seed: runs that differ only in training.seed
    # are evaluated on exactly the same examples.
    split_seed: int = 0

    def validate(self):
        _check_positive(self, "vocabulary_size")
        if self.sequence_length < 8:
            raise ConfigError(
                f"data.sequence_length must be at least 8, got {self.sequence_length!r}"
            )
        _check_probability(
            self, "single_segment_probability", "short_sequence_probability", "eval_fraction"
        )


STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


@dataclasses.dataclass
class TrainingConfig:
    """Steps, batch and bookkeeping of a pretraining run.

    Example:
    ```python
    training = electra_keras.config.TrainingConfig(num_steps=1000, batch_size=32)
    ```
    """

    batch_size: int = 128
    num_steps: int = 1000000
    seed: int = 0
    steps_per_log: int = 100
    steps_per_eval: int = 1000
    eval_batches: int = 10
    steps_per_checkpoint: int = 5000
    jit_compile: bool = False
    # "float32", "mixed_bfloat16" or "mixed_float16" (dynamic loss scaling);
    # variables, softmax, LayerNorm and the losses stay float32.
    precision: str = "float32"
    # The batch is split into this many micro-batches whose gradients are
    # summed before one update (same update, a micro-batch's memory).
    gradient_accumulation_steps: int = 1
    # "auto" (several GPUs: mirrored; TF_CONFIG with several workers:
    # multi_worker), "default", "mirrored", "multi_worker" or "tpu".
    strategy: str = "auto"
    # The generator's guesses and the discriminator's decisions on a fixed
    # sentence are written to TensorBoard as text this often.
    steps_per_sample: int = 1000
    keep_checkpoints: int = 3
    # A folder of labelled train.jsonl / test.jsonl: at each evaluation a
    # linear probe on the frozen discriminator is scored on it
    # (`probe_accuracy`, see electra_keras/probe.py).
    probe_data: typing.Optional[str] = None
    probe_rows: int = 2000

    def validate(self):
        _check_positive(
            self, "batch_size", "num_steps", "steps_per_log", "steps_per_eval",
            "eval_batches", "steps_per_checkpoint", "gradient_accumulation_steps",
            "steps_per_sample", "keep_checkpoints", "probe_rows",
        )
        if self.batch_size % self.gradient_accumulation_steps:
            raise ConfigError(
                f"training.gradient_accumulation_steps={self.gradient_accumulation_steps} must divide "
                f"training.batch_size={self.batch_size}"
            )
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"training.strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        if self.precision not in ("float32", "mixed_bfloat16", "mixed_float16"):
            raise ConfigError(
                "training.precision must be 'float32', 'mixed_bfloat16' or 'mixed_float16', "
                f"got {self.precision!r}"
            )


@dataclasses.dataclass
class ElectraConfig:
    """Everything a pretraining run needs, in five sections.

    Example:
    ```python
    config = electra_keras.ElectraConfig.from_yaml(
        "configs/tiny.yaml", overrides=["training.num_steps=50"]
    )
    config.model.hidden_size
    ```
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    objective: ObjectiveConfig = dataclasses.field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)

    @classmethod
    def from_dict(cls, values, source="config"):
        """Builds a config from nested dicts; unknown keys are errors."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: expected a mapping of sections, got {type(values).__name__}")
        sections = {}
        for field in dataclasses.fields(cls):
            section_values = values.get(field.name) or {}
            if not isinstance(section_values, dict):
                raise ConfigError(f"{source}: section '{field.name}' must be a mapping")
            sections[field.name] = _build_section(field.type, field.name, section_values, source)
        unknown = sorted(set(values) - set(sections))
        if unknown:
            raise ConfigError(
                f"{source}: unknown section '{unknown[0]}'; expected one of {sorted(sections)}"
            )
        config = cls(**sections)
        config.validate()
        return config

    @classmethod
    def named(cls, name, overrides=()):
        """One of the shipped configs: "tiny", "small", "base" or "large".

        Example:
        ```python
        config = electra_keras.ElectraConfig.named("small")  # the paper's ELECTRA-Small
        ```
        """
        path = CONFIG_DIR / f"{name}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
            raise ConfigError(f"no shipped config {name!r}; choose one of {', '.join(known)}")
        return cls.from_yaml(path, overrides)

    @classmethod
    def from_yaml(cls, path, overrides=()):
        """Loads a YAML file, then applies `section.key=value` overrides."""
        path = pathlib.Path(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        values = values or {}
        for override in overrides:
            apply_override(values, override)
        return cls.from_dict(values, source=str(path))

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_yaml(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def validate(self):
        for field in dataclasses.fields(self):
            getattr(self, field.name).validate()
        max_predictions = self.objective.resolved_max_predictions(self.data.sequence_length)
        if max_predictions > self.data.sequence_length:
            raise ConfigError(
                f"objective.max_predictions_per_seq ({max_predictions}) exceeds "
                f"data.sequence_length ({self.data.sequence_length})"
            )
        if self.data.sequence_length > self.model.max_position_embeddings:
            raise ConfigError(
                f"data.sequence_length ({self.data.sequence_length}) exceeds "
                f"model.max_position_embeddings ({self.model.max_position_embeddings})"
            )


def apply_override(values, override):
    """Sets `section.key=value` in nested dicts; the value is parsed as YAML.

    Example:
    ```python
    values = {}
    electra_keras.config.apply_override(values, "training.batch_size=64")
    values  # {"training": {"batch_size": 64}}
    ```
    """
    key, separator, raw_value = override.partition("=")
    parts = key.strip().split(".")
    if not separator or len(parts) != 2 or not all(parts):
        raise ConfigError(
            f"override {override!r}: expected 'section.key=value', e.g. 'training.batch_size=64'"
        )
    try:
        value = yaml.safe_load(raw_value)
    except yaml.YAMLError:
        raise ConfigError(f"override {override!r}: value is not valid YAML") from None
    section, name = parts
    values.setdefault(section, {})
    if not isinstance(values[section], dict):
        raise ConfigError(f"override {override!r}: '{section}' is not a section")
    values[section][name] = value


def _build_section(section_class, section_name, values, source):
    known = {field.name: field for field in dataclasses.fields(section_class)}
    for name in values:
        if name not in known:
            raise ConfigError(
                f"{source}: unknown key '{section_name}.{name}'; "
                f"known keys of '{section_name}': {', '.join(sorted(known))}"
            )
    kwargs = {}
    hints = typing.get_type_hints(section_class)
    for name, value in values.items():
        kwargs[name] = _coerce(value, hints[name], f"{source}: {section_name}.{name}")
    return section_class(**kwargs)


def _coerce(value, annotation, where):
    """Checks a YAML value against the field's type; ints pass as floats."""
    if typing.get_origin(annotation) is typing.Union:
        if value is None:
            return None
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "2e-4" (no dot) as a string.
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{where} must be {annotation.__name__}, got {value!r}")


def _check_positive(section, *names):
    for name in names:
        value = getattr(section, name)
        if value <= 0:
            raise ConfigError(f"{_section_name(section)}.{name} must be positive, got {value!r}")


def _check_non_negative(section, *names):
    for name in names:
        value = getattr(section, name)
        if value < 0:
            raise ConfigError(f"{_section_name(section)}.{name} must be >= 0, got {value!r}")


def _check_probability(section, *names):
    for name in names:
        value = getattr(section, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{_section_name(section)}.{name} must be in [0, 1], got {value!r}")


def _check_fraction(section, *names):
    for name in names:
        value = getattr(section, name)
        if not 0.0 < value <= 1.0:
            raise ConfigError(f"{_section_name(section)}.{name} must be in (0, 1], got {value!r}")


def _section_name(section):
    return type(section).__name__.removesuffix("Config").lower()

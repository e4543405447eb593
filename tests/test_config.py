import pathlib

import pytest

from electra_keras.config import ConfigError
from electra_keras.config import ElectraConfig

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def test_paper_sizes_and_hyperparameters():
    small = ElectraConfig.from_yaml(CONFIGS / "small.yaml")
    base = ElectraConfig.from_yaml(CONFIGS / "base.yaml")
    large = ElectraConfig.from_yaml(CONFIGS / "large.yaml")
    assert (small.model.num_layers, small.model.hidden_size, small.model.num_heads) == (12, 256, 4)
    assert (small.model.generator_hidden_size, small.model.generator_num_heads) == (64, 1)
    assert small.model.generator_intermediate_size == 256
    assert (base.model.generator_hidden_size, base.model.generator_num_heads) == (256, 4)
    assert base.model.generator_intermediate_size == 1024
    assert (large.model.num_layers, large.model.hidden_size, large.model.num_heads) == (24, 1024, 16)
    assert large.model.generator_hidden_size == 256
    assert small.optimizer.learning_rate == 5e-4 and base.optimizer.learning_rate == 2e-4
    assert large.objective.mask_probability == 0.25
    assert small.objective.resolved_max_predictions(small.data.sequence_length) == 19
    assert base.objective.resolved_max_predictions(base.data.sequence_length) == 79
    for config in (small, base, large):
        assert config.objective.discriminator_weight == 50.0
        assert config.optimizer.epsilon == 1e-6 and config.optimizer.weight_decay == 0.01


def test_tiny_config_loads():
    tiny = ElectraConfig.from_yaml(CONFIGS / "tiny.yaml")
    assert tiny.model.num_layers == 2


def test_overrides_apply_and_parse_types():
    config = ElectraConfig.from_yaml(
        CONFIGS / "tiny.yaml",
        ["training.batch_size=7", "optimizer.learning_rate=2e-4", "data.lowercase=true"],
    )
    assert config.training.batch_size == 7
    assert config.optimizer.learning_rate == 2e-4
    assert config.data.lowercase is True


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.hiden_size=3", "unknown key 'model.hiden_size'"),
        ("trainig.batch_size=3", "unknown section 'trainig'"),
        ("training.batch_size=0", "training.batch_size must be positive"),
        ("training.batch_size=abc", "training.batch_size must be int"),
        ("training.num_steps=1.5", "training.num_steps must be int"),
        ("objective.mask_probability=1.5", "objective.mask_probability must be in"),
        ("optimizer.schedule=cosine", "optimizer.schedule must be 'paper' or 'official'"),
        ("objective.kind=bert", "objective.kind must be one of electra, mlm"),
        ("model.hidden_activation=relu", "model.hidden_activation"),
        ("model.num_heads=3", "not divisible"),
        ("data.sequence_length=1024", "exceeds model.max_position_embeddings"),
        ("batch_size=3", "expected 'section.key=value'"),
    ],
)
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        ElectraConfig.from_yaml(CONFIGS / "tiny.yaml", [override])


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ElectraConfig.from_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML"):
        ElectraConfig.from_yaml(broken)


def test_round_trips_through_yaml(tmp_path):
    config = ElectraConfig.from_yaml(CONFIGS / "small.yaml", ["training.seed=3"])
    path = tmp_path / "resolved.yaml"
    path.write_text(config.to_yaml())
    assert ElectraConfig.from_yaml(path) == config

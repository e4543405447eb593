"""Hugging Face ElectraForSequenceClassification in and out, against transformers itself."""

import json

import numpy as np
import pytest
import torch
import transformers
from test_huggingface import COMMON
from test_huggingface import VOCABULARY
from test_huggingface import inputs_with_padding

from electra_keras.interop import open_pretrained
from electra_keras.interop.huggingface import CheckpointFormatError
from electra_keras.interop.huggingface_tasks import classifier_from_huggingface
from electra_keras.interop.huggingface_tasks import save_classifier_huggingface


def make_classifier(folder, problem_type="single_label_classification", num_labels=3, hidden_act="gelu"):
    torch.manual_seed(0)
    config = transformers.ElectraConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        num_labels=num_labels, problem_type=problem_type,
        id2label={i: name for i, name in enumerate(["neg", "neu", "pos"][:num_labels])},
        **{**COMMON, "hidden_act": hidden_act},
    )
    model = transformers.ElectraForSequenceClassification(config)
    with torch.no_grad():
        for parameter in model.parameters():  # away from the initial values, so a wrong map shows
            parameter.add_(0.2 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    return model.eval()


def torch_logits(model, batch):
    with torch.no_grad():
        return model(
            input_ids=torch.from_numpy(batch["token_ids"]).long(),
            token_type_ids=torch.from_numpy(batch["segment_ids"]).long(),
            attention_mask=torch.from_numpy(batch["padding_mask"]).long(),
        ).logits.numpy()


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_sequence_classifier_imports_with_transformers_parity_and_exports_back(hidden_act, tmp_path):
    reference = make_classifier(tmp_path / "hf", hidden_act=hidden_act)
    classifier, labels, problem_type = classifier_from_huggingface(tmp_path / "hf")
    assert labels == ["neg", "neu", "pos"] and problem_type == "single_label_classification"
    batch = inputs_with_padding()
    expected = torch_logits(reference, batch)
    assert np.abs(expected).max() > 0.5
    np.testing.assert_allclose(np.asarray(classifier(batch, training=False)), expected, atol=1e-4)

    save_classifier_huggingface(classifier, VOCABULARY, tmp_path / "back", labels=labels)
    again = transformers.ElectraForSequenceClassification.from_pretrained(tmp_path / "back").eval()
    assert again.config.id2label == {0: "neg", 1: "neu", 2: "pos"}
    np.testing.assert_allclose(torch_logits(again, batch), expected, atol=1e-4)


def test_multi_label_and_regression_problem_types_round_trip(tmp_path):
    make_classifier(tmp_path / "multi", problem_type="multi_label_classification")
    classifier, _, problem_type = classifier_from_huggingface(tmp_path / "multi")
    assert problem_type == "multi_label_classification" and classifier.multi_label
    save_classifier_huggingface(classifier, VOCABULARY, tmp_path / "multi_back")
    config = json.loads((tmp_path / "multi_back" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification" and config["num_labels"] == 3
    make_classifier(tmp_path / "score", problem_type="regression", num_labels=1)
    regressor, _, problem_type = classifier_from_huggingface(tmp_path / "score")
    assert problem_type == "regression" and regressor.num_classes == 1


def test_a_fine_tuned_hf_model_starts_fine_tuning_with_its_encoder_only(tmp_path):
    reference = make_classifier(tmp_path / "hf")
    source = open_pretrained(tmp_path / "hf")
    assert source.kind == "huggingface" and not source.has_generator
    encoder = source.build_pretrainer().discriminator
    batch = inputs_with_padding()
    with torch.no_grad():
        hidden = reference.electra(
            input_ids=torch.from_numpy(batch["token_ids"]).long(),
            token_type_ids=torch.from_numpy(batch["segment_ids"]).long(),
            attention_mask=torch.from_numpy(batch["padding_mask"]).long(),
        ).last_hidden_state.numpy()
    real = batch["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(encoder(batch)["sequence_output"])[real], hidden[real], atol=1e-4)


def test_a_model_that_is_not_a_sequence_classifier_is_refused(tmp_path):
    torch.manual_seed(0)
    config = transformers.ElectraConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=64, **COMMON)
    transformers.ElectraForTokenClassification(config).save_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    with pytest.raises(CheckpointFormatError, match="is not ElectraForSequenceClassification"):
        classifier_from_huggingface(tmp_path)


def test_token_classifier_imports_with_transformers_parity_and_exports_back(tmp_path):
    from electra_keras.interop.huggingface_tasks import save_tagger_huggingface
    from electra_keras.interop.huggingface_tasks import tagger_from_huggingface

    torch.manual_seed(1)
    tags = ["B-LOC", "B-PER", "I-PER", "O"]
    config = transformers.ElectraConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=4,
        id2label=dict(enumerate(tags)), **COMMON,
    )
    reference = transformers.ElectraForTokenClassification(config)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    reference.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    reference.eval()

    tagger, labels, source = tagger_from_huggingface(tmp_path / "hf")
    assert labels == tags and source.vocabulary == VOCABULARY
    batch = inputs_with_padding()
    expected = torch_logits(reference, batch)
    assert expected.shape[:2] == batch["token_ids"].shape and np.abs(expected).max() > 0.5
    np.testing.assert_allclose(np.asarray(tagger(batch, training=False)), expected, atol=1e-4)

    save_tagger_huggingface(tagger, VOCABULARY, tmp_path / "back", labels)
    again = transformers.ElectraForTokenClassification.from_pretrained(tmp_path / "back").eval()
    assert again.config.id2label == dict(enumerate(tags))
    np.testing.assert_allclose(torch_logits(again, batch), expected, atol=1e-4)
    with pytest.raises(CheckpointFormatError, match="is not ElectraForTokenClassification"):
        tagger_from_huggingface(make_classifier_folder(tmp_path / "classifier"))


def make_classifier_folder(folder):
    make_classifier(folder)
    return folder


def test_question_answerer_imports_with_transformers_parity_and_exports_back(tmp_path):
    from electra_keras.interop.huggingface_tasks import answerer_from_huggingface
    from electra_keras.interop.huggingface_tasks import save_answerer_huggingface

    torch.manual_seed(2)
    config = transformers.ElectraConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **COMMON)
    reference = transformers.ElectraForQuestionAnswering(config)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    reference.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n")
    reference.eval()

    def torch_spans(model, batch):
        with torch.no_grad():
            out = model(input_ids=torch.from_numpy(batch["token_ids"]).long(),
                        token_type_ids=torch.from_numpy(batch["segment_ids"]).long(),
                        attention_mask=torch.from_numpy(batch["padding_mask"]).long())
        return out.start_logits.numpy(), out.end_logits.numpy()

    reader, source = answerer_from_huggingface(tmp_path / "hf")
    batch = inputs_with_padding()
    expected_start, expected_end = torch_spans(reference, batch)
    assert np.abs(expected_start - expected_end).max() > 0.1  # the two outputs are not swapped unnoticed
    answer = reader(batch, training=False)
    np.testing.assert_allclose(np.asarray(answer["start_logits"]), expected_start, atol=1e-4)
    np.testing.assert_allclose(np.asarray(answer["end_logits"]), expected_end, atol=1e-4)

    save_answerer_huggingface(reader, source.vocabulary, tmp_path / "back")
    again = transformers.ElectraForQuestionAnswering.from_pretrained(tmp_path / "back").eval()
    for got, want in zip(torch_spans(again, batch), (expected_start, expected_end)):
        np.testing.assert_allclose(got, want, atol=1e-4)
    with pytest.raises(CheckpointFormatError, match="is not ElectraForQuestionAnswering"):
        answerer_from_huggingface(make_classifier_folder(tmp_path / "classifier"))

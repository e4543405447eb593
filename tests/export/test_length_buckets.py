"""Bucket widths: each text pays for its own tokens, and results come back in request order."""

import numpy as np
import pytest
import tensorflow as tf

from electra_keras.export.length_buckets import LengthBuckets
from electra_keras.export.length_buckets import check_length_buckets
from electra_keras.export.length_buckets import default_length_buckets
from electra_keras.export.text_encoding import one_token_word


# The widths these tests run at (the default until the fused serving graph made finer buckets pay).
DOUBLING = [16, 32, 64, 128]


def test_default_buckets_step_by_a_half_from_16_and_end_at_the_length():
    assert default_length_buckets(128) == [8, 16, 24, 32, 48, 64, 96, 128]
    assert default_length_buckets(100) == [8, 16, 24, 32, 48, 64, 96, 100]
    assert default_length_buckets(12) == [8, 12]
    assert LengthBuckets(512).widths[-4:] == [192, 256, 384, 512]
    assert check_length_buckets([64, 32, 32], 128) == [32, 64, 128]


def test_xla_buckets_only_double_from_16():
    assert default_length_buckets(128, jit_compile=True) == [16, 32, 64, 128]
    assert default_length_buckets(12, jit_compile=True) == [12]
    assert LengthBuckets(128, jit_compile=True).widths == [16, 32, 64, 128]


def test_a_bucket_past_the_length_is_a_clear_error():
    with pytest.raises(ValueError, match=r"length buckets \[256\] are outside 1\.\.128"):
        check_length_buckets([64, 256], 128)
    with pytest.raises(ValueError, match="sequence length 64 given to an export of sequence length 128"):
        LengthBuckets.for_length(LengthBuckets(64), 128)


def packed(lengths, width=128):
    """A batch whose row i holds lengths[i] real tokens, each its row number times 1000 plus its position."""
    rows = len(lengths)
    positions = np.arange(width)[None, :]
    mask = (positions < np.array(lengths)[:, None]).astype("int32")
    token_ids = (np.arange(rows)[:, None] * 1000 + positions + 1) * mask
    return {"token_ids": tf.constant(token_ids, tf.int32), "padding_mask": tf.constant(mask)}


def toy_model(inputs):
    """Per token: a running sum of the row's ids (so a token sees the ones before it); per row: the width it ran at."""
    ids = tf.cast(inputs["token_ids"], tf.float32)
    rows, width = tf.shape(ids)[0], tf.shape(ids)[1]
    return {"running": tf.cumsum(ids, axis=1) * tf.cast(inputs["padding_mask"], tf.float32)}, {
        "width": tf.fill([rows], width)
    }


@pytest.mark.parametrize("group_by_length", [True, False])
def test_outputs_on_real_tokens_equal_the_full_length_run_in_request_order(group_by_length):
    lengths = [40, 3, 128, 17, 16, 0, 64]
    buckets = LengthBuckets(128, DOUBLING, group_by_length=group_by_length)
    per_token, per_row = tf.function(lambda inputs: buckets.run(toy_model, inputs))(packed(lengths))
    full, _ = toy_model(packed(lengths))
    assert per_token["running"].shape == (len(lengths), 128)  # the longest text needs the widest bucket
    np.testing.assert_array_equal(per_token["running"], full["running"])
    own_bucket = [64, 16, 128, 32, 16, 16, 64]
    expected_widths = own_bucket if group_by_length else [128] * len(lengths)
    assert per_row["width"].numpy().tolist() == expected_widths


def test_a_batch_of_short_texts_runs_and_answers_at_a_narrow_width():
    buckets = LengthBuckets(128, DOUBLING)
    per_token, per_row = tf.function(lambda inputs: buckets.run(toy_model, inputs))(packed([5, 20, 9], width=128))
    assert per_token["running"].shape == (3, 32)
    assert per_row["width"].numpy().tolist() == [16, 32, 16]
    full, _ = toy_model(packed([5, 20, 9]))
    np.testing.assert_array_equal(per_token["running"], full["running"][:, :32])


def test_an_empty_batch_gives_empty_outputs():
    buckets = LengthBuckets(64, DOUBLING[:3])
    per_token, per_row = tf.function(lambda inputs: buckets.run(toy_model, inputs))(packed([], width=64))
    assert per_token["running"].shape == (0, 16)
    assert per_row["width"].shape == (0,)


def test_xla_pads_rows_to_a_power_of_two_and_cuts_them_back():
    buckets = LengthBuckets(64, jit_compile=True)

    def model_reporting_rows(inputs):
        per_token, per_row = toy_model(inputs)
        rows = tf.shape(inputs["token_ids"])[0]
        return per_token, {**per_row, "rows": tf.fill([rows], rows)}

    lengths = [3, 5, 40, 2]
    per_token, per_row = tf.function(lambda inputs: buckets.run(model_reporting_rows, inputs))(packed(lengths, 64))
    full, _ = toy_model(packed(lengths, 64))
    np.testing.assert_array_equal(per_token["running"], full["running"])
    assert per_row["width"].numpy().tolist() == [16, 16, 64, 16]
    assert per_row["rows"].numpy().tolist() == [4, 4, 1, 4]  # three short texts ran as four rows


def test_warmup_requests_meet_every_width_at_every_batch_size():
    requests = LengthBuckets(64, DOUBLING[:3]).warmup_requests(["[PAD]", "the"])
    assert len(requests) == 3 * 6
    widths = sorted({len(request["text"][0].split()) + 2 for request in requests})
    assert widths == [16, 32, 64]  # [CLS] words [SEP] fills each bucket exactly
    assert sorted({len(request["text"]) for request in requests}) == [1, 2, 4, 8, 16, 32]
    pairs = LengthBuckets(64, DOUBLING[:3]).warmup_requests(["[PAD]", "the"], ("text", "text_pair"))
    assert {len(request["text"][0].split()) + 3 for request in pairs} == {16, 32, 64}
    assert all(set(request["text_pair"]) == {""} for request in pairs)


def test_one_token_word_skips_special_and_continuation_tokens():
    assert one_token_word(["[PAD]", "[CLS]", "##s", "서울", ".", "the"]) == "the"
    assert one_token_word(["[PAD]", "##s", "서울"]) == "서울"
    assert one_token_word(["[PAD]", "##s"]) is None
    assert LengthBuckets(64).warmup_requests(["[PAD]", "##s"]) == []

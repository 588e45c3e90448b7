"""The encoder-decoder chapter's helpers, as the page defines them: sums of the stated lengths, decoder
inputs and targets shifted by one around the start and end tokens, a one-step decoder that equals the
trained model under teacher forcing, and greedy decoding scored by exact match."""

import keras
import numpy as np
from chapter_code import load_chapter_code

chapter = load_chapter_code("generative/seq2seq_addition.md")
chapter["keras"] = keras
VOCABULARY, TOKEN = chapter["VOCABULARY"], chapter["TOKEN"]


def text(ids):
    return "".join(VOCABULARY[i] for i in ids)


def test_sums_have_the_longer_number_of_the_drawn_length():
    for digits in (1, 3, 5):
        a, b = chapter["random_sums"](500, digits, np.random.default_rng(digits), min_digits=digits)
        longer = np.maximum(a, b)
        assert all(len(str(x)) == digits for x in longer), digits
        assert all(len(str(x)) <= digits for x in np.minimum(a, b))


def test_decoder_targets_are_its_inputs_shifted_by_one_with_an_end_token():
    questions, decoder_inputs, targets = chapter["encode_sums"]([347, 5], [58, 0], 7, 4)
    assert [text(q) for q in questions] == [" 347+58", "    5+0"]
    assert [text(d) for d in decoder_inputs] == ["^405 ", "^5   "]
    assert [text(t) for t in targets] == ["405$ ", "5$   "]
    answer_steps = decoder_inputs[:, 1:] != TOKEN[" "]
    assert np.array_equal(targets[:, :-1][answer_steps], decoder_inputs[:, 1:][answer_steps])


def test_the_one_step_decoder_is_the_model_under_teacher_forcing_and_greedy_decoding_reads_to_the_end():
    model = chapter["seq2seq"](units=8, embedding=4, seed=1)
    questions, decoder_inputs, _ = chapter["encode_sums"]([12, 999, 4], [7, 1, 60], 7, 4)
    encoder, step = chapter["inference_models"](model)
    h, c = encoder.predict(questions, verbose=0)
    steps = []
    for t in range(decoder_inputs.shape[1]):
        logits, h, c = step.predict([decoder_inputs[:, t : t + 1], h, c], verbose=0)
        steps.append(logits)
    whole = model.predict([questions, decoder_inputs], verbose=0)
    assert np.allclose(np.stack(steps, axis=1), whole, atol=1e-5)
    answers = chapter["greedy_decode"](encoder, step, questions, 5)
    assert len(answers) == 3 and all(a is None or isinstance(a, str) for a in answers)
    assert chapter["exact_match"](["19", "1000", None], [12, 999, 4], [7, 1, 60]) == 2 / 3

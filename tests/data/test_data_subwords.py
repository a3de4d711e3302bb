"""Character n-grams: the pieces of a word, their vocabulary and the padded table."""

from __future__ import annotations

import numpy as np

from rnnlab.data.subwords import char_ngrams, ngram_table, ngram_vocabulary


def test_char_ngrams_of_a_short_word_with_boundary_marks():
    assert char_ngrams("fun", 3, 4) == ["<fu", "fun", "un>", "<fun", "fun>"]
    assert char_ngrams("a", 3, 5) == ["<a>"]  # "<a>" is the only piece of length >= 3
    assert len(char_ngrams("where")) == 5 + 4 + 3  # 7 characters with the marks: n = 3, 4, 5


def test_vocabulary_ids_start_at_one_in_first_seen_order():
    index = ngram_vocabulary(["fun", "fun", "funny"], min_types=1)
    assert index["<fu"] == 1 and index["fun"] == 2 and index["un>"] == 3
    assert 0 not in index.values()  # 0 is padding
    assert len(index) == len(set(char_ngrams("fun") + char_ngrams("funny")))


def test_vocabulary_keeps_ngrams_shared_by_enough_distinct_words():
    words = ["fun", "funny", "fund", "fun"]  # "fun" twice still counts as one word
    shared = ngram_vocabulary(words, min_types=3)
    assert set(shared) == {"<fu", "fun", "<fun"}  # in all three distinct words
    # "un>" (fun), "unn" (funny), "und" (fund): each in one word only
    assert set(ngram_vocabulary(words, min_types=2)) == set(shared)
    assert {"un>", "unn", "und"} <= set(ngram_vocabulary(words, min_types=1))
    assert ngram_vocabulary(words, min_types=4) == {}


def test_table_rows_hold_known_ngrams_padded_and_empty_rows_for_specials():
    index = ngram_vocabulary(["fun"], min_types=1)
    table = ngram_table(["<pad>", "fun", "unfun", "xyz"], index, no_ngrams=[0])
    assert table.shape == (4, 6) and table.dtype == np.int64
    assert (table[0] == 0).all()  # padding: an empty bag
    np.testing.assert_array_equal(table[1], [index[g] for g in char_ngrams("fun")])
    # an unseen word keeps only the n-grams training saw: "fun", "un>", "fun>"
    assert sorted(table[2][table[2] > 0]) == sorted([index["fun"], index["un>"], index["fun>"]])
    assert (table[3] == 0).all()  # nothing known

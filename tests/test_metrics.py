"""The package's digit classifier (fundiff.metrics), the quality metric of generated digits."""
import pytest
import torch

from fundiff.data import load_digits
from fundiff.metrics import classify, per_digit_accuracy


def test_shipped_classifier_reads_the_held_out_digits():
    x, y = load_digits("heldout")
    assert (classify(x) == y).float().mean() >= 0.95


def test_per_digit_accuracy_counts_each_asked_digit():
    x, y = load_digits("heldout")
    acc = per_digit_accuracy(x, y)
    assert sorted(acc) == list(range(10)) and all(0.8 <= a <= 1 for a in acc.values())
    wrong = per_digit_accuracy(x, (y + 1) % 10)
    assert max(wrong.values()) < 0.2


def test_bad_images_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        classify(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*\(x \+ 1\) / 2"):
        classify(torch.full((2, 1, 28, 28), -1.0))

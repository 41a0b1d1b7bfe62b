"""Means, spreads, paired differences and the seed list of studies, against hand values."""
import math

import pytest

from kdaug.errors import KdaugError
from kdaug.study import stats


def test_summary_is_mean_and_sample_std():
    s = stats.summary([90.0, 92.0, 94.0])
    assert s["mean"] == 92.0 and s["n"] == 3
    assert math.isclose(s["std"], 2.0)          # sqrt(((-2)^2 + 0 + 2^2) / 2)
    assert stats.summary([88.5])["std"] is None  # one seed: no spread


def test_paired_difference_and_t_test():
    # differences 2, 3, 4: mean 3, sd 1, se 1/sqrt(3); t = 5.196 > t975(2) = 4.303
    p = stats.paired([92.0, 93.0, 94.0], [90.0, 90.0, 90.0])
    assert p["mean"] == 3.0 and math.isclose(p["std"], 1.0)
    assert p["higher"] == 3 and p["lower"] == 0 and p["exceeds_spread"] is True
    assert stats.verdict(p) == "higher, beyond the spread"
    # differences 1, -1, 3: mean 1, sd 2, t = 0.866: within the spread
    q = stats.paired([91.0, 89.0, 93.0], [90.0, 90.0, 90.0])
    assert q["exceeds_spread"] is False and stats.verdict(q) == "within the spread"
    # the same difference on every seed is beyond any spread; one seed has none
    assert stats.paired([91.0, 91.0], [90.0, 90.0])["exceeds_spread"] is True
    assert stats.verdict(stats.paired([91.0], [90.0])) == "one seed: no spread"
    assert stats.verdict(stats.paired([80.0, 81.0, 80.5], [90.0, 90.2, 90.1])) == \
        "lower, beyond the spread"


def test_t_quantiles():
    assert stats.t975(1) == 12.706 and stats.t975(4) == 2.776 and stats.t975(100) == 1.96
    with pytest.raises(ValueError):
        stats.t975(0)


@pytest.mark.parametrize("text,seeds", [("0,1,2", [0, 1, 2]), ("0-4", [0, 1, 2, 3, 4]),
                                        ("3, 0-1", [3, 0, 1]), ("7", [7])])
def test_seed_lists(text, seeds):
    assert stats.parse_seeds(text) == seeds


@pytest.mark.parametrize("text,message", [("", "--seeds is empty"), (" , ", "--seeds is empty"),
                                          ("0,1,0", "0 is given twice"),
                                          ("0-2,2", "2 is given twice"),
                                          ("4-1", "is empty"), ("a", "expects integers"),
                                          ("-1", "expects integers")])
def test_bad_seed_lists(text, message):
    with pytest.raises(KdaugError, match=message):
        stats.parse_seeds(text)

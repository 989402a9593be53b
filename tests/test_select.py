"""Selection: uncertainty threshold with farthest-point diversity, random baseline."""

from __future__ import annotations

import numpy as np

from alforge.campaign.select import select_random, select_uncertain, select_validation


def test_diverse_selection_spreads_over_clusters() -> None:
    """Two tight clusters of uncertain frames: FPS takes one from each, not the two most uncertain."""
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0.0, 0.01, size=(20, 2)), rng.normal(5.0, 0.01, size=(20, 2))])
    stds = np.r_[np.linspace(0.9, 0.8, 20), np.linspace(0.5, 0.4, 20)]
    picked = select_uncertain(stds.tolist(), points, threshold=0.1, max_labels=2, diversity="fps")
    assert picked[0] == 0
    assert picked[1] >= 20
    assert select_uncertain(stds.tolist(), points, threshold=0.1, max_labels=2, diversity="none") == [0, 1]


def test_uncertain_frames_above_threshold_most_uncertain_first() -> None:
    values = [0.01, 0.5, 0.2, 0.05, 0.9]
    assert select_uncertain(values, None, threshold=0.1, max_labels=2) == [4, 1]
    assert select_uncertain(values, None, threshold=1.0, max_labels=2) == []


def test_uncertain_with_diversity_avoids_near_duplicates() -> None:
    values = [0.9, 0.89, 0.5]
    descriptors = np.array([[0.0], [0.001], [3.0]])
    assert select_uncertain(values, descriptors, threshold=0.1, max_labels=2, diversity="fps") == [0, 2]
    assert select_uncertain(values, descriptors, threshold=0.1, max_labels=2, diversity="none") == [0, 1]


def test_random_and_validation_draws_are_distinct_and_seeded() -> None:
    first = select_random(10, 4, np.random.default_rng(3))
    again = select_random(10, 4, np.random.default_rng(3))
    assert first == again
    assert len(set(first)) == 4
    origins = ["sampled", "uncertain", "sampled", "beyond", "sampled", "guard"]
    stds = [0.1, 0.5, 0.2, 2.0, 0.3, 0.4]
    held = select_validation(stds, origins, 2, np.random.default_rng(4))
    assert len(held) == 2
    assert {origins[i] for i in held} == {"sampled"}
    topped_up = select_validation(stds, origins, 4, np.random.default_rng(4))  # three sampled frames only
    assert sorted(topped_up) == [0, 1, 2, 4]
    assert select_random(3, 10, np.random.default_rng(0)) == [0, 1, 2]


def test_training_picks_guards_then_the_window_then_the_least_lost() -> None:
    from alforge.campaign.select import select_training

    values = [0.01, 0.15, 0.25, 0.9, 0.5, float("inf"), 0.12]
    reasons = ["sampled", "uncertain", "uncertain", "beyond", "beyond", "guard", "sampled"]
    # window (0.1, 0.3): indices 1, 2, 6 ; beyond: 4 (0.5) before 3 (0.9); guard: 5
    assert select_training(values, reasons, None, 0.1, 0.3, k=1) == [5]
    assert select_training(values, reasons, None, 0.1, 0.3, k=4) == [5, 2, 1, 6]
    assert select_training(values, reasons, None, 0.1, 0.3, k=6) == [5, 2, 1, 6, 4, 3]
    assert select_training(values, reasons, None, 0.1, 0.3, k=6, exclude=[6, 5]) == [2, 1, 4, 3]
    assert select_training(values, reasons, None, 0.1, 0.3, k=0) == []

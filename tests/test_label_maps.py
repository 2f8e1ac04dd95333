"""The authors' label map (one collision) and the distinct 41-class map."""

from __future__ import annotations

import pytest

from asdlib.data.dcase import ALL_MACHINES, class_index, label_map_table, paper_mask_type


def test_paper_map_has_exactly_one_collision():
    table = label_map_table("paper")
    assert len(table) == 41
    counts = table["class_index"].value_counts()
    assert list(counts[counts > 1].index) == [13]
    clash = table[table["class_index"] == 13]
    assert set(zip(clash["machine_type"], clash["machine_id"])) == {("pump", "06"), ("slider", "00")}
    assert table["class_index"].nunique() == 40
    assert 20 not in set(table["class_index"])  # ToyCar IDs start at 01
    assert set(table["class_index"]) <= set(range(41))


def test_distinct_map_covers_all_41_machines():
    table = label_map_table("distinct")
    assert sorted(table["class_index"]) == list(range(41))
    assert set(zip(table["machine_type"], table["machine_id"])) == set(ALL_MACHINES)
    assert len(ALL_MACHINES) == 41


def test_pump_06_falls_in_the_slider_mask():
    assert class_index("pump", "06", "paper") == class_index("slider", "00", "paper") == 13
    assert paper_mask_type(class_index("pump", "06", "paper")) == "slider"
    assert paper_mask_type(class_index("pump", "04", "paper")) == "pump"


def test_bad_label_map_and_machine_are_named():
    with pytest.raises(ValueError, match="label map"):
        class_index("fan", "00", "other")
    with pytest.raises(ValueError, match="ToyCar"):
        class_index("ToyCar", "00")

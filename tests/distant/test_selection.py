"""Which model labels each image slot, and its label -> value map."""

import pandas as pd
import pytest

from pipeline.distant.config import DEFAULT_SLOT_CLASSIFIERS, SlotClassifierChoice
from pipeline.distant.selection import (NO_CLASSIFIER, NOT_TRAINED, READY, choose_slot_classifiers, format_choice,
                                        parse_choice, read_slot_classifiers, write_slot_classifiers)
from pipeline.schema import default_schema


def model(name, strategy, tasks, val, test=None):
    return {"name": name, "strategy": strategy, "tasks": tasks, "path": f"/m/{name}/model.pt",
            "validation_accuracy": val, "test_accuracy": test or val, "test_images": {t: 10 for t in tasks}}


RECORDS = {
    "utzap50k": {"tasks": [{"task": "HeelHeight", "classes": ["1in - 1 3/4in", "Flat", "Under 1in"]},
                           {"task": "Closure", "classes": ["Zipper", "Lace up"]}],
                 "models": [model("joint", "joint", ["Closure", "HeelHeight"], {"Closure": 0.9, "HeelHeight": 0.4}),
                            model("single_task-HeelHeight", "single_task", ["HeelHeight"], {"HeelHeight": 0.7})]},
    "fashionai": {"tasks": [{"task": "neckline_design_labels", "classes": ["Invisible", "V Neckline"], "images": 400},
                            {"task": "neck_design_labels", "classes": ["Turtle Neck"], "images": 150}],
                  "models": [model("multi_task", "multi_task", ["neckline_design_labels", "neck_design_labels"],
                                   {"neckline_design_labels": 0.8, "neck_design_labels": 0.6})]},
}


def test_best_validation_model_wins_and_labels_map_to_values():
    choices = [SlotClassifierChoice("heel_height", "utzap50k", ("HeelHeight",)),
               SlotClassifierChoice("closure", "utzap50k", ("Closure",)),
               SlotClassifierChoice("neckline", "fashionai", ("neckline_design_labels", "neck_design_labels")),
               SlotClassifierChoice("color", "ifashion", ("color",))]
    table = choose_slot_classifiers(RECORDS, choices, ["heel_height", "closure", "neckline", "color", "toecap"],
                                    default_schema()).set_index("slot")
    assert table.loc["heel_height", "model"] == "single_task-HeelHeight"      # 0.7 beats the joint 0.4
    assert table.loc["closure", "model"] == "joint"
    assert table.loc["neckline", "validation_accuracy"] == pytest.approx(0.7)  # mean over the merged tasks
    assert table.loc["color", "status"] == NOT_TRAINED
    assert table.loc["toecap", "status"] == NO_CLASSIFIER
    assert set(table["status"]) == {READY, NOT_TRAINED, NO_CLASSIFIER}
    heel = table.loc["heel_height"]
    assert heel["label_to_value"] == ('{"HeelHeight\\t1in - 1 3/4in": "低跟", "HeelHeight\\tFlat": "平跟", '
                                      '"HeelHeight\\tUnder 1in": "平跟"}')
    assert table.loc["neckline", "unmapped_labels"] == ["neckline_design_labels: Invisible"]
    assert table.loc["neckline", "task_weights"] == {"neckline_design_labels": 400, "neck_design_labels": 150}


def test_a_fixed_strategy_restricts_the_candidates():
    choice = SlotClassifierChoice("heel_height", "utzap50k", ("HeelHeight",), "joint")
    row = choose_slot_classifiers(RECORDS, [choice], ["heel_height"], default_schema()).iloc[0]
    assert row["model"] == "joint"


def test_choices_round_trip_through_the_run_config_form(tmp_path):
    for choice in DEFAULT_SLOT_CLASSIFIERS:
        assert parse_choice(format_choice(choice)) == choice
    assert parse_choice("color=ifashion:color") == SlotClassifierChoice("color", "ifashion", ("color",), "best")
    with pytest.raises(ValueError):
        parse_choice("color:ifashion")
    table = choose_slot_classifiers(RECORDS, DEFAULT_SLOT_CLASSIFIERS, ["closure"], default_schema())
    back = read_slot_classifiers(write_slot_classifiers(table, tmp_path / "s.json"))
    assert back.loc[0, "label_to_value"] == {"Closure\tZipper": "拉链", "Closure\tLace up": "系带"}
    assert isinstance(back, pd.DataFrame) and back.loc[0, "status"] == READY

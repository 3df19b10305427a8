"""The slot schema: the paper's counts, and bad entries named with their file."""

import shutil

import pytest

from pipeline.schema import CONFIG_DIR, SchemaError, default_schema, load_schema

PAPER_IMAGE_SLOTS = {"neckline", "color", "sleeve_length", "toecap", "closure", "heel_height",
                     "upper_height", "skirt_length", "pant_length"}


def test_default_schema_matches_the_paper():
    schema = default_schema()
    assert len(schema.slots) == 25
    assert {k for k, m in schema.paper_partition().items() if m == "image"} == PAPER_IMAGE_SLOTS
    counts = {c.name: (len(c.image_slots), len(c.text_slots)) for c in schema.categories}
    assert counts == {"Clothes": (3, 10), "Pants": (2, 10), "Dresses": (4, 9), "Shoes": (5, 5), "Boots": (4, 7)}
    assert len(schema.mepave_attributes) == 26 and schema.attribute_to_slot["形状"] is None
    assert schema.normalize_value("color", "大红色") == "红色"
    assert schema.normalize_value("color", "黑色") == "黑色"
    assert schema.normalize_value("color", "彩虹色") is None
    assert schema.map_label("fashionai", "sleeve_length_labels", "Sleeveless").value == "无袖"
    assert schema.map_label("fashionai", "sleeve_length_labels", "Invisible") is None


@pytest.fixture
def config(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def edit(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("file, old, new, must_mention", [
    ("value_maps.csv", "Sleeveless,sleeve_length,无袖", "Sleeveless,sleeve_length,无袖子", "Sleeveless"),
    ("value_maps.csv", "source,task,label,slot,value", "source,task,label,value", "header"),
    ("synonyms.csv", "color,黑,黑色", "color,黑,黑色\ncolor,黑,白色", "color,黑"),
    ("synonyms.csv", "color,黑,黑色", "colour,黑,黑色", "colour"),
    ("categories.yaml", "image_slots: [neckline, color, sleeve_length]", "image_slots: [neckline, colour, sleeve_length]", "colour"),
    ("slots.yaml", "key: slit_type", "key: pattern", "pattern"),
    ("slots.yaml", "key: fit", "key: Fit", "Fit"),
])
def test_bad_entry_names_file_and_entry(config, file, old, new, must_mention):
    edit(config / file, old, new)
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    assert file in str(err.value) and must_mention in str(err.value)


def test_copied_config_loads(config):
    assert load_schema(config).slot_keys == default_schema().slot_keys


# -- further checks (vocabulary closure, more bad entries) ------------------------------------

def test_every_mapped_value_is_in_its_vocabulary():
    schema = default_schema()
    assert schema.value_maps
    for e in schema.value_maps:
        assert e.value in schema.slot(e.slot).values, e
    for (slot, _), canonical in schema.synonyms.items():
        assert canonical in schema.slot(slot).values


def test_unknown_slot_in_categories_names_file_and_entry(config):
    edit(config / "categories.yaml", "image_slots: [color, pant_length]",
         "image_slots: [color, trouser_length]")
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    assert "categories.yaml" in str(err.value) and "Pants: trouser_length" in str(err.value)


def test_value_not_in_vocabulary(config):
    edit(config / "value_maps.csv", "Short Pant,pant_length,短裤", "Short Pant,pant_length,热裤")
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    msg = str(err.value)
    assert "value_maps.csv" in msg and "Short Pant" in msg and "vocabulary" in msg


def test_duplicate_synonym_and_slot_key(config):
    edit(config / "synonyms.csv", "color,红,红色", "color,红,红色\ncolor,红,红色")
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    assert "synonyms.csv" in str(err.value) and "color,红,红色" in str(err.value)


def test_duplicate_slot_key(config):
    edit(config / "slots.yaml", "key: hem_type", "key: color")
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    assert "slots.yaml" in str(err.value) and "color" in str(err.value)


def test_bad_synonyms_header(config):
    edit(config / "synonyms.csv", "slot,variant,canonical", "slot,variant")
    with pytest.raises(SchemaError) as err:
        load_schema(config)
    assert "synonyms.csv" in str(err.value) and "header" in str(err.value)

"""Hostile inputs for every source reader: each fault lands in rejects with its own reason,
nothing raises, nothing is silently dropped, and no file outside the source is read.

Layout of every test: the source root is ``tmp_path / "src"``; ``tmp_path / "outside"`` plays
a folder outside the source (the target of symlinks that must not be followed by default).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.images import check_image, load_rgb
from pipeline.io import write_parquet
from pipeline.records import REJECT_COLUMNS
from pipeline.sources.registry import read_source

from .imgutil import reasons, write_corrupt, write_image

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG = "a" * 140_000                      # one CSV field over the 128 KB (131072 chars) limit
SKIRT, SKIRT_MARKS = "skirt_length_labels", "nnynnn"       # -> Knee Length
UTZ_HEADER = "CID,Category,SubCategory,HeelHeight,Insole,Closure,Gender,Material,ToeStyle"
UTZ_META = "ut-zap50k-data/meta-data.csv"
UTZ_IMAGES = "ut-zap50k-images/Shoes/Oxfords/Brand X"
TRAIN, VALID, TEST = "jdai.jave.fashion.train", "jdai.jave.fashion.valid", "jdai.jave.fashion.test"


# -- helpers ------------------------------------------------------------------------------

def _bytes(lines: list[str | bytes], sep: bytes = b"\n") -> bytes:
    return sep.join(x if isinstance(x, bytes) else x.encode("utf-8") for x in lines) + sep


def _read(kind: str, path: Path, follow: bool | None = None):
    """read_source; the new keyword is passed only when a test is about it."""
    if follow is None:
        return read_source(kind, path)
    return read_source(kind, path, follow_links_outside=follow)


def _clean(res, tmp_path: Path) -> None:
    """Rejects have the standard columns, UTF-8-encodable text, and write to parquet."""
    rej = res.rejects
    assert list(rej.columns) == list(REJECT_COLUMNS)
    for col in ("location", "record", "detail"):
        for value in rej[col].tolist():
            assert isinstance(value, str)
            value.encode("utf-8")                    # raises on lone surrogates
    write_parquet(rej, tmp_path / "_out" / "rejects.parquet")


def _bad_name_dir(path: bytes) -> None:
    try:
        os.makedirs(path)
    except (OSError, UnicodeError):
        pytest.skip("filesystem refuses non-UTF-8 names")


def _bad_name_file(folder: Path, name: bytes) -> None:
    """A valid JPEG named ``name`` (raw bytes) inside ``folder``."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with open(os.fsencode(folder) + b"/" + name, "wb") as fh:
            fh.write(buf.getvalue())
    except (OSError, UnicodeError):
        pytest.skip("filesystem refuses non-UTF-8 names")


# fashionai: Annotations/label.csv + Images/<task>/<name>
def _fa_line(root: Path, name: str, task: str = SKIRT, marks: str = SKIRT_MARKS) -> str:
    write_image(root / "Images" / task / name, seed=len(name))
    return f"Images/{task}/{name},{task},{marks}"


def _fa(root: Path, lines: list[str | bytes]) -> Path:
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / "label.csv").write_bytes(_bytes(lines))
    return root


# utzap50k: meta-data.csv + one image per CID ("a-b" -> a.b.jpg)
def _utz_img(root: Path, cid: str) -> None:
    write_image(root / UTZ_IMAGES / (cid.replace("-", ".") + ".jpg"))


def _utz_row(root: Path, cid: str, heel: str = "Flat", image: bool = True) -> str:
    if image:
        _utz_img(root, cid)
    return f"{cid},Shoes,Oxfords,{heel},,,,,"


def _utz(root: Path, rows: list[str | bytes]) -> Path:
    meta = root / UTZ_META
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_bytes(_bytes([UTZ_HEADER, *rows]))
    return root


# crawl: <attribute>/<value>/<file>, optional manifest.csv
def _crawl_manifest(root: Path, rows: list[str]) -> None:
    (root / "manifest.csv").write_bytes(_bytes(["path,label,url,query", *rows]))


# mepave: cid \t sid \t sentence \t tagged sentence; every product names a dress (连衣裙)
def _mp(cid: str, sid: str, text: str = "红色连衣裙", tagged: str | None = None) -> str:
    return f"{cid}\t{sid}\t{text}\t{tagged if tagged is not None else text}"


def _mp_good(i: int) -> str:
    return _mp(f"c_{i}", f"s_{i}", "红色连衣裙", "<颜色>红色</颜色>连衣裙")


def _mepave(folder: Path, lines: list[str | bytes], name: str = TRAIN, sep: bytes = b"\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(_bytes(lines, sep))
    return folder


# ifashion: train.json / validation.json + images/{imageId}.jpg; 17 Black/color, 66 Female/gender
def _im(i: str) -> dict:
    return {"imageId": i, "url": f"https://example.invalid/{i}.jpg"}


def _ifashion(root: Path, train: dict | str, validation: dict | str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (("train.json", train),
                       ("validation.json", validation or {"images": [], "annotations": []})):
        (root / name).write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return root


def _cli(kind: str, path: Path, *flags: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "check-source", kind, str(path), *flags],
                          cwd=REPO_ROOT, capture_output=True, timeout=300)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc


# -- 1. fields over 128 KB ------------------------------------------------------------------

def test_fashionai_field_too_long(tmp_path):
    root = tmp_path / "src"
    res = _read("fashionai", _fa(root, [_fa_line(root, "a.jpg"), f"Images/{SKIRT}/{BIG}.jpg,{SKIRT},nnynnn",
                                       _fa_line(root, "b.jpg")]))
    assert reasons(res) == ["field_too_long"] and len(res.valid) == 2
    _clean(res, tmp_path)


def test_utzap50k_field_too_long(tmp_path):
    root = tmp_path / "src"
    _utz_img(root, "2-2")
    res = _read("utzap50k", _utz(root, [_utz_row(root, "1-1"), f"2-2,Shoes,Oxfords,Flat,,,,{BIG},",
                                       _utz_row(root, "3-3")]))
    assert reasons(res) == ["field_too_long"]
    assert sorted(set(res.valid["cid"])) == ["1-1", "3-3"]
    _clean(res, tmp_path)


def test_crawl_manifest_field_too_long(tmp_path):
    root = tmp_path / "src"
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(root / "upper_height/高帮" / name)
    _crawl_manifest(root, ["upper_height/高帮/a.jpg,高帮,https://x.invalid/a,q",
                           f"upper_height/高帮/b.jpg,高帮,https://x.invalid/b,{BIG}",
                           "upper_height/高帮/c.jpg,高帮,https://x.invalid/c,q"])
    res = _read("crawl", root)
    assert reasons(res) == ["field_too_long"]
    # the manifest row is rejected; the file itself is still read from its folder
    assert len(res.valid) == 3
    _clean(res, tmp_path)


# -- 2. NUL bytes in paths and ids ------------------------------------------------------------

def test_fashionai_nul_in_path(tmp_path):
    root = tmp_path / "src"
    res = _read("fashionai", _fa(root, [_fa_line(root, "a.jpg"), f"Images/{SKIRT}/b\x00.jpg,{SKIRT},nnynnn",
                                       _fa_line(root, "c.jpg")]))
    assert reasons(res) == ["nul_byte"] and len(res.valid) == 2
    _clean(res, tmp_path)


def test_utzap50k_nul_in_cid(tmp_path):
    root = tmp_path / "src"
    res = _read("utzap50k", _utz(root, [_utz_row(root, "1-1"), "2\x00-2,Shoes,Oxfords,Flat,,,,,"]))
    assert reasons(res) == ["nul_byte"] and sorted(set(res.valid["cid"])) == ["1-1"]
    _clean(res, tmp_path)


def test_mepave_nul_in_cid(tmp_path):
    res = _read("mepave", _mepave(tmp_path / "src", [_mp_good(1), _mp("c_2\x00", "s_2"), _mp_good(3)]))
    assert reasons(res) == ["nul_byte"] and sorted(res.valid["sid"]) == ["s_1", "s_3"]
    _clean(res, tmp_path)


def test_ifashion_nul_in_image_id(tmp_path):
    root = tmp_path / "src"
    write_image(root / "images/1.jpg")
    res = _read("ifashion", _ifashion(root, {"images": [_im("1"), _im("1\x00")],
                                             "annotations": [{"imageId": "1", "labelId": ["17"]}]}))
    assert reasons(res) == ["nul_byte"]
    assert res.valid["image_id"].tolist() == ["1"]
    _clean(res, tmp_path)


def test_ifashion_unpaired_surrogate_escapes(tmp_path):
    """JSON can spell strings no file holds ("\\ud800"): such an id or url is a reject, and the
    rejects table still saves."""
    root = tmp_path / "src"
    write_image(root / "images/1.jpg")
    train = ('{"images": [{"imageId": "1", "url": "http://x/1"}, {"imageId": "\\ud800", "url": "u"},'
             ' {"imageId": "2", "url": "\\udc80"}], "annotations": [{"imageId": "1", "labelId": ["17"]}]}')
    res = _read("ifashion", _ifashion(root, train))
    assert sorted(reasons(res)) == ["bad_image_entry", "invalid_encoding"]
    assert res.valid["image_id"].tolist() == ["1"]
    _clean(res, tmp_path)


# -- 3. deeply nested JSON --------------------------------------------------------------------

def test_ifashion_deeply_nested_json(tmp_path):
    root = tmp_path / "src"
    write_image(root / "images/1.jpg")
    deep = '{"images": ' + "[" * 5000 + "]" * 5000 + ', "annotations": []}'
    res = _read("ifashion", _ifashion(root, deep, {"images": [_im("1")],
                                                   "annotations": [{"imageId": "1", "labelId": ["17", "66"]}]}))
    assert reasons(res) == ["invalid_json"]
    assert res.rejects.iloc[0]["location"] == "train.json"
    assert sorted(res.valid["task"]) == ["color", "gender"]
    assert set(res.valid["split"]) == {"validation"}
    _clean(res, tmp_path)


# -- 4. file and folder names that are not UTF-8 -------------------------------------------------

def test_crawl_bad_folder_name(tmp_path):
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    bad = os.fsencode(root) + b"/upper_height/\xff\xfe"
    _bad_name_dir(bad)
    with open(bad + b"/x.jpg", "wb") as fh:
        fh.write((root / "upper_height/高帮/a.jpg").read_bytes())
    res = _read("crawl", root)
    assert reasons(res) == ["bad_file_name"]
    assert res.valid["image_id"].tolist() == ["upper_height/高帮/a.jpg"]
    _clean(res, tmp_path)


def test_crawl_bad_file_name(tmp_path):
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    _bad_name_file(root / "upper_height/高帮", b"x\xff.jpg")
    res = _read("crawl", root)
    assert reasons(res) == ["bad_file_name"] and len(res.valid) == 1
    _clean(res, tmp_path)


def test_utzap50k_bad_image_file_name(tmp_path):
    root = tmp_path / "src"
    _utz(root, [_utz_row(root, "1-1")])
    _bad_name_file(root / UTZ_IMAGES, b"2.\xff.jpg")
    res = _read("utzap50k", root)
    assert reasons(res) == ["bad_file_name"] and sorted(set(res.valid["cid"])) == ["1-1"]
    _clean(res, tmp_path)


# -- 5. names equal after NFC -------------------------------------------------------------------

def test_crawl_nfc_duplicate_names(tmp_path):
    folder = tmp_path / "src/upper_height/高帮"
    write_image(folder / "caf\u00e9.jpg", seed=1)
    write_image(folder / "cafe\u0301.jpg", seed=2)
    if len(os.listdir(folder)) != 2:
        pytest.skip("filesystem normalises Unicode names")
    res = _read("crawl", tmp_path / "src")
    assert reasons(res) == ["duplicate_file_name"] and len(res.valid) == 1
    assert len(res.valid) + len(res.rejects) == 2
    _clean(res, tmp_path)


# -- 6. symlinked value folders -------------------------------------------------------------------

def test_crawl_value_folder_linked_outside(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "outside"
    write_image(root / "upper_height/低帮/a.jpg")
    write_image(outside / "o1.jpg", seed=1)
    write_image(outside / "o2.jpg", seed=2)
    os.symlink(outside, root / "upper_height/高帮")
    res = _read("crawl", root)
    assert res.valid["image_id"].tolist() == ["upper_height/低帮/a.jpg"]
    assert reasons(res) == ["outside_source"]
    assert "follow_links_outside" in res.rejects.iloc[0]["detail"]
    _clean(res, tmp_path)

    res = _read("crawl", root, follow=True)
    assert res.rejects.empty, res.rejects.to_dict("records")
    assert sorted(res.valid["image_id"]) == [
        "upper_height/低帮/a.jpg", "upper_height/高帮/o1.jpg", "upper_height/高帮/o2.jpg"]


def test_crawl_value_folder_linked_inside(tmp_path):
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    write_image(root / ".store/low/c.jpg", seed=3)           # hidden: not read on its own
    os.symlink("../.store/low", root / "upper_height/低帮")
    res = _read("crawl", root)
    assert res.rejects.empty, res.rejects.to_dict("records")
    rows = dict(zip(res.valid["image_id"], res.valid["labels"]))
    assert rows == {"upper_height/高帮/a.jpg": ["高帮"], "upper_height/低帮/c.jpg": ["低帮"]}


# -- 7. UT-ZAP50K CID with no task labels --------------------------------------------------------

def test_utzap50k_all_tasks_empty_is_no_labels(tmp_path):
    root = tmp_path / "src"
    _utz_img(root, "1-1")
    res = _read("utzap50k", _utz(root, ["1-1,Shoes,Oxfords,,,,,,", _utz_row(root, "2-2")]))
    assert reasons(res) == ["no_labels"] and sorted(set(res.valid["cid"])) == ["2-2"]
    assert "1-1" in res.rejects.iloc[0]["record"]


# -- 8. unterminated quote -----------------------------------------------------------------------

def test_fashionai_unterminated_quote(tmp_path):
    root = tmp_path / "src"
    write_image(root / "Images/x/a.jpg")
    lines = [_fa_line(root, "g0.jpg"), f'Images/x/a.jpg,"{SKIRT},nnynnn',
             _fa_line(root, "g1.jpg"), _fa_line(root, "g2.jpg"), _fa_line(root, "g3.jpg")]
    res = _read("fashionai", _fa(root, lines))
    assert reasons(res) == ["unterminated_quote"]
    assert res.rejects.iloc[0]["location"].endswith("label.csv:2")
    assert sorted(res.valid["image_id"]) == [f"Images/{SKIRT}/g{i}.jpg" for i in range(4)]


# -- 9. one invalid UTF-8 byte --------------------------------------------------------------------

def test_fashionai_invalid_encoding_one_line(tmp_path):
    root = tmp_path / "src"
    bad = _fa_line(root, "b.jpg").replace("Images", "Im\udcffages").encode("utf-8", "surrogateescape")
    res = _read("fashionai", _fa(root, [_fa_line(root, "a.jpg"), bad, _fa_line(root, "c.jpg")]))
    assert reasons(res) == ["invalid_encoding"] and len(res.valid) == 2
    _clean(res, tmp_path)


def test_utzap50k_invalid_encoding_one_line(tmp_path):
    root = tmp_path / "src"
    bad = _utz_row(root, "2-2").replace("Oxfords", "Ox\udcfffords").encode("utf-8", "surrogateescape")
    res = _read("utzap50k", _utz(root, [_utz_row(root, "1-1"), bad, _utz_row(root, "3-3")]))
    assert reasons(res) == ["invalid_encoding"]
    assert sorted(set(res.valid["cid"])) == ["1-1", "3-3"]
    _clean(res, tmp_path)


# -- 10-11. MEPAVE line endings and angle brackets in text ----------------------------------------

def test_mepave_bare_cr_line_endings(tmp_path):
    res = _read("mepave", _mepave(tmp_path / "src", [_mp_good(i) for i in range(3)], sep=b"\r"))
    assert res.rejects.empty, res.rejects.to_dict("records")
    assert sorted(res.valid["sid"]) == ["s_0", "s_1", "s_2"]


def test_mepave_br_and_m_as_plain_text(tmp_path):
    text = "连衣裙<br>新款<M>红色"
    tagged = "连衣裙<br>新款<M><颜色>红色</颜色>"
    plain = "连衣裙<M>好看<br>"
    res = _read("mepave", _mepave(tmp_path / "src", [_mp("c_1", "s_1", text, tagged),
                                                     _mp("c_1", "s_2", plain, plain)]))
    assert res.rejects.empty, res.rejects.to_dict("records")
    rows = res.valid.set_index("sid")
    assert rows.loc["s_1", "text"] == text
    (span,) = rows.loc["s_1", "spans"]
    assert (span["attribute"], span["value"], span["start"], span["end"]) == ("颜色", "红色", 12, 14)
    assert text[span["start"]:span["end"]] == "红色"
    assert rows.loc["s_2", "text"] == plain and len(rows.loc["s_2", "spans"]) == 0


# -- 12. reading outside the source ---------------------------------------------------------------

def test_crawl_file_linked_to_etc_passwd(tmp_path):
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd")
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    os.symlink(passwd, root / "upper_height/高帮/x.jpg")
    res = _read("crawl", root)
    assert reasons(res) == ["outside_source"] and len(res.valid) == 1
    secret = next(line for line in passwd.read_text(errors="replace").splitlines() if line.strip())
    for col in REJECT_COLUMNS:
        assert not any(secret[:12] in str(v) for v in res.rejects[col]), col
    _clean(res, tmp_path)


def test_fashionai_image_folder_linked_outside(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "outside"
    write_image(outside / "a.jpg")
    (root / "Images").mkdir(parents=True)
    os.symlink(outside, root / "Images" / SKIRT)
    lines = [f"Images/{SKIRT}/a.jpg,{SKIRT},{SKIRT_MARKS}",
             _fa_line(root, "b.jpg", "sleeve_length_labels", "nynnnnnnn")]
    res = _read("fashionai", _fa(root, lines))
    assert reasons(res) == ["outside_source"] and res.valid["task"].tolist() == ["sleeve_length_labels"]
    _clean(res, tmp_path)
    res = _read("fashionai", root, follow=True)
    assert res.rejects.empty and len(res.valid) == 2


def test_mepave_release_file_linked_outside(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "outside"
    outside.mkdir()
    (outside / "lines.txt").write_text("".join(f"SECRET-LINE-{i}\n" for i in range(5)), encoding="utf-8")
    _mepave(root, [_mp_good(1), _mp_good(2)], name=VALID)
    os.symlink(outside / "lines.txt", root / TRAIN)
    res = _read("mepave", root)
    assert reasons(res) == ["outside_source"] and len(res.valid) == 2
    for col in REJECT_COLUMNS:
        assert not any("SECRET" in str(v) for v in res.rejects[col]), col
    _clean(res, tmp_path)


def test_mepave_binary_release_file_is_not_text(tmp_path):
    root = _mepave(tmp_path / "src", [_mp_good(1), _mp_good(2)])
    junk = b"\x00\x01\x02\x00" + np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (root / TEST).write_bytes(junk)
    res = _read("mepave", root)
    assert reasons(res) == ["not_text"] and len(res.valid) == 2
    assert res.rejects.iloc[0]["record"] == ""
    assert res.rejects.iloc[0]["location"].endswith(TEST)
    _clean(res, tmp_path)


# -- 13. image decoding ----------------------------------------------------------------------------

def test_exif_orientation_is_applied(tmp_path):
    p = tmp_path / "rot.jpg"
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 40, 3), dtype=np.uint8), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(p, exif=exif)
    assert load_rgb(p).shape == (40, 20, 3)


def test_16_bit_grayscale_is_scaled(tmp_path):
    p = tmp_path / "g16.png"
    img = Image.fromarray(np.full((32, 32), 32768, np.uint16))
    assert img.mode == "I;16"
    img.save(p)
    arr = load_rgb(p)
    assert arr.shape == (32, 32, 3)
    assert np.abs(arr.astype(int) - 128).max() <= 2


def test_eps_under_jpg_name_is_not_allowed(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_text("%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n")
    check = check_image(p)
    assert check.ok is False and check.reason == "image_format_not_allowed"


def test_animated_gif_first_frame(tmp_path):
    p = tmp_path / "anim.gif"
    red, blue = Image.new("RGB", (32, 32), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 255))
    red.save(p, save_all=True, append_images=[blue], duration=100, loop=0)
    arr = load_rgb(p).astype(int)
    assert arr.shape == (32, 32, 3)
    assert (arr[..., 0] > 200).all() and (arr[..., 2] < 50).all()


# -- 14. accounting on mixed fixtures --------------------------------------------------------------

def test_accounting_fashionai(tmp_path):
    root = tmp_path / "src"
    lines = [
        _fa_line(root, "g1.jpg"),
        f"Images/{SKIRT}/n\x00.jpg,{SKIRT},{SKIRT_MARKS}",                       # nul_byte
        _fa_line(root, "g2.jpg"),
        f"Images/{SKIRT}/{BIG}.jpg,{SKIRT},{SKIRT_MARKS}",                       # field_too_long
        _fa_line(root, "e.jpg").replace(SKIRT + "/", SKIRT + "/\udcfe").encode("utf-8", "surrogateescape"),
        f"Images/{SKIRT}/missing.jpg,{SKIRT},{SKIRT_MARKS}",                     # image_missing
        _fa_line(root, "g3.jpg"),
        f'Images/{SKIRT}/q.jpg,"{SKIRT},{SKIRT_MARKS}',                          # unterminated_quote
        _fa_line(root, "g4.jpg"),
    ]
    res = _read("fashionai", _fa(root, lines))
    assert reasons(res) == sorted(["nul_byte", "field_too_long", "invalid_encoding", "image_missing",
                                   "unterminated_quote"])
    assert len(res.valid) == 4 and len(res.valid) + len(res.rejects) == len(lines)
    _clean(res, tmp_path)


def test_accounting_utzap50k(tmp_path):
    root = tmp_path / "src"
    _utz_img(root, "3-3")
    _utz_img(root, "4-4")
    _utz_img(root, "5-5")
    rows = [
        "1-1,Shoes,Oxfords,Flat,,Lace up,Men,Leather,Round Toe",                 # valid (5 rows)
        _utz_row(root, "2-2"),                                                   # valid (1 row)
        "3-3,Shoes,Oxfords,,,,,,",                                               # no_labels
        "4\x00-4,Shoes,Oxfords,Flat,,,,,",                                       # nul_byte
        f"5-5,Shoes,Oxfords,Flat,,,,{BIG},",                                     # field_too_long
        b"6-6,Shoes,Ox\xfeords,Flat,,,,,",                                       # invalid_encoding
        _utz_row(root, "7-7", image=False),                                      # image_missing
    ]
    _utz_img(root, "1-1")
    _utz_img(root, "6-6")
    res = _read("utzap50k", _utz(root, rows))
    assert reasons(res) == sorted(["no_labels", "nul_byte", "field_too_long", "invalid_encoding",
                                   "image_missing"])
    assert sorted(set(res.valid["cid"])) == ["1-1", "2-2"] and len(res.valid) == 6
    assert res.valid["cid"].nunique() + len(res.rejects) == len(rows)
    _clean(res, tmp_path)


def test_accounting_crawl(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "outside"
    folder = root / "upper_height/高帮"
    write_image(folder / "a.jpg", seed=1)
    write_image(root / "upper_height/低帮/b.jpg", seed=2)
    write_image(folder / "caf\u00e9.jpg", seed=3)
    write_image(folder / "cafe\u0301.jpg", seed=4)                              # duplicate_file_name
    write_corrupt(folder / "junk.jpg")                                           # image_corrupt
    write_image(outside / "o.jpg")
    os.symlink(outside / "o.jpg", folder / "o.jpg")                              # outside_source
    _bad_name_file(folder, b"x\xff.jpg")                                         # bad_file_name
    if len(os.listdir(folder)) != 6:
        pytest.skip("filesystem normalises Unicode names")
    res = _read("crawl", root)
    assert reasons(res) == sorted(["duplicate_file_name", "image_corrupt", "outside_source",
                                   "bad_file_name"])
    assert len(res.valid) == 3 and len(res.valid) + len(res.rejects) == 7
    _clean(res, tmp_path)


def test_accounting_mepave(tmp_path):
    lines = [
        _mp_good(1),
        _mp("c_2\x00", "s_2"),                                                   # nul_byte
        _mp_good(3),
        b"c_4\ts_4\t\xff\xfe\t\xff\xfe",                                         # invalid_encoding
        "c_5\ts_5\t红色连衣裙",                                                  # wrong_column_count
        _mp("c_6", "s_6", "蓝色连衣裙", "<颜色>红色</颜色>连衣裙"),              # text_mismatch
        _mp_good(7),
    ]
    res = _read("mepave", _mepave(tmp_path / "src", lines))
    assert reasons(res) == sorted(["nul_byte", "invalid_encoding", "wrong_column_count", "text_mismatch"])
    assert sorted(res.valid["sid"]) == ["s_1", "s_3", "s_7"]
    assert len(res.valid) + len(res.rejects) == len(lines)
    _clean(res, tmp_path)


def test_accounting_ifashion(tmp_path):
    root = tmp_path / "src"
    for i in ("1", "2", "4"):
        write_image(root / f"images/{i}.jpg", seed=int(i))
    images = [_im("1"), _im("2"), _im("3"), _im("4"), _im("5\x00")]
    res = _read("ifashion", _ifashion(root, {"images": images, "annotations": [
        {"imageId": "1", "labelId": ["17"]},
        {"imageId": "2", "labelId": ["17"]},
        {"imageId": "3", "labelId": ["17"]},                                     # image_missing
        # 4: no annotation -> no_labels; "5\0" -> nul_byte
    ]}))
    assert reasons(res) == sorted(["image_missing", "no_labels", "nul_byte"])
    assert sorted(res.valid["image_id"]) == ["1", "2"]
    assert res.valid["image_id"].nunique() + len(res.rejects) == len(images)
    _clean(res, tmp_path)


# -- 15. the CLI on hostile folders ----------------------------------------------------------------

def test_cli_crawl_linked_outside(tmp_path):
    root, outside = tmp_path / "src", tmp_path / "outside"
    write_image(outside / "o1.jpg")
    (root / "upper_height").mkdir(parents=True)
    os.symlink(outside, root / "upper_height/高帮")
    proc = _cli("crawl", root)
    assert proc.returncode == 1 and "outside_source" in proc.stdout
    proc = _cli("crawl", root, "--follow-links-outside")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_fashionai_unterminated_quote_and_long_field(tmp_path):
    root = tmp_path / "src"
    _fa(root, [_fa_line(root, "a.jpg"), f'Images/x/a.jpg,"{SKIRT},nnynnn',
               f"Images/{SKIRT}/{BIG}.jpg,{SKIRT},nnynnn"])
    proc = _cli("fashionai", root)
    assert proc.returncode == 0 and "unterminated_quote" in proc.stdout
    proc = _cli("fashionai", root, "--json")
    assert proc.returncode == 0 and "unterminated_quote" in proc.stdout


def test_cli_mepave_binary_only(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / TEST).write_bytes(b"\x00\xff\x00" * 1000)
    proc = _cli("mepave", root)
    assert proc.returncode == 1 and "not_text" in proc.stdout


def test_cli_utzap50k_nul_and_deep_ifashion(tmp_path):
    root = tmp_path / "utz"
    _utz(root, ["1\x00-1,Shoes,Oxfords,Flat,,,,,", f"2-2,Shoes,Oxfords,Flat,,,,{BIG},"])
    proc = _cli("utzap50k", root)
    assert proc.returncode == 1 and "nul_byte" in proc.stdout and "field_too_long" in proc.stdout
    deep = _ifashion(tmp_path / "ifa", '{"images": ' + "[" * 5000 + "]" * 5000 + ', "annotations": []}')
    proc = _cli("ifashion", deep)
    assert proc.returncode == 1 and "invalid_json" in proc.stdout


def test_fifo_and_link_loops_never_block_or_escape(tmp_path):
    """A named pipe is never opened (reading it would block), a link back to a folder already
    read is a linked duplicate (walked once), and a link to itself is an unreadable file."""
    root = tmp_path / "src"
    value = root / "upper_height/高帮"
    write_image(value / "a.jpg")
    os.mkfifo(value / "pipe.jpg")
    os.symlink(root, value / "loop")
    os.symlink("self.jpg", value / "self.jpg")
    res = _read("crawl", root)
    assert res.valid["image_id"].tolist() == ["upper_height/高帮/a.jpg"]
    assert sorted(reasons(res)) == ["linked_duplicate", "not_a_regular_file", "unreadable_file"]
    _clean(res, tmp_path)


def test_a_link_inside_cannot_relabel_images(tmp_path):
    """``中帮 -> 高帮`` would give 高帮's images a second label: the real folder is read under its
    own name and the link is a reject, whatever the names' order."""
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    write_image(root / "upper_height/高帮/b.jpg", seed=2)
    os.symlink("高帮", root / "upper_height/中帮")
    os.symlink("a.jpg", root / "upper_height/高帮/c.jpg")
    res = _read("crawl", root)
    assert sorted(res.valid["image_id"]) == ["upper_height/高帮/a.jpg", "upper_height/高帮/b.jpg"]
    assert sorted(reasons(res)) == ["linked_duplicate", "linked_duplicate"]
    _clean(res, tmp_path)


# -- found by red-teaming the readers ----------------------------------------------------------

def test_mepave_pipe_as_release_file_is_never_opened(tmp_path):
    root = _mepave(tmp_path / "src", [_mp_good(1)])
    os.mkfifo(root / VALID)                       # opening it for reading would block forever
    res = _read("mepave", root)
    assert len(res.valid) == 1 and reasons(res) == ["not_a_regular_file"]


def test_mepave_image_with_many_newline_bytes_is_not_text(tmp_path):
    """A dark BMP has newline bytes that split it into many blank 'lines': still binary."""
    root = _mepave(tmp_path / "src", [_mp_good(1)])
    Image.new("RGB", (64, 64), (10, 10, 10)).save(root / TEST, "BMP")
    res = _read("mepave", root)
    assert len(res.valid) == 1 and reasons(res) == ["not_text"]
    assert res.rejects.iloc[0]["record"] == ""


def test_mepave_too_large_file_is_not_read(tmp_path, monkeypatch):
    import pipeline.sources.common as common

    root = _mepave(tmp_path / "src", [_mp_good(i) for i in range(50)])
    monkeypatch.setattr(common, "MAX_TEXT_BYTES", 1000)
    res = _read("mepave", root)
    assert res.valid.empty and reasons(res) == ["file_too_large"]


def test_mepave_many_tags_in_one_line(tmp_path):
    n = 20_000
    root = _mepave(tmp_path / "src", [_mp("c_1", "s_1", "红" * n + "连衣裙", "<颜色>红</颜色>" * n + "连衣裙")])
    (spans,) = _read("mepave", root).valid["spans"]
    assert len(spans) == n and spans[-1]["start"] == n - 1 and spans[-1]["end"] == n


def test_product_images_with_ids_no_file_can_have(tmp_path):
    from pipeline.sources.mepave import read_product_images

    write_image(tmp_path / "ok.jpg")
    res = read_product_images(tmp_path, ["ok", "a\x00b", "a\ud800b", "../ok"])
    assert res.valid["cid"].tolist() == ["ok"]
    assert sorted(reasons(res)) == ["invalid_encoding", "nul_byte", "outside_source"]
    _clean(res, tmp_path)


def test_ifashion_id_python_will_not_convert_costs_its_entry_only(tmp_path):
    root = tmp_path / "src"
    write_image(root / "images/1.jpg")
    train = ('{"images": [{"imageId": "1", "url": "u"}, {"imageId": ' + "9" * 5000 + ', "url": "u"}], '
             '"annotations": [{"imageId": "1", "labelId": ["17"]}]}')
    res = _read("ifashion", _ifashion(root, train))
    assert res.valid["image_id"].tolist() == ["1"]
    assert reasons(res) == ["no_labels"]          # the long id is an image like any other, unannotated


def test_ifashion_key_given_twice_rejects_the_file(tmp_path):
    root = tmp_path / "src"
    train = '{"images": [{"imageId": "1", "url": "u"}], "images": [], "annotations": []}'
    res = _read("ifashion", _ifashion(root, train))
    assert reasons(res) == ["bad_structure"] and "twice" in res.rejects.iloc[0]["detail"]


def test_crawl_hidden_file_in_manifest_says_so(tmp_path):
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/.hidden.jpg")
    write_image(root / "upper_height/高帮/a.jpg")
    _crawl_manifest(root, ["upper_height/高帮/.hidden.jpg,高帮,u,q"])
    res = _read("crawl", root)
    assert res.valid["image_id"].tolist() == ["upper_height/高帮/a.jpg"]
    assert reasons(res) == ["hidden_file"]


def test_cli_dump_to_an_unwritable_path_is_an_error_line(tmp_path):
    root = tmp_path / "src"
    write_image(root / "upper_height/高帮/a.jpg")
    (tmp_path / "file").write_text("x")
    proc = _cli("crawl", root, "--dump", str(tmp_path / "file" / "out.parquet"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot write")

"""The ``mavp`` console script."""

import json
import subprocess
import sys

import pandas as pd

from pipeline.cli import main


def test_check_source_mepave_real_files_dump(mepave_sample_dir, tmp_path, capsys):
    out = tmp_path / "dump.parquet"
    assert main(["check-source", "mepave", str(mepave_sample_dir), "--json", "--dump", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    # the real sample parses with no line-level rejects; only uncategorisable products are set aside
    assert summary["valid"] + summary["rejected"] == 70
    assert set(summary["rejects_by_reason"]) <= {"no_category"}
    dump = pd.read_parquet(out)
    assert list(dump.columns) == ["cid", "sid", "text", "category", "spans"]
    assert len(dump) == summary["valid"]
    for text, spans in zip(dump["text"], dump["spans"]):
        for span in spans:
            assert set(span) == {"attribute", "slot", "value", "start", "end"}
            assert text[span["start"]:span["end"]] == span["value"]


def test_check_source_exit_code_without_valid_rows(tmp_path, capsys):
    assert main(["check-source", "fashionai", str(tmp_path / "nowhere")]) == 1
    assert "rejected" in capsys.readouterr().out


def test_console_script_sample_then_check(tmp_path):
    out = tmp_path / "sample"
    subprocess.run([sys.executable, "-m", "pipeline.cli", "sample", "--out", str(out), "--seed", "1",
                    "--scale", "0.05"], check=True, capture_output=True)
    for kind, sub in [("utzap50k", "utzap50k"), ("crawl", "crawl")]:
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", "check-source", kind, str(out / sub),
                               "--json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["valid"] > 0

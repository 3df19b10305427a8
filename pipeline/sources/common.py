"""The skeleton every source reader is built on.

A reader makes one :class:`SourceRead` for the folder it was given and goes through it for
everything that touches the disk:

- **the folder**: :class:`SourceRoot` resolves paths; a file or folder whose real path leaves
  the source folder is a reject (``outside_source``) and is never opened, unless the source's
  config sets ``follow_links_outside: true``;
- **discovery**: :meth:`SourceRead.files` walks a folder, follows links that stay inside,
  and rejects names that are not UTF-8 or that collide after Unicode normalisation;
- **decoding**: :meth:`SourceRead.text_lines` splits on any line ending (LF, CRLF, bare CR),
  decodes line by line (a bad byte costs its line, not the file), rejects lines holding NUL,
  and rejects a binary file whole without copying its content;
- **CSV**: :meth:`SourceRead.csv_records` parses each physical line on its own, so an open quote
  cannot swallow the lines after it, and a field over the size limit is a reject;
- **images**: :meth:`SourceRead.check_images` checks each path once (inside the folder first),
  and :meth:`SourceRead.usable` turns the failures into reject rows;
- **stats and result**: :meth:`SourceRead.result` builds the typed valid table.
"""

from __future__ import annotations

import csv
import json
import os
import posixpath
import stat
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from pipeline.images import IMAGE_FORMATS, MISSING, ImageCheck, check_images as _check_images, path_problem
from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector, is_utf8
from pipeline.schema import Schema, ValueMapEntry

# Column -> dtype of the valid table; text columns are pandas "string" (missing = pd.NA).
BASE_DTYPES = {
    "source": "string", "image_id": "string", "image_path": "string", "task": "string",
    "labels": object, "slot": "string", "values": object, "multi_label": bool,
    "image_mode": "string",
}
BASE_COLUMNS = list(BASE_DTYPES)

#: Longest CSV field, in characters (the csv module's own default limit).
FIELD_LIMIT = 131_072
#: Largest text file a reader takes in memory (the real releases' biggest, iMaterialist's
#: train.json, is about 0.2 GB).
MAX_TEXT_BYTES = 2 << 30
#: Share of NUL bytes above which a file is binary whatever its lines say.
BINARY_NUL_SHARE = 0.01
#: Counters every vision reader reports (a reader adds its own).
VISION_STATS = ("lines", "blank_lines", "images_checked", "image_modes", "images_needing_conversion",
                "rows_per_task", "unmapped_labels")
LINK_HINT = ("set follow_links_outside: true in the source's config (mavp check-source --follow-links-outside) "
             "to read linked folders such as your own Images/")


def task_slots(schema: Schema, source: str) -> dict[str, str | None]:
    """Task -> the slot its value-map entries point to (None if none or ambiguous)."""
    slots: dict[str, set[str]] = {}
    for (task, _label), entry in schema.value_map(source).items():
        slots.setdefault(task, set()).add(entry.slot)
    return {t: (next(iter(s)) if len(s) == 1 else None) for t, s in slots.items()}


def map_labels(vmap: dict[tuple[str, str], ValueMapEntry], task: str, labels: list[str],
               unmapped: Counter) -> tuple[str | None, list[str]]:
    """Slot and deduplicated MAVP values (label order) of one row; count unmapped labels.

    ``vmap`` is ``schema.value_map(source)``, built once per read.
    """
    slot: str | None = None
    values: list[str] = []
    for label in labels:
        entry = vmap.get((task, label))
        if entry is None:
            unmapped[f"{task}/{label}"] += 1
            continue
        slot = slot or entry.slot
        if entry.slot == slot and entry.value not in values:
            values.append(entry.value)
    return slot, values


def relative_path(raw: str) -> str | None:
    """Normalised root-relative POSIX path, or None if empty, absolute or escaping root."""
    raw = raw.strip().replace("\\", "/")
    if not raw or raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        return None
    norm = posixpath.normpath(raw)
    if norm == "." or norm == ".." or norm.startswith("../"):
        return None
    return norm


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class RecordError(ValueError):
    """A record that cannot be used: its reason code and the particulars."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def parse_csv_line(line: str) -> list[str]:
    """The fields of one physical CSV line; raises :class:`RecordError`."""
    try:
        fields = next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        message = str(exc)
        if "field larger than field limit" in message:
            raise RecordError(Reason.FIELD_TOO_LONG, f"a field is over {FIELD_LIMIT} characters") from None
        if "unexpected end of data" in message:
            raise RecordError(Reason.UNTERMINATED_QUOTE,
                              "a quoted field is still open at the end of the line (lines are never joined)") from None
        raise RecordError(Reason.MALFORMED_CSV, message) from None
    longest = max((len(f) for f in fields), default=0)
    if longest > FIELD_LIMIT:
        raise RecordError(Reason.FIELD_TOO_LONG, f"a field has {longest} characters, over the limit of {FIELD_LIMIT}")
    return fields


class SourceRoot:
    """The folder a reader was given; what resolves inside it may be opened."""

    def __init__(self, path: str | os.PathLike, follow_links_outside: bool = False):
        self.path = Path(os.path.abspath(path))
        self.real = os.path.realpath(self.path)
        self.follow_links_outside = follow_links_outside

    def inside(self, path: str | os.PathLike) -> bool:
        if self.follow_links_outside:
            return True
        real = os.path.realpath(path)
        return real == self.real or real.startswith(self.real.rstrip(os.sep) + os.sep)

    def outside_detail(self, path: str | os.PathLike) -> str:
        return f"{path} resolves outside the source folder, so it is not read; {LINK_HINT}"


class SourceRead:
    """One reader's pass over one source folder: its root, rejects, stats and result."""

    def __init__(self, source: str, root: str | os.PathLike, follow_links_outside: bool = False,
                 stats: Iterable[str] = (), image_formats: tuple[str, ...] = IMAGE_FORMATS):
        self.source = source
        self.root = SourceRoot(root, follow_links_outside)
        self.rejects = RejectCollector(source, self.root.path)
        self.stats: dict[str, Any] = {name: {} if name in ("image_modes", "rows_per_task", "unmapped_labels")
                                      else 0 for name in stats}
        self.image_formats = image_formats

    # -- the folder -------------------------------------------------------------------
    def root_missing(self, what: str) -> bool:
        """True (and a reject) when the source folder is not a folder."""
        if self.root.path.is_dir():
            return False
        self.rejects.add(self.root.path, "", Reason.ROOT_MISSING, f"{what} root folder does not exist")
        return True

    def openable(self, path: Path, record: str = "") -> bool:
        """True when ``path`` is inside the source folder; else a reject."""
        if self.root.inside(path):
            return True
        self.rejects.add(path, record, Reason.OUTSIDE_SOURCE, self.root.outside_detail(path))
        return False

    def files(self, folder: Path, recursive: bool = True, skip_hidden: bool = False) -> dict[str, Path]:
        """NFC root-relative POSIX path -> file, for every regular file under ``folder``, sorted.

        Real folders are walked first; then links to folders and files that resolve inside the
        source folder are followed, unless they lead to what was already read under its own
        name (``linked_duplicate``, so a link cannot relabel an image). Rejects: links that
        leave the folder, pipes and devices, names that are not UTF-8, names equal to an earlier
        one after Unicode NFC normalisation. Hidden entries are counted in
        ``stats["hidden_entries_skipped"]`` when ``skip_hidden``.
        """
        walk = _Walk(self, recursive, skip_hidden)
        walk.folder(folder)
        while walk.linked_dirs:
            link = walk.linked_dirs.pop(0)
            real = os.path.realpath(link)
            if real in walk.walked:
                walk.duplicate(link, real)
            else:
                walk.folder(link)
        for link in walk.linked_files:
            real = os.path.realpath(link)
            if real in walk.real_files:
                walk.duplicate(link, real)
            else:
                walk.add(link)
        return dict(sorted(walk.found.items()))

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root.path).as_posix()
        except ValueError:
            return str(path)

    # -- text -------------------------------------------------------------------------
    def read_bytes(self, path: Path) -> bytes | None:
        """The bytes of a regular file inside the source folder, up to ``MAX_TEXT_BYTES`` (a
        reject when outside, not a regular file, too large or unreadable)."""
        if not self.openable(path):
            return None
        try:
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                self.rejects.add(path, "", Reason.NOT_A_REGULAR_FILE, "a pipe, device or socket is never read")
                return None
            if info.st_size > MAX_TEXT_BYTES:
                self.rejects.add(path, "", Reason.FILE_TOO_LARGE,
                                 f"{info.st_size} bytes; a source's text files are read whole, up to {MAX_TEXT_BYTES}")
                return None
            return path.read_bytes()
        except OSError as exc:
            self.rejects.add(path, "", Reason.UNREADABLE_FILE, exc.strerror or str(exc))
            return None

    def text_lines(self, path: Path) -> list[tuple[int, str]]:
        """(line number, text) of every line that decodes; the others are rejects.

        Any line ending splits (LF, CRLF, bare CR). A line that is not UTF-8 or holds a NUL is
        a reject; when they are at least half the file, the file is binary: one ``not_text``
        reject, and none of its content is copied anywhere.
        """
        data = self.read_bytes(path)
        if data is None:
            return []
        raw_lines = _split_lines(data.removeprefix(b"\xef\xbb\xbf"))
        decoded = [_decode(raw) for raw in raw_lines]
        if _binary(data, raw_lines, decoded):
            self.rejects.add(path, "", Reason.NOT_TEXT, "most of its lines are not UTF-8 text, or it is full of NUL "
                                                         "bytes: the file is taken as binary and none of it is copied")
            return []
        lines = []
        for line_no, (raw, text) in enumerate(zip(raw_lines, decoded), start=1):
            where = f"{path}:{line_no}"
            if text is None:
                self.rejects.add(where, raw.decode("utf-8", "replace"), Reason.INVALID_ENCODING,
                                 "the line is not valid UTF-8")
            elif "\x00" in text:
                self.rejects.add(where, text, Reason.NUL_BYTE, "the line holds a NUL character")
            else:
                lines.append((line_no, text))
        self.stats["lines"] = self.stats.get("lines", 0) + len(raw_lines)
        return lines

    def csv_records(self, path: Path, header: tuple[str, ...] | None = None
                    ) -> Iterator[tuple[str, int, list[str], str]] | None:
        """(location, line number, fields, line) of every non-blank CSV line; bad lines are
        rejects. With ``header``, None when the first line is not it (rejected whole)."""
        lines = self.text_lines(path)
        if header is not None:
            first = lines[0] if lines and lines[0][0] == 1 else None
            fields = None
            if first is not None:
                try:
                    fields = [f.strip() for f in parse_csv_line(first[1])]
                except RecordError:
                    fields = None
            if fields is None or tuple(fields) != header:
                self.rejects.add(f"{path}:1", first[1] if first else "", Reason.BAD_HEADER,
                                 f"header must be {','.join(header)}; the whole file is rejected")
                return None
            lines = lines[1:]
        return self._csv_lines(path, lines)

    def _csv_lines(self, path: Path, lines: list[tuple[int, str]]) -> Iterator[tuple[str, int, list[str], str]]:
        for line_no, text in lines:
            where = f"{path}:{line_no}"
            if not text.strip():
                self.stats["blank_lines"] = self.stats.get("blank_lines", 0) + 1
                continue
            try:
                fields = parse_csv_line(text)
            except RecordError as exc:
                self.rejects.add(where, text, exc.reason, exc.detail)
                continue
            if all(not f.strip() for f in fields):
                self.stats["blank_lines"] = self.stats.get("blank_lines", 0) + 1
                continue
            yield where, line_no, fields, text

    def json(self, path: Path) -> Any | None:
        """The parsed JSON file, or None (a reject: outside, unreadable, invalid, too deep)."""
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            return json.loads(data.decode("utf-8-sig"), parse_int=_json_int, object_pairs_hook=JSONObject.of)
        except UnicodeDecodeError as exc:
            detail = f"not UTF-8 ({exc.reason} at byte {exc.start})"
        except RecursionError:
            detail = "nested too deeply to parse"
        except ValueError as exc:
            detail = str(exc)
        self.rejects.add(path, "", Reason.INVALID_JSON, f"{detail}; the whole file is rejected")
        return None

    # -- images -----------------------------------------------------------------------
    def check_images(self, paths: list[str], decode: bool = True) -> dict[str, ImageCheck]:
        """One check per unique path: outside the folder fails without opening; decoded when
        ``decode`` (stats: images_checked, image_modes, images_needing_conversion), else a
        cheap existence test."""
        unique = list(dict.fromkeys(paths))
        checks = {p: problem for p in unique if (problem := self._path_problem(p)) is not None}
        inside = [p for p in unique if p not in checks]
        if decode:
            checks.update(zip(inside, _check_images(inside, formats=self.image_formats)))
            ok = [c for c in checks.values() if c.ok]
            self.stats["images_checked"] = len(inside)
            self.stats["image_modes"] = dict(sorted(Counter(c.mode for c in ok).items()))
            self.stats["images_needing_conversion"] = sum(c.needs_conversion for c in ok)
        else:
            checks.update({p: ImageCheck(p, True) if os.path.isfile(p) else ImageCheck(p, False, MISSING, "no such file")
                           for p in inside})
        return checks

    def _path_problem(self, path: str) -> ImageCheck | None:
        """Why ``path`` may not be opened at all: no file can have it as a name, or its real
        path is outside the source folder."""
        unnamable = path_problem(path)
        if unnamable:
            return unnamable
        if not self.root.inside(path):
            return ImageCheck(path, False, Reason.OUTSIDE_SOURCE, self.root.outside_detail(self.relative(Path(path))))
        return None

    def usable(self, pending: list[dict], checks: dict[str, ImageCheck]) -> Iterator[tuple[dict, ImageCheck]]:
        """The pending records whose image passed; each other one becomes a reject at its own
        location (``where``, ``record``; the detail names its ``rel`` path, or says
        ``missing_detail`` when the file is missing)."""
        for p in pending:
            check = checks[p["path"]]
            if check.ok:
                yield p, check
            elif check.reason == MISSING and "missing_detail" in p:
                self.rejects.add(p["where"], p["record"], check.reason, f"{p['missing_detail']} ({check.detail})")
            else:
                self.rejects.add(p["where"], p["record"], check.reason, f"{p['rel']}: {check.detail}")

    # -- result -----------------------------------------------------------------------
    def result(self, rows: list[dict], dtypes: dict) -> ReadResult:
        """The valid table in its dtypes, the rejects, and ``valid_rows``."""
        valid = pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)
        self.stats["valid_rows"] = len(valid)
        return ReadResult(self.source, valid, self.rejects.frame(), self.stats)


class _Walk:
    """One :meth:`SourceRead.files` call: what it found, and the links it has yet to follow."""

    def __init__(self, read: SourceRead, recursive: bool, skip_hidden: bool):
        self.read, self.recursive, self.skip_hidden = read, recursive, skip_hidden
        self.found: dict[str, Path] = {}
        self.real_files: dict[str, Path] = {}       # real path -> the path it was read under
        self.walked: dict[str, Path] = {}           # real path of each folder walked -> its path
        self.linked_dirs: list[Path] = []
        self.linked_files: list[Path] = []

    def folder(self, top: Path) -> None:
        stack = [top]
        while stack:
            current = stack.pop()
            self.walked[os.path.realpath(current)] = current
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError as exc:
                self.read.rejects.add(current, "", Reason.UNREADABLE_FILE, f"cannot list the folder: {exc.strerror}")
                continue
            stack += reversed([Path(e.path) for e in entries if self._entry(e)])

    def _entry(self, entry: os.DirEntry) -> bool:
        """Sort one entry; True for a real folder to walk."""
        read, path = self.read, Path(entry.path)
        if self.skip_hidden and entry.name.startswith("."):
            read.stats["hidden_entries_skipped"] = read.stats.get("hidden_entries_skipped", 0) + 1
            return False
        if not is_utf8(entry.name):
            read.rejects.add(path, "", Reason.BAD_FILE_NAME, "the name is not valid UTF-8; rename it to read it")
            return False
        try:
            link, folder, regular = entry.is_symlink(), entry.is_dir(), entry.is_file()
        except OSError as exc:              # a link loop (ELOOP), a vanished entry
            read.rejects.add(path, "", Reason.UNREADABLE_FILE, exc.strerror or str(exc))
            return False
        if link and not read.openable(path, record=read.relative(path)):
            return False
        if folder:
            if link and self.recursive:
                self.linked_dirs.append(path)
            return self.recursive and not link
        if link and not os.path.exists(path):
            read.rejects.add(path, read.relative(path), Reason.UNREADABLE_FILE, "a link to nothing (dangling)")
        elif not regular:
            read.rejects.add(path, read.relative(path), Reason.NOT_A_REGULAR_FILE,
                             "a pipe, device or socket (or a link to one) is never read")
        elif link:
            self.linked_files.append(path)
        else:
            self.add(path)
        return False

    def add(self, path: Path) -> None:
        rel = nfc(self.read.relative(path))
        if rel in self.found:
            self.read.rejects.add(path, rel, Reason.DUPLICATE_FILE_NAME, f"{self.read.relative(self.found[rel])} has "
                                                                         "the same name after Unicode NFC normalisation")
            return
        self.found[rel] = path
        self.real_files[os.path.realpath(path)] = path

    def duplicate(self, link: Path, real: str) -> None:
        first = self.walked.get(real) or self.real_files.get(real)
        self.read.rejects.add(link, self.read.relative(link), Reason.LINKED_DUPLICATE,
                              f"a link to {self.read.relative(first)}, which is read under its own name")


class JSONObject(dict):
    """A JSON object that remembers the keys it held twice (JSON keeps the last silently)."""

    duplicate_keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> "JSONObject":
        obj = cls(pairs)
        if len(obj) < len(pairs):
            obj.duplicate_keys = tuple(sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1))
        return obj


def _json_int(text: str) -> int | str:
    """An integer, or its digits when Python will not convert that many (a 5,000-digit id)."""
    try:
        return int(text)
    except ValueError:
        return text


def _split_lines(data: bytes) -> list[bytes]:
    """Lines at LF, CRLF or bare CR; the ending of the last line opens no new one."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def _binary(data: bytes, raw_lines: list[bytes], decoded: list[str | None]) -> bool:
    """More than half of the non-blank lines undecodable or holding NUL, or NUL bytes over
    ``BINARY_NUL_SHARE`` of the file (blank "lines" between newline bytes of an image count
    for nothing)."""
    if data.count(b"\x00") > BINARY_NUL_SHARE * len(data):
        return True
    filled = [text for raw, text in zip(raw_lines, decoded) if raw.strip()]
    bad = sum(1 for text in filled if text is None or "\x00" in text)
    return bad * 2 > len(filled)


def _decode(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def count_tasks(rows: list[dict], unmapped: Counter, stats: dict[str, Any]) -> None:
    """``rows_per_task`` and ``unmapped_labels`` of a vision reader's valid rows."""
    stats["rows_per_task"] = dict(sorted(Counter(r["task"] for r in rows).items()))
    stats["unmapped_labels"] = dict(sorted(unmapped.items()))


"""Every reason a record can be rejected for, defined once.

A reject row's ``reason`` is one of these codes (a :class:`Reason` is a ``str``, so tables,
reports and tests compare it with plain strings). Group by code, read the row's ``detail``
for the particulars.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # -- the source folder and its files --------------------------------------------------
    ROOT_MISSING = "root_missing"                  # the folder a reader was given does not exist
    FILE_MISSING = "file_missing"                  # a file the layout needs is not there
    NO_FILES = "no_files"                          # no release file at all (MEPAVE)
    UNREADABLE_FILE = "unreadable_file"            # the OS refused to read it
    OUTSIDE_SOURCE = "outside_source"              # its real path leaves the source folder
    BAD_FILE_NAME = "bad_file_name"                # a file or folder name that is not valid UTF-8
    DUPLICATE_FILE_NAME = "duplicate_file_name"    # equal to another name after Unicode NFC
    LINKED_DUPLICATE = "linked_duplicate"          # a link to a file or folder read under its own name
    NOT_A_REGULAR_FILE = "not_a_regular_file"      # a pipe, device or socket: never opened
    FILE_TOO_LARGE = "file_too_large"              # a text file over the size a reader takes in memory
    HIDDEN_FILE = "hidden_file"                    # listed, but its name starts with "." (skipped)
    MISPLACED_FILE = "misplaced_file"              # not where the layout puts records
    NOT_AN_IMAGE = "not_an_image"                  # an extension no image of the source has
    NOT_TEXT = "not_text"                          # a text file that is binary (content never copied)
    # -- lines of text files -------------------------------------------------------------
    INVALID_ENCODING = "invalid_encoding"          # a line that is not UTF-8
    NUL_BYTE = "nul_byte"                          # a NUL character in a line or an id
    FIELD_TOO_LONG = "field_too_long"              # a field over the field-size limit
    UNTERMINATED_QUOTE = "unterminated_quote"      # a quote still open at the end of its line
    MALFORMED_CSV = "malformed_csv"                # any other CSV quoting error
    BAD_HEADER = "bad_header"
    WRONG_COLUMN_COUNT = "wrong_column_count"
    EMPTY_FIELD = "empty_field"
    INVALID_JSON = "invalid_json"                  # not JSON, or nested too deep to parse
    BAD_STRUCTURE = "bad_structure"                # JSON of the wrong shape
    # -- records -------------------------------------------------------------------------
    DUPLICATE_RECORD = "duplicate_record"
    DUPLICATE_CID = "duplicate_cid"
    DUPLICATE_SID = "duplicate_sid"
    DUPLICATE_IMAGE_ID = "duplicate_image_id"
    DUPLICATE_ANNOTATION = "duplicate_annotation"
    BAD_CID = "bad_cid"
    BAD_IMAGE_PATH = "bad_image_path"
    BAD_IMAGE_ENTRY = "bad_image_entry"
    BAD_ANNOTATION = "bad_annotation"
    ANNOTATION_UNKNOWN_IMAGE = "annotation_unknown_image"
    AMBIGUOUS_IMAGE = "ambiguous_image"
    BAD_LABEL_MAP = "bad_label_map"
    BAD_CATEGORY_OVERRIDE = "bad_category_override"
    UNKNOWN_TASK = "unknown_task"
    UNKNOWN_ATTRIBUTE = "unknown_attribute"
    UNKNOWN_LABEL = "unknown_label"
    UNKNOWN_LABEL_ID = "unknown_label_id"
    LABEL_MISMATCH = "label_mismatch"
    NO_LABELS = "no_labels"                        # a record that names no label at all
    MULTIPLE_LABELS = "multiple_labels"
    WRONG_LABEL_LENGTH = "wrong_label_length"
    INVALID_LABEL_CHAR = "invalid_label_char"
    NO_POSITIVE_LABEL = "no_positive_label"
    MULTIPLE_POSITIVE_LABELS = "multiple_positive_labels"
    # -- MEPAVE sentences ----------------------------------------------------------------
    UNBALANCED_TAG = "unbalanced_tag"
    NESTED_TAG = "nested_tag"
    EMPTY_VALUE = "empty_value"
    TEXT_MISMATCH = "text_mismatch"
    NO_CATEGORY = "no_category"
    # -- images --------------------------------------------------------------------------
    IMAGE_MISSING = "image_missing"
    IMAGE_EMPTY = "image_empty"
    IMAGE_TRUNCATED = "image_truncated"
    IMAGE_CORRUPT = "image_corrupt"
    IMAGE_TOO_SMALL = "image_too_small"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_FORMAT_NOT_ALLOWED = "image_format_not_allowed"   # e.g. EPS/PS: never handed to Pillow
    # -- precomputed MEPAVE features -----------------------------------------------------
    BAD_FEATURE_ARRAY = "bad_feature_array"
    FEATURE_SHAPE_MISMATCH = "feature_shape_mismatch"
    NON_FINITE_FEATURES = "non_finite_features"
    NO_PRECOMPUTED_FEATURES = "no_precomputed_features"
    # -- fetching images from URLs (pipeline.fetch); http_<code> is made from the status --
    FETCH_TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    DOWNLOAD_TOO_LARGE = "too_large"
    INVALID_URL = "invalid_url"
    WRITE_ERROR = "write_error"
    DUPLICATE_DOWNLOAD = "duplicate"
    MISSING_IMAGE_ID = "missing_image_id"
    MISSING_URL = "missing_url"
    # -- later stages --------------------------------------------------------------------
    VALUE_NOT_IN_VOCABULARY = "value_not_in_vocabulary"
    EXTRA_VALUE_FOR_SLOT = "extra_value_for_slot"
    # -- the last line of defence: a reader bug, reported instead of a traceback --------------
    READER_FAILED = "reader_failed"


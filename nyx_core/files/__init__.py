"""The file manager (browse, search, upload/download, edit, trash) used by the Files page and ``nyx files``."""
from nyx_core.files.errors import ClashError, FileOpError, NotTextError, TextValidationError
from nyx_core.files.kinds import icon, kind_of
from nyx_core.files.manager import (ON_CLASH, SORT_KEYS, FileEntry, FileManager, SearchResult, check_name,
                                    free_name)
from nyx_core.files.textfiles import MAX_TEXT_BYTES, validate_text

__all__ = [
    "ClashError", "FileEntry", "FileManager", "FileOpError", "MAX_TEXT_BYTES", "NotTextError", "ON_CLASH",
    "SORT_KEYS", "SearchResult", "TextValidationError", "check_name", "free_name", "icon", "kind_of",
    "validate_text",
]

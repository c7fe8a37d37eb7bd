"""Errors the platform raises on bad input. Each names the file, the row (or tile/board) and the rule broken."""


class SourceFormatError(ValueError):
    """A source file does not match the format the platform expects.

    The message always names the file and the rule, and the row/tile/board when there is one, so a user can
    find the offending record without reading code.
    """

    def __init__(self, file: str, rule: str, detail: str = "", *, row: object | None = None):
        self.file = str(file)
        self.rule = rule
        self.detail = detail
        self.row = row
        where = f"{self.file}" + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: rule '{rule}' failed" + (f": {detail}" if detail else ""))


class ChecksumMismatchError(IOError):
    """A downloaded file's checksum (sha256 or md5) differs from the published one; the partial file is discarded."""

    def __init__(self, url: str, expected: str, actual: str, algorithm: str = "sha256"):
        self.url, self.expected, self.actual = url, expected, actual
        super().__init__(f"{url}: rule '{algorithm} matches' failed: expected {expected}, got {actual}")

"""Data hub failures. Job-level errors stop a job (rows already committed stay); row-level problems are
not exceptions but quarantine reasons (see cleaners.CleanError)."""

from omnishop.core.errors import DomainError, NotFound, ValidationFailed
from omnishop.customers.merging import MergeAlreadyUndone  # noqa: F401  one class per code (409)


class UnknownProfile(NotFound):
    code = "unknown_profile"
    default_message = "No import profile has this name."


class InvalidProfile(ValidationFailed):
    code = "invalid_profile"
    default_message = "The import profile is not valid."


class SourceError(DomainError):
    """The file as a whole cannot be read (further); recorded on the job as error_code/error_message."""

    code = "unreadable_file"
    status = 422
    default_message = "The file cannot be read."


class ChannelRequired(SourceError):
    code = "channel_required"
    default_message = "This profile imports channel data: run the job for a channel."


class UnsupportedFormat(SourceError):
    code = "unsupported_format"
    default_message = "This file format is not supported."


class BinaryFile(SourceError):
    code = "binary_file"
    default_message = "The file is binary data, not text in a supported format."


class UndecodableFile(SourceError):
    code = "undecodable_file"
    default_message = "The file's text encoding could not be determined."


class ArchiveTooLarge(SourceError):
    code = "archive_too_large"
    default_message = "The compressed file expands beyond the allowed size (possible zip bomb)."


class LineTooLong(SourceError):
    code = "line_too_long"
    default_message = "A line of the file is longer than allowed; reading stopped there."


class RecordTooLarge(SourceError):
    code = "record_too_large"
    default_message = "A record or a cell of the file is larger than allowed; reading stopped there."


class FileTooLarge(SourceError):
    code = "file_too_large"
    status = 413
    default_message = "The file is larger than allowed."


class TruncatedFile(SourceError):
    code = "truncated_file"
    default_message = "The file ends unexpectedly (truncated upload or archive)."


class UnsafeXml(SourceError):
    code = "unsafe_xml"
    default_message = "The XML declares entities or a DTD; refused for safety."


class MalformedFile(SourceError):
    code = "malformed_file"
    default_message = "The file is not well-formed."


class MissingColumns(SourceError):
    code = "missing_columns"
    default_message = "The file lacks columns the profile requires."


class InvalidSkuMap(SourceError):
    """A profile's or job's SKU map cannot be read: a missing file, a malformed row, a non-text entry, or a
    server path given by an uploader."""

    code = "invalid_sku_map"
    default_message = "The SKU map is not valid."


class JobNotFound(NotFound):
    code = "import_job_not_found"
    default_message = "No such import job."


class JobNotRunnable(DomainError):
    code = "import_job_not_runnable"
    status = 409
    default_message = "This import job cannot be run in its current state."


class PathNotAllowed(DomainError):
    code = "path_not_allowed"
    status = 403
    default_message = "Server-side imports may only read files under the configured import roots."


class QuarantineRowNotFound(NotFound):
    code = "quarantine_row_not_found"
    default_message = "No such quarantined row."


class QuarantineRowClosed(DomainError):
    code = "quarantine_row_closed"
    status = 409
    default_message = "This quarantined row was already resolved or discarded."


class UnknownEntity(NotFound):
    code = "unknown_export_entity"
    default_message = "Nothing by this name can be exported."


class ProductMergeNotFound(NotFound):
    code = "product_merge_not_found"
    default_message = "No such product merge."


class MergeNotUndoable(DomainError):
    code = "merge_not_undoable"
    status = 409
    default_message = "This product merge cannot be undone exactly any more."

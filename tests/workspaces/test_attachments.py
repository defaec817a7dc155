"""What a message's files give its turn: text-like files and PDFs as text within a budget, anything else by name; and the limits."""

from __future__ import annotations

import hashlib

import pytest

from soma import errors
from soma.workspaces import attachments
from soma.workspaces.attachments import Attached
from tests.knowledge import samples

CSV = b"month,total\njanuary,20\nfebruary,35\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _record(path: str, data: bytes, kind: str, excerpt: str | None, cut: bool = False, note: str | None = None) -> dict:
    return {
        "path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "type": kind,
        "excerpt": excerpt, "cut": cut, "note": note,
    }  # fmt: skip


def test_a_csv_a_pdf_and_a_binary_file_are_described_with_the_text_each_gives_the_turn() -> None:
    pdf = samples.text_pdf("Quarterly report", "Sales rose in March.")
    files = [Attached("sales.csv", CSV, "text/csv"), Attached("report.pdf", pdf, "application/pdf"), Attached("chart.png", PNG, "image/png")]

    assert attachments.describe(files) == [
        _record("sales.csv", CSV, "text", CSV.decode()),
        _record("report.pdf", pdf, "pdf", "Quarterly report\n\nSales rose in March."),
        _record("chart.png", PNG, "file", None),
    ]


@pytest.mark.parametrize(
    ("path", "data", "declared", "kind"),
    [
        ("notes.md", b"# notes", None, "text"),
        ("script.py", b"print(1)\n", "application/octet-stream", "text"),  # browsers often declare nothing useful
        ("Makefile", b"all:\n\ttrue\n", None, "text"),  # no suffix, and UTF-8: text
        ("data.bin", b"plain ascii", None, "file"),  # a suffix of no text type, whatever its content
        ("data.bin", b"plain ascii", "text/plain", "text"),  # unless declared as text
        ("latin.txt", "café".encode("latin-1"), "text/plain", "file"),  # not UTF-8
        ("nul.txt", b"a\x00b", "text/plain", "file"),  # NUL: binary
        ("bom.csv", b"\xef\xbb\xbfa,b\n", None, "text"),
        ("fake.pdf", b"just text, no signature", "application/pdf", "file"),
        ("scan", samples.text_pdf("x"), "application/pdf", "pdf"),  # declared, with its signature
    ],
)
def test_the_kind_of_a_file_is_decided_by_its_content_and_its_name(path, data, declared, kind) -> None:
    [described] = attachments.describe([Attached(path, data, declared)])
    assert described["type"] == kind


def test_each_files_text_is_cut_at_its_share_and_all_of_it_at_the_messages_budget() -> None:
    long = b"x" * (attachments.FILE_CHARS + 10)
    files = [Attached(f"{n}.txt", long) for n in range(4)] + [Attached("short.txt", b"fits nowhere")]

    described = attachments.describe(files)

    assert [(d["excerpt"] and len(d["excerpt"]), d["cut"], d["note"]) for d in described] == [
        (attachments.FILE_CHARS, True, None),
        (attachments.FILE_CHARS, True, None),
        (attachments.FILE_CHARS, True, None),
        (None, False, attachments.BUDGET_USED),  # 3 × 4,000 characters used the message's 12,000
        (None, False, attachments.BUDGET_USED),
    ]
    assert sum(len(d["excerpt"] or "") for d in described) == attachments.MESSAGE_CHARS


def test_a_long_pdf_is_read_only_until_its_share_is_full() -> None:
    page = "A line of the long report. " * 100  # 2,700 characters a page
    pdf = samples.text_pdf(*[page] * 50)

    [described] = attachments.describe([Attached("long.pdf", pdf)])

    assert (len(described["excerpt"]), described["cut"]) == (attachments.FILE_CHARS, True)


@pytest.mark.parametrize(
    ("pdf", "note"),
    [
        (samples.encrypted_pdf("secret", "pw"), "The PDF is encrypted with a password."),
        (samples.blank_pdf(), "The PDF has no text to extract; scanned pages need OCR first."),
    ],
)
def test_a_pdf_without_readable_text_says_why(pdf: bytes, note: str) -> None:
    [described] = attachments.describe([Attached("doc.pdf", pdf)])
    assert (described["type"], described["excerpt"], described["note"]) == ("pdf", None, note)


def test_a_damaged_pdf_says_it_cannot_be_read() -> None:
    [described] = attachments.describe([Attached("doc.pdf", samples.corrupt_pdf())])
    assert described["note"].startswith("The PDF cannot be read; it is damaged or not a PDF")


def test_the_limits_name_the_file_or_the_count_and_the_limit(monkeypatch) -> None:
    monkeypatch.setattr(attachments, "MAX_FILE_BYTES", 10)
    monkeypatch.setattr(attachments, "MAX_BYTES", 15)
    monkeypatch.setattr(attachments, "MAX_FILES", 2)

    cases = [
        ([Attached("a", b""), Attached("b", b""), Attached("c", b"")], errors.TooManyAttachments, "The message carries 3 files; at most 2 are allowed."),
        ([Attached("big.bin", b"x" * 11)], errors.AttachmentTooLarge, "The file 'big.bin' has 11 bytes; at most 10 are allowed."),
        ([Attached("a", b"x" * 8), Attached("b", b"x" * 8)], errors.AttachmentsTooLarge, "The message's 2 files have 16 bytes together; at most 15 are allowed."),
        ([Attached("a", b""), Attached("a", b"")], errors.DuplicateAttachment, "Two files of the message are named 'a'."),
        ([Attached("../../x", b"")], errors.InvalidPath, "The path '../../x' has a '..' part."),
    ]  # fmt: skip
    for files, error, detail in cases:
        with pytest.raises(error) as refused:
            attachments.check(files)
        assert refused.value.detail == detail


def test_the_errors_name_the_limits_the_module_holds() -> None:
    assert f"at most {attachments.MAX_FILE_BYTES // attachments.MiB} MiB" in errors.AttachmentTooLarge.__doc__
    assert f"at most {attachments.MAX_BYTES // attachments.MiB} MiB" in errors.AttachmentsTooLarge.__doc__
    assert f"at most {attachments.MAX_FILES} files" in errors.TooManyAttachments.__doc__

"""Text extraction per file type, and the reasons given for files that cannot be read."""

from __future__ import annotations

import pytest

from soma import errors
from soma.knowledge import parsers
from tests.knowledge import samples

SUFFIX = {"error": "Delete this document, fix or convert the file, and upload it again."}


def _extract(data: bytes, content_type: str) -> str:
    return parsers.extract(data, content_type)


def _reason(data: bytes, content_type: str) -> str:
    with pytest.raises(errors.ParseError) as failure:
        _extract(data, content_type)
    return failure.value.message


@pytest.mark.parametrize(
    ("filename", "declared", "expected"),
    [
        ("notes.txt", None, "text/plain"),
        ("README.MD", "application/octet-stream", "text/markdown"),
        ("page.htm", None, "text/html"),
        ("paper.pdf", "application/octet-stream", "application/pdf"),
        ("table.csv", "application/vnd.ms-excel", "text/csv"),
        ("data.json", None, "application/json"),
        ("notes", "text/markdown; charset=utf-8", "text/markdown"),
        ("download", "application/x-pdf", "application/pdf"),
    ],
)
def test_the_type_comes_from_the_extension_then_the_declared_type(filename, declared, expected) -> None:
    assert parsers.content_type_for(filename, declared) == expected


@pytest.mark.parametrize(
    ("filename", "declared", "described"),
    [("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", None), ("blob", None, "no content type")],
)
def test_an_unknown_type_is_refused_naming_the_types_soma_reads(filename, declared, described) -> None:
    with pytest.raises(errors.UnsupportedFileType) as refused:
        parsers.content_type_for(filename, declared)

    assert refused.value.status_code == 415
    assert refused.value.message == (
        f"'{filename}' ({described or declared}) is not a type Soma reads. Soma reads text (.txt), Markdown (.md), "
        "HTML (.html), PDF (.pdf), CSV (.csv) and JSON (.json) files. Convert the file to one of these types and upload it again."
    )


def test_text_and_markdown_are_read_as_utf8_without_a_bom() -> None:
    assert _extract("\ufeff# Café\n\nNotes.".encode(), "text/markdown") == "# Café\n\nNotes."
    assert _extract(b"plain", "text/plain") == "plain"


def test_text_that_is_not_utf8_fails_naming_the_byte() -> None:
    assert _reason(b"caf\xe9", "text/plain") == (
        f"The text file is not UTF-8: byte 0xe9 at offset 3 cannot be decoded. {SUFFIX['error']}"
    )


def test_html_keeps_visible_text_by_block_and_drops_scripts_and_styles() -> None:
    html = (
        b"<html><head><title>Guide</title><style>p {color: red}</style></head><body>"
        b"<h1>Setup</h1><p>Install <b>Soma</b> first.</p><script>alert('x')</script>"
        b"<ul><li>one</li><li>two</li></ul>line<br>break</body></html>"
    )

    text = _extract(html, "text/html")

    assert text == "Guide\n\nSetup\n\nInstall Soma first.\n\none\n\ntwo\n\n\n\nline\nbreak"


def test_html_in_latin1_is_decoded_from_its_meta_charset() -> None:
    html = b'<html><head><meta charset="iso-8859-1"></head><body><p>Caf\xe9</p></body></html>'
    assert _extract(html, "text/html").strip() == "Café"


def test_a_pdf_gives_the_text_of_every_page() -> None:
    pdf = samples.text_pdf("First page (one)\nsecond line", "Second page")
    assert _extract(pdf, "application/pdf") == "First page (one)\nsecond line\n\n\nSecond page\n"


def test_a_corrupt_pdf_fails_with_the_reason() -> None:
    assert _reason(samples.corrupt_pdf(), "application/pdf") == (
        f"The PDF cannot be read; it is damaged or not a PDF (Stream has ended unexpectedly). {SUFFIX['error']}"
    )


def test_a_file_that_is_not_a_pdf_at_all_fails() -> None:
    assert _reason(b"", "application/pdf") == (
        f"The PDF cannot be read; it is damaged or not a PDF (Cannot read an empty file). {SUFFIX['error']}"
    )


def test_a_password_protected_pdf_fails_as_encrypted() -> None:
    pdf = samples.encrypted_pdf("Secret plans", password="hunter2")
    assert _reason(pdf, "application/pdf") == f"The PDF is encrypted with a password. {SUFFIX['error']}"


def test_a_pdf_without_text_fails_suggesting_ocr() -> None:
    assert _reason(samples.blank_pdf(), "application/pdf") == (
        f"The PDF has no text to extract in its 1 page(s); scanned pages need OCR first. {SUFFIX['error']}"
    )


def test_csv_rows_become_column_value_lines() -> None:
    data = b"name,age,city\nAda,36,London\nAlan,,Wilmslow,extra\n\n"
    assert _extract(data, "text/csv") == (
        "name: Ada\nage: 36\ncity: London\n\nname: Alan\ncity: Wilmslow\ncolumn 4: extra"
    )


def test_csv_with_semicolons_is_sniffed() -> None:
    assert _extract(b"name;age\nAda;36\n", "text/csv") == "name: Ada\nage: 36"


def test_json_is_flattened_into_path_value_lines() -> None:
    data = b'{"users": [{"name": "Ada", "tags": ["math", 1, null]}], "ok": true, "title": "Notes"}'
    assert _extract(data, "application/json") == (
        "users[0].name: Ada\nusers[0].tags[0]: math\nusers[0].tags[1]: 1\nusers[0].tags[2]: null\n\nok: true\n\ntitle: Notes"
    )


def test_a_json_array_and_a_scalar_are_readable_too() -> None:
    assert _extract(b'[{"a": 1}, "two"]', "application/json") == "[0].a: 1\n\n[1]: two"
    assert _extract(b'"just text"', "application/json") == "just text"


def test_invalid_json_fails_naming_where() -> None:
    assert _reason(b'{"a": 1,,}', "application/json") == (
        f"The JSON file is not valid: Expecting property name enclosed in double quotes at line 1, column 9. {SUFFIX['error']}"
    )

"""Knowledge files for tests, made with real libraries: text PDFs written by pypdf."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

_HELVETICA = DictionaryObject(
    {
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    }
)


def text_pdf(*pages: str) -> bytes:
    """A valid PDF with one page per argument, each line of it drawn as text in Helvetica."""
    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(612, 792)
        operators = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td"]
        for line in text.split("\n"):
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            operators += [f"({escaped}) Tj", "T*"]
        operators.append("ET")
        content = DecodedStreamObject()
        content.set_data("\n".join(operators).encode("latin-1"))
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): _HELVETICA})}
        )
        page.replace_contents(content)
    return _write(writer)


def blank_pdf() -> bytes:
    """A valid PDF whose one page has no text (as a scanned page would)."""
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    return _write(writer)


def encrypted_pdf(text: str, password: str) -> bytes:
    """A text PDF that opens only with the password."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(text))))
    writer.encrypt(user_password=password, algorithm="RC4-128")
    return _write(writer)


def corrupt_pdf() -> bytes:
    """A PDF cut off in its middle, as an interrupted download leaves it."""
    whole = text_pdf("This text is never read.")
    return whole[: len(whole) // 2]


def _write(writer: PdfWriter) -> bytes:
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()

"""Write the export manifest into PNG, SVG and PDF files, each in its format's own metadata slot.

- PNG: an ``iTXt`` chunk (UTF-8 text) with keyword ``attention_atlas_manifest``, placed
  right after ``IHDR``.
- SVG: a ``<metadata id="attention-atlas-manifest">`` element, the first child of the root.
- PDF: an incremental update that appends a new document information dictionary with the
  manifest under ``/AttentionAtlasManifest``, keeping the original bytes and entries.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import zlib
from xml.sax.saxutils import escape

logger = logging.getLogger(__name__)

MANIFEST_KEY = "attention_atlas_manifest"
SVG_METADATA_ID = "attention-atlas-manifest"
PDF_MANIFEST_KEY = "AttentionAtlasManifest"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_SVG_ROOT = re.compile(rb"<svg\b[^>]*>")
_PDF_TRAILER = re.compile(rb"trailer\s*<<(?P<body>.*?)>>\s*startxref\s*(?P<xref>\d+)\s*%%EOF\s*$", re.DOTALL)


def manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, ensure_ascii=False, sort_keys=True)


def embed_manifest(data: bytes, fmt: str, manifest: dict, title: str = "") -> bytes:
    """Return ``data`` (a PNG, SVG or PDF file) with ``manifest`` written into its metadata.

    ``title`` becomes the PDF document title; PNG and SVG do not use it.
    """
    if fmt == "png":
        return _png_with_text(data, MANIFEST_KEY, manifest_text(manifest))
    if fmt == "svg":
        return _svg_with_metadata(data, manifest_text(manifest))
    if fmt == "pdf":
        return _pdf_with_info(data, manifest_text(manifest), title)
    raise ValueError(f"Invalid format '{fmt}' for an embedded manifest. Choose png, svg or pdf.")


def _png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    checksum = zlib.crc32(chunk_type + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", checksum)


def _png_with_text(data: bytes, keyword: str, text: str) -> bytes:
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("The PNG data does not start with a signature and an IHDR chunk, so no manifest was added.")
    ihdr_end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    # iTXt body: keyword, NUL, compression flag and method (none), empty language tag and
    # translated keyword (each NUL-terminated), then the UTF-8 text.
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return data[:ihdr_end] + _png_chunk(b"iTXt", body) + data[ihdr_end:]


def _svg_with_metadata(data: bytes, text: str) -> bytes:
    root = _SVG_ROOT.search(data)
    if root is None:
        raise ValueError("The SVG data has no <svg> root element, so no manifest was added.")
    element = f'<metadata id="{SVG_METADATA_ID}">{escape(text)}</metadata>'.encode("utf-8")
    return data[: root.end()] + element + data[root.end() :]


def _pdf_text_string(text: str) -> bytes:
    """Encode a PDF text string as UTF-16BE hex with a byte-order mark, which any reader decodes."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _pdf_with_info(data: bytes, text: str, title: str) -> bytes:
    trailer = _PDF_TRAILER.search(data[-4096:])
    if trailer is None:
        # NOTE: only classic cross-reference tables (what Chromium writes) are handled, not
        # cross-reference streams.
        raise ValueError("The PDF has no classic trailer at its end, so no manifest was added.")
    body = trailer.group("body")
    size_match = re.search(rb"/Size\s+(\d+)", body)
    root_match = re.search(rb"/Root\s+(\d+\s+\d+\s+R)", body)
    if size_match is None or root_match is None:
        raise ValueError("The PDF trailer has no /Size or /Root entry, so no manifest was added.")
    object_number = int(size_match.group(1))

    # Keep the entries of the current information dictionary (producer, dates) except its
    # title, which is the name of kaleido's page, and add ours.
    entries = b""
    info_match = re.search(rb"/Info\s+(\d+)\s+(\d+)\s+R", body)
    if info_match is not None:
        pattern = rb"(?<!\d)" + info_match.group(1) + rb"\s+" + info_match.group(2) + rb"\s+obj\s*<<(.*?)>>\s*endobj"
        old_info = re.search(pattern, data, re.DOTALL)
        if old_info is not None and b"<<" not in old_info.group(1):
            lines = old_info.group(1).strip().split(b"\n")
            # One entry per line is how Chromium writes it; anything else is left out whole.
            if all(line.startswith(b"/") for line in lines):
                entries = b"".join(line + b"\n" for line in lines if not line.startswith(b"/Title"))
    if title:
        entries += b"/Title " + _pdf_text_string(title) + b"\n"
    entries += b"/" + PDF_MANIFEST_KEY.encode("ascii") + b" " + _pdf_text_string(text) + b"\n"

    prefix = data if data.endswith(b"\n") else data + b"\n"
    object_offset = len(prefix)
    new_object = b"%d 0 obj\n<<%s>>\nendobj\n" % (object_number, entries)
    xref_offset = object_offset + len(new_object)
    # The free-list head (object 0) is repeated, as most incremental writers do, because some
    # readers treat a table whose first subsection is not object 0 as damaged.
    xref = b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (object_number, object_offset)
    new_trailer = b"trailer\n<</Size %d\n/Root %s\n/Info %d 0 R\n/Prev %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        object_number + 1,
        root_match.group(1),
        object_number,
        trailer.group("xref"),
        xref_offset,
    )
    return prefix + new_object + xref + new_trailer

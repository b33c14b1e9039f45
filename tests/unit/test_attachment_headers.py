"""How an attachment is served: only raster images, audio and video as themselves; everything
else (HTML, SVG, PDF, text...) as a download that runs nothing."""

from __future__ import annotations

import pytest

from messenger_channel.conversations.attachments import download_headers, served_type


@pytest.mark.parametrize("content_type", [
    "image/png", "image/jpeg", "IMAGE/GIF", "image/webp", "audio/mpeg", "audio/ogg",
    "video/mp4"])
def test_raster_images_audio_and_video_are_shown_as_themselves(content_type: str) -> None:
    headers = download_headers("photo", content_type, 12)
    assert headers["Content-Type"] == content_type.lower()
    assert headers["Content-Disposition"].startswith("inline;")


@pytest.mark.parametrize("content_type", [
    "text/html", "text/html; charset=utf-8", "image/svg+xml", "application/xhtml+xml",
    "text/xml", "application/pdf", "text/plain", "application/javascript", "", None])
def test_everything_else_is_a_download(content_type: str | None) -> None:
    headers = download_headers("invoice.html", content_type, 99)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == "attachment; filename*=UTF-8''invoice.html"
    assert served_type(content_type) == "application/octet-stream"


@pytest.mark.parametrize("content_type", ["image/png", "image/svg+xml", "text/html"])
def test_every_download_is_sandboxed_and_never_sniffed(content_type: str) -> None:
    headers = download_headers("a", content_type, 3)
    assert headers["Content-Security-Policy"] == "sandbox"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Length"] == "3"


def test_the_file_name_cannot_break_out_of_its_header() -> None:
    disposition = download_headers('a"; filename=evil.html\r\nX: y/é', "text/html",
                                   1)["Content-Disposition"]
    assert disposition == ("attachment; filename*=UTF-8''"
                           "a%22%3B%20filename%3Devil.html%0D%0AX%3A%20y%2F%C3%A9")

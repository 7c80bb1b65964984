"""What an HTTP error from a device says: status line, the device's reason, nothing that drives a terminal."""

from upnpcm.aio.control_point import status_error
from upnpcm.aio.http_client import HttpReply
from upnpcm.core.http import Headers

URL = "http://127.0.0.1:1400/xml/device_description.xml"


def reply(status, body=b"", content_type="text/plain; charset=utf-8", reason=""):
    headers = Headers([("Content-Type", content_type)] if content_type else [])
    return HttpReply(status=status, headers=headers, body=body, url=URL, reason=reason)


def test_status_line_and_the_first_line_of_a_text_body():
    error = status_error("GET", URL, reply(400, b"400 Host header is not an IP literal\nmore\n"))
    assert str(error) == f"GET {URL}: HTTP 400 Bad Request: Host header is not an IP literal"
    assert (error.http_status, error.reason, error.detail) == (
        400,
        "Bad Request",
        "Host header is not an IP literal",
    )


def test_the_devices_own_reason_phrase_is_kept():
    error = status_error("GET", URL, reply(503, b"", reason="Busy Now"))
    assert str(error) == f"GET {URL}: HTTP 503 Busy Now"


def test_control_characters_cannot_reach_the_terminal():
    body = b"\x1b[2J\x1b]0;owned\x07evil\r\nsecond"
    error = status_error("GET", URL, reply(400, body, reason="Bad\x1b[31m"))
    assert "\x1b" not in str(error) and "\x07" not in str(error) and "\r" not in str(error)
    assert error.detail.endswith("evil")
    assert len(status_error("GET", URL, reply(400, b"x" * 5000)).detail) == 200


def test_markup_and_binary_bodies_are_not_quoted():
    html = status_error("GET", URL, reply(404, b"<html><body>nope</body></html>", "text/html"))
    assert html.detail == "" and str(html) == f"GET {URL}: HTTP 404 Not Found"
    unknown = status_error("GET", URL, reply(599, b"", None))
    assert str(unknown) == f"GET {URL}: HTTP 599"

"""``upnpcm ui`` on the command line: its help, its warning for a non-loopback address, its errors.

It runs with SSDP only inside the namespace (tests/netns/test_ui_browser.py);
here every case ends before any multicast socket is opened.
"""

import subprocess
import sys

UPNPCM = [sys.executable, "-m", "upnpcm"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*UPNPCM, *args], capture_output=True, text=True, timeout=30)


def test_help_says_what_it_is_and_where_it_listens():
    result = run("ui", "--help")
    assert result.returncode == 0
    assert "Look at and drive every device on the network in a browser." in result.stdout
    words = " ".join(result.stdout.split())  # click wraps the option column to the terminal
    assert "[default: 127.0.0.1]" in words and "[default: 8400;" in words
    listing = run("--help").stdout
    assert "ui " in listing and "in a browser" in listing


def test_another_address_is_allowed_with_a_warning():
    result = run("ui", "--host", "0.0.0.0", "--port", "0", "--interface", "no-such-if0")
    assert "warning: listening on 0.0.0.0: anyone who can reach this port" in result.stderr
    assert result.returncode == 2  # the interface is checked before anything is sent
    assert "no such interface or address: no-such-if0" in result.stderr
    assert "Traceback" not in result.stderr


def test_loopback_needs_no_warning_and_a_name_is_refused():
    result = run("ui", "--port", "0", "--interface", "no-such-if0")
    assert "warning" not in result.stderr and result.returncode == 2
    result = run("ui", "--host", "example.com")
    assert result.returncode == 2 and "--host must be an IP address" in result.stderr

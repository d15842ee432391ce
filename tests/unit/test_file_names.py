"""Object keys carry a safe last segment whatever name the uploader sent."""

from __future__ import annotations

import pytest

from protocols.files import safe_filename


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("Aarti photo (1).jpg", "Aarti_photo_1.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\pandit\\kundli.pdf", "kundli.pdf"),
        ("पूजा.mp4", "file.mp4"),
        ("Śrī Gaṇeśa.png", "Sri_Ganesa.png"),
        (".hidden", "file.hidden"),
        ("...", "file"),
        ('a"; rm -rf /', "file"),
        ('x"\r\nSet-Cookie: a=b.pdf', "x_Set-Cookie_a_b.pdf"),
    ],
)
def test_names_become_safe_key_segments(given: str, safe: str):
    assert safe_filename(given) == safe


def test_long_names_keep_their_extension():
    name = safe_filename("a" * 300 + ".pdf")
    assert len(name) == 100 and name.endswith(".pdf")

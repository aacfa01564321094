"""VietQR payloads: CRC, round trip, tampering, input validation, a hand-assembled payload, SVG."""

from __future__ import annotations

import binascii
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import zxingcpp

from app.payments import vietqr

BIN_VCB = "970436"  # Vietcombank's NAPAS BIN
ACCOUNT = "0011001234567"
REFERENCE = "GLG7K2M9QXA"


def test_crc_of_the_standard_check_string() -> None:
    assert vietqr.crc16_ccitt_false(b"123456789") == 0x29B1
    assert vietqr.crc16_ccitt_false(b"") == 0xFFFF


def test_built_payload_parses_back_to_the_same_fields() -> None:
    payload = vietqr.build(BIN_VCB, ACCOUNT, 1_500_000, REFERENCE)
    parsed = vietqr.parse(payload)
    assert parsed.bank_bin == BIN_VCB
    assert parsed.account_number == ACCOUNT
    assert parsed.amount == 1_500_000
    assert parsed.reference == REFERENCE
    assert parsed.reference_label is None
    assert parsed.service_code == "QRIBFTTA"
    assert parsed.currency == "704"
    assert parsed.country == "VN"
    assert parsed.point_of_initiation == "12"
    assert list(parsed.fields) == ["00", "01", "38", "53", "54", "58", "62", "63"]
    assert payload.isascii() and payload.startswith("000201010212")


def test_payload_matches_a_hand_assembled_one() -> None:
    """Every length counted by hand; the CRC from the standard library's CRC-CCITT."""
    beneficiary = "0006" "970436" "0113" "0011001234567"  # 6 + 4 + 13 + 4 = 27
    merchant = "0010" "A000000727" "0127" + beneficiary + "0208" "QRIBFTTA"  # 14 + 31 + 12 = 57
    body = (
        "000201"
        "010212"
        "3857" + merchant
        + "5303704"
        "5406500000"
        "5802VN"
        "6215" "0811GLG7K2M9QXA"
        "6304"
    )
    crc = binascii.crc_hqx(body.encode("ascii"), 0xFFFF)  # poly 0x1021, init given: CCITT-FALSE
    expected = body + f"{crc:04X}"

    assert vietqr.build(BIN_VCB, ACCOUNT, 500_000, REFERENCE) == expected


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.replace("500000", "900000"),  # the amount
        lambda p: p.replace("GLG7K2M9QXA", "GLG7K2M9QXB"),  # the reference
        lambda p: p[:-4] + f"{(int(p[-4:], 16) ^ 1):04X}",  # the CRC itself
        lambda p: p[:-8],  # the CRC field removed
    ],
)
def test_a_tampered_payload_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    payload = vietqr.build(BIN_VCB, ACCOUNT, 500_000, REFERENCE)
    tampered = tamper(payload)
    assert tampered != payload
    with pytest.raises(ValueError, match="CRC"):
        vietqr.parse(tampered)


def test_parse_reads_a_reference_label_and_lowercase_crc() -> None:
    """Payloads from elsewhere may carry the code in 62/05 and a lowercase CRC."""
    beneficiary = vietqr.tlv("00", BIN_VCB) + vietqr.tlv("01", ACCOUNT)
    body = (
        vietqr.tlv("00", "01") + vietqr.tlv("01", "11")
        + vietqr.tlv("38", vietqr.tlv("00", "A000000727") + vietqr.tlv("01", beneficiary))
        + vietqr.tlv("53", "704") + vietqr.tlv("58", "VN")
        + vietqr.tlv("62", vietqr.tlv("05", "REF42")) + "6304"
    )
    payload = body + f"{binascii.crc_hqx(body.encode(), 0xFFFF):04x}"
    parsed = vietqr.parse(payload)
    assert parsed.reference_label == "REF42" and parsed.reference is None
    assert parsed.amount is None and parsed.point_of_initiation == "11"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("97043", ACCOUNT, 1000, REFERENCE), "BIN"),
        (("97043A", ACCOUNT, 1000, REFERENCE), "BIN"),
        ((BIN_VCB, "", 1000, REFERENCE), "account number"),
        ((BIN_VCB, "1" * 20, 1000, REFERENCE), "account number"),
        ((BIN_VCB, "0011-0012", 1000, REFERENCE), "account number"),
        ((BIN_VCB, ACCOUNT, 0, REFERENCE), "positive"),
        ((BIN_VCB, ACCOUNT, -5, REFERENCE), "positive"),
        ((BIN_VCB, ACCOUNT, 10**13, REFERENCE), "13 digits"),
        ((BIN_VCB, ACCOUNT, 1500.0, REFERENCE), "whole number"),
        ((BIN_VCB, ACCOUNT, "1500", REFERENCE), "whole number"),
        ((BIN_VCB, ACCOUNT, True, REFERENCE), "whole number"),
        ((BIN_VCB, ACCOUNT, 1000, "glg7k2m9qxa"), "reference code"),
        ((BIN_VCB, ACCOUNT, 1000, "GLG 7K2"), "reference code"),
        ((BIN_VCB, ACCOUNT, 1000, "A" * 26), "reference code"),
        ((BIN_VCB, ACCOUNT, 1000, ""), "reference code"),
    ],
)
def test_bad_inputs_raise(args, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        vietqr.build(*args)


def test_largest_inputs_are_accepted() -> None:
    payload = vietqr.build(BIN_VCB, "A" * 19, 10**13 - 1, "Z" * 25)
    parsed = vietqr.parse(payload)
    assert parsed.amount == 9_999_999_999_999 and parsed.account_number == "A" * 19


@pytest.mark.parametrize("garbage", ["", "hello", "00020163041234", "0002016304"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(ValueError):
        vietqr.parse(garbage)


def test_svg_is_inline_xml() -> None:
    payload = vietqr.build(BIN_VCB, ACCOUNT, 500_000, REFERENCE)
    svg = vietqr.svg(payload)
    assert not svg.lstrip().startswith("<?xml")
    root = ET.fromstring(svg)
    assert root.tag.rsplit("}", 1)[-1] == "svg"
    assert svg.lstrip().startswith("<svg")
    assert int(root.attrib["width"]) >= 100


def _modules_of(svg: str) -> list[list[bool]]:
    """Rasterise segno's SVG path (only "M x y", "m dx dy" and "h n" runs, one module high)."""
    path = ET.fromstring(svg).find("path")
    assert path is not None
    size = int(float(ET.fromstring(svg).attrib["width"]) / float(
        re.fullmatch(r"scale\((\d+)\)", path.attrib["transform"])[1]  # type: ignore[index]
    ))
    grid = [[False] * size for _ in range(size)]
    x = y = 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.attrib["d"]):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            for i in range(int(a)):
                grid[int(y)][int(x) + i] = True
            x += int(a)
    return grid


def test_the_svg_decodes_to_the_payload() -> None:
    """A real QR decoder (ZXing) reads the drawn SVG back: the exact payload, level M."""
    payload = vietqr.build(BIN_VCB, ACCOUNT, 500_000, REFERENCE)
    modules = _modules_of(vietqr.svg(payload))
    image = np.array([[0 if dark else 255 for dark in row] for row in modules], dtype=np.uint8)
    image = image.repeat(6, axis=0).repeat(6, axis=1)
    [decoded] = zxingcpp.read_barcodes(image)
    assert decoded.format == zxingcpp.BarcodeFormat.QRCode
    assert decoded.text == payload and decoded.ec_level == "M"

"""VietQR payloads: the EMVCo merchant-presented QR code as NAPAS 247 uses it for bank transfers.

A payload is a string of TLV fields: a 2-digit ID, a 2-digit decimal length, then the value. The
fields we write, in this order:

| ID | value |
| --- | --- |
| 00 | payload format indicator, "01" |
| 01 | point of initiation, "12" (dynamic: the QR carries an amount, use it once) |
| 38 | merchant account information (NAPAS), nested: 00 GUID "A000000727"; 01 beneficiary |
|    | organisation, itself nested: 00 acquirer BIN (6 digits), 01 account number; 02 service |
|    | code "QRIBFTTA" (fast transfer to an account) |
| 53 | transaction currency, "704" (VND, ISO 4217) |
| 54 | amount, whole VND |
| 58 | country code, "VN" |
| 62 | additional data field template, nested: 08 purpose of transaction = the pledge's |
|    | reference code |
| 63 | CRC-16/CCITT-FALSE over everything before it *including* "6304"; 4 uppercase hex digits |

Why the reference code goes in 62/08 (purpose of transaction) and not in 62/05 (reference label):
Vietnamese banking apps copy 62/08 into the transfer's description ("Nội dung chuyển khoản"), and
that description is what comes back on the bank statement, where reconciliation looks for the
code (DESIGN convention 6). 62/05 is not shown to the payer nor carried to the statement by most
apps. `parse` reads both, so payloads from elsewhere can still be checked.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import segno

NAPAS_GUID = "A000000727"
SERVICE_TRANSFER_TO_ACCOUNT = "QRIBFTTA"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"

_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")
_REFERENCE = re.compile(r"[A-Z0-9]{1,25}")
MAX_AMOUNT_DIGITS = 13


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    """One field: ID, 2-digit length, value (EMVCo values are at most 99 characters)."""
    if len(tag) != 2 or not tag.isdigit():
        raise ValueError(f"a TLV ID is 2 digits, not {tag!r}")
    if len(value) > 99:
        raise ValueError(f"field {tag} is {len(value)} characters long; the limit is 99")
    return f"{tag}{len(value):02d}{value}"


def _with_crc(body: str) -> str:
    body += "6304"
    return body + f"{crc16_ccitt_false(body.encode('ascii')):04X}"


@dataclass(frozen=True)
class TransferRequest:
    """What a VietQR transfer asks for: who receives, how much, with which reference."""

    bank_bin: str
    account_number: str
    amount: int
    reference: str

    def __post_init__(self) -> None:
        if not isinstance(self.bank_bin, str) or not _BIN.fullmatch(self.bank_bin):
            raise ValueError(f"the bank BIN must be 6 digits, not {self.bank_bin!r}")
        if not isinstance(self.account_number, str) or not _ACCOUNT.fullmatch(
            self.account_number
        ):
            raise ValueError(
                f"the account number must be 1 to 19 letters or digits, not {self.account_number!r}"
            )
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"the amount must be a whole number of VND, not {self.amount!r}")
        if self.amount <= 0:
            raise ValueError(f"the amount must be positive, not {self.amount}")
        if len(str(self.amount)) > MAX_AMOUNT_DIGITS:
            raise ValueError(f"the amount must have at most {MAX_AMOUNT_DIGITS} digits")
        if not isinstance(self.reference, str) or not _REFERENCE.fullmatch(self.reference):
            raise ValueError(
                "the reference code must be 1 to 25 characters A-Z or 0-9, "
                f"not {self.reference!r}"
            )


def build(bank_bin: str, account_number: str, amount: int, reference: str) -> str:
    """The VietQR payload for a transfer of `amount` VND with `reference` as its description."""
    request = TransferRequest(bank_bin, account_number, amount, reference)
    beneficiary = tlv("00", request.bank_bin) + tlv("01", request.account_number)
    merchant_account = (
        tlv("00", NAPAS_GUID) + tlv("01", beneficiary) + tlv("02", SERVICE_TRANSFER_TO_ACCOUNT)
    )
    body = (
        tlv("00", "01")
        + tlv("01", "12")
        + tlv("38", merchant_account)
        + tlv("53", CURRENCY_VND)
        + tlv("54", str(request.amount))
        + tlv("58", COUNTRY_VN)
        + tlv("62", tlv("08", request.reference))
    )
    return _with_crc(body)


def read_tlvs(data: str) -> dict[str, str]:
    """Split a string of TLV fields into {ID: value}; raises ValueError if it is malformed."""
    fields: dict[str, str] = {}
    position = 0
    while position < len(data):
        header = data[position : position + 4]
        if len(header) < 4 or not header.isdigit():
            raise ValueError(f"malformed TLV field at position {position}")
        tag, length = header[:2], int(header[2:])
        value = data[position + 4 : position + 4 + length]
        if len(value) != length:
            raise ValueError(f"field {tag} at position {position} is cut short")
        if tag in fields:
            raise ValueError(f"field {tag} appears twice")
        fields[tag] = value
        position += 4 + length
    return fields


@dataclass(frozen=True)
class ParsedPayload:
    bank_bin: str
    account_number: str
    service_code: str
    amount: int | None
    reference: str | None
    reference_label: str | None
    currency: str
    country: str
    point_of_initiation: str
    fields: dict[str, str]


def parse(payload: str) -> ParsedPayload:
    """Read a VietQR payload back, checking its CRC; raises ValueError when it is not valid."""
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise ValueError("the payload does not end with a CRC field (63)")
    expected = f"{crc16_ccitt_false(payload[:-4].encode('ascii')):04X}"
    if payload[-4:].upper() != expected:
        raise ValueError(f"CRC mismatch: payload says {payload[-4:]}, content gives {expected}")
    fields = read_tlvs(payload)
    if fields.get("00") != "01":
        raise ValueError("not an EMVCo payload (field 00 must be 01)")
    merchant = read_tlvs(fields.get("38", ""))
    if merchant.get("00") != NAPAS_GUID:
        raise ValueError("no NAPAS merchant account information (field 38)")
    beneficiary = read_tlvs(merchant.get("01", ""))
    if "00" not in beneficiary or "01" not in beneficiary:
        raise ValueError("the beneficiary (38/01) lacks a BIN or an account number")
    additional = read_tlvs(fields.get("62", ""))
    amount = fields.get("54")
    return ParsedPayload(
        bank_bin=beneficiary["00"],
        account_number=beneficiary["01"],
        service_code=merchant.get("02", ""),
        amount=int(amount) if amount is not None else None,
        reference=additional.get("08"),
        reference_label=additional.get("05"),
        currency=fields.get("53", ""),
        country=fields.get("58", ""),
        point_of_initiation=fields.get("01", ""),
        fields=fields,
    )


def svg(payload: str, *, scale: int = 4) -> str:
    """The payload as an inline SVG QR code (error correction M, no XML declaration)."""
    qr = segno.make(payload, error="m", micro=False, boost_error=False)
    return str(qr.svg_inline(scale=scale, title="VietQR"))


def png(payload: str, *, scale: int = 8) -> bytes:
    """The payload as a PNG image, to save on a phone and open in a banking app (a phone cannot
    scan the code shown on its own screen)."""
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False, boost_error=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()

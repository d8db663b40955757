#!/usr/bin/env python3
"""An independent verifier of aidtrail logs, written from docs/FORMAT.md alone.

It decodes signed entries of every kind strictly, re-encodes each from its JSON view and compares the
bytes, verifies the author signatures over the domain-separated message with the strict Ed25519 rules,
computes RFC 9162 leaf hashes and the root, and checks a C2SP entry bundle and signed checkpoint.

Needs Python 3.11 or later and the `cryptography` package (used as a second, independent check of every
Ed25519 equation; the strictness rules are checked here in pure Python).

Input: a JSON file with these members (all optional but "origin"):

    {
      "origin": "aidtrail.example/log",     the log's origin
      "leaves": ["<hex>", ...],             the log's signed entries, in log order
      "root": "<hex>",                      the expected root of the tree of "leaves"
      "entry_bundle": "<hex>",              a C2SP entry bundle that must hold exactly "leaves"
      "checkpoint": "<signed note>",        a signed checkpoint that must commit to "leaves"
      "checkpoint_key": "<name+hex8+b64>",  the verifier key of the checkpoint
      "other_leaves": ["<hex>", ...],       signed entries checked one by one, outside the tree
      "pro_rata": [{"amount": "10", "lots": ["7", "7", "7"]}, ...]
                                            pro-rata splits to compute (reported, not judged)
    }

Output: a JSON report on standard output. Exit status 0 when everything verified, 1 when something did
not, 2 when the input could not be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hashlib
import json
import re
import sys
import unicodedata

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# ---------------------------------------------------------------------------------------------------------
# Ed25519 arithmetic (RFC 8032), for the strictness rules of FORMAT.md §6.2 and §6.3
# ---------------------------------------------------------------------------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def _point_add(a, b):
    """Adds two points in extended coordinates (X, Y, Z, T) (RFC 8032 §5.1.4)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _scalar_mult(scalar, point):
    result = IDENTITY
    while scalar > 0:
        if scalar & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        scalar >>= 1
    return result


def _point_equal(a, b):
    x1, y1, z1, _ = a
    x2, y2, z2, _ = b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _negate(point):
    x, y, z, t = point
    return (-x % P, y, z, -t % P)


def _encode_point(point):
    x, y, z, _ = point
    z_inverse = pow(z, P - 2, P)
    x, y = x * z_inverse % P, y * z_inverse % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decode_point(encoding: bytes):
    """Decodes 32 bytes strictly (RFC 8032 §5.1.3): None if not on the curve or not canonical."""
    if len(encoding) != 32:
        return None
    value = int.from_bytes(encoding, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= P:
        return None  # not canonical: y must be reduced
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        if (v * x * x + u) % P != 0:
            return None  # no square root: not on the curve
        x = x * SQRT_M1 % P
    if x == 0 and sign == 1:
        return None  # not canonical: "negative zero"
    if x & 1 != sign:
        x = P - x
    point = (x, y, 1, x * y % P)
    assert _encode_point(point) == encoding
    return point


_BASE = _decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def _is_small_order(point) -> bool:
    return _point_equal(_scalar_mult(8, point), IDENTITY)


def _is_torsion_free(point) -> bool:
    return _point_equal(_scalar_mult(L, point), IDENTITY)


def check_key(key: bytes) -> str | None:
    """The key rules of §6.2; returns why the key is refused, or None."""
    point = _decode_point(key)
    if point is None:
        return "the key is not the canonical encoding of a curve point"
    if _is_small_order(point):
        return "the key is of small order"
    if not _is_torsion_free(point):
        return "the key has a torsion component"
    return None


def verify_strict(key: bytes, message: bytes, signature: bytes, *, key_rules: bool = True) -> str | None:
    """Strict Ed25519 verification of §6.3; returns why the signature is refused, or None."""
    if len(signature) != 64:
        return "the signature is not 64 bytes"
    if key_rules:
        problem = check_key(key)
        if problem:
            return problem
    key_point = _decode_point(key)
    if key_point is None or _is_small_order(key_point):
        return "the key is not a canonical point of large order"
    r_bytes, s_bytes = signature[:32], signature[32:]
    s = int.from_bytes(s_bytes, "little")
    if s >= L:
        return "bad signature: s is not canonical (s >= l)"
    r_point = _decode_point(r_bytes)
    if r_point is None:
        return "bad signature: R is not the canonical encoding of a curve point"
    if _is_small_order(r_point):
        return "bad signature: R is of small order"
    k = int.from_bytes(hashlib.sha512(r_bytes + key + message).digest(), "little") % L
    check = _point_add(_scalar_mult(s, _BASE), _negate(_scalar_mult(k, key_point)))
    if _encode_point(check) != r_bytes:
        return "bad signature: [s]B != R + [k]A"
    # A second opinion from OpenSSL, through the cryptography package: it must agree on the equation.
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return "bad signature: refused by the cryptography package"
    return None


# ---------------------------------------------------------------------------------------------------------
# Value types (§3)
# ---------------------------------------------------------------------------------------------------------

FORMAT_VERSION = 2
ENTRY_BYTES_MAX = 65_535
LEAF_OVERHEAD = 2 + 32 + 64
ENTRY_DOMAIN = b"aidtrail/entry/v1\x00"
DATE_DAYS_MAX = 2_932_896
EPOCH = datetime.date(1970, 1, 1)

KINDS = {
    1: "genesis",
    2: "operator_key_rotation",
    3: "register_organisation",
    4: "key_rotation",
    5: "key_revocation",
    6: "declare_asset",
    7: "declare_programme",
    8: "donation",
    9: "transfer",
    10: "acknowledgement",
    11: "spend",
    12: "pledge",
    13: "attestation",
    14: "pledge_release",
    15: "pledge_void",
    16: "reversal",
    17: "conversion",
    18: "refund",
    19: "accounts_sign_off",
    20: "voucher_issue",
    21: "voucher_redemption",
    22: "voucher_settlement",
    23: "voucher_expiry",
    24: "erasure",
}


def kind_version(code: int) -> int:
    """The version byte of a kind's payloads: the first format version that defines the kind (§16)."""
    return 1 if code <= 16 else 2


RATE_MANTISSA_LIMIT = 10**19
ERASURE_REASONS = {1: "data_subject_request", 2: "consent_withdrawn", 3: "retention_expired", 4: "legal_obligation"}
ROLES = {1: "donor", 2: "ngo", 3: "clinic", 4: "supplier", 5: "auditor"}
POLICIES = {1: "fifo", 2: "pro-rata"}
ASSET_KINDS = {1: "fiat", 2: "token"}
CATEGORIES = {
    1: "consultation",
    2: "medicine",
    3: "surgery",
    4: "maternal-care",
    5: "vaccination",
    6: "laboratory",
    7: "food",
    8: "shelter",
    9: "water-sanitation",
    10: "transport",
    11: "cash-assistance",
    12: "equipment",
    13: "staff",
    14: "training",
    15: "administration",
    16: "bank-fees",
    255: "other",
}

# White space that a text may not start or end with (§3.1, rule 3).
WHITE_SPACE = {
    "\u0020", "\u00a0", "\u1680", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
    *(chr(code) for code in range(0x2000, 0x200B)),
}


class FormatError(Exception):
    """The bytes are not a canonical aidtrail encoding."""


def check_identifier(value: str, what: str) -> None:
    if not 1 <= len(value.encode()) <= 63 or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value, re.ASCII):
        raise FormatError(f"{what} {value!r} is not an identifier")


def check_asset_code(value: str) -> None:
    if not re.fullmatch(r"[A-Z0-9]{2,12}", value, re.ASCII):
        raise FormatError(f"asset code {value!r} is not 2 to 12 upper-case letters or digits")


def check_country(value: str) -> None:
    if not re.fullmatch(r"[A-Z]{2}", value, re.ASCII):
        raise FormatError(f"country {value!r} is not two upper-case letters")


def check_origin(value: str) -> None:
    data = value.encode()
    if not 1 <= len(data) <= 200 or any(byte < 0x21 or byte > 0x7E or byte == 0x2B for byte in data):
        raise FormatError(f"origin {value!r} is not 1 to 200 printable ASCII characters without '+'")


def check_sector(value: str) -> None:
    if not re.fullmatch(r"[0-9]{5}", value, re.ASCII):
        raise FormatError(f"sector {value!r} is not 5 digits")


def check_text(value: str, maximum: int, may_be_empty: bool, what: str) -> None:
    if len(value.encode()) > maximum:
        raise FormatError(f"{what} is longer than {maximum} bytes")
    if not value:
        if may_be_empty:
            return
        raise FormatError(f"{what} must not be empty")
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise FormatError(f"{what} contains a control character")
    if value[0] in WHITE_SPACE or value[-1] in WHITE_SPACE:
        raise FormatError(f"{what} starts or ends with white space")


def date_text(days: int) -> str:
    if days > DATE_DAYS_MAX:
        raise FormatError(f"date {days} is after 9999-12-31")
    return (EPOCH + datetime.timedelta(days=days)).isoformat()


def date_days(text: str) -> int:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text, re.ASCII):
        raise FormatError(f"date {text!r} is not YYYY-MM-DD")
    try:
        days = (datetime.date.fromisoformat(text) - EPOCH).days
    except ValueError as error:
        raise FormatError(f"date {text!r}: {error}") from None
    if not 0 <= days <= DATE_DAYS_MAX:
        raise FormatError(f"date {text!r} is out of range")
    return days


def amount_value(text: str) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"0|[1-9][0-9]*", text, re.ASCII) or int(text) >= 2**128:
        raise FormatError(f"amount {text!r} is not a canonical decimal string below 2^128")
    return int(text)


def hex_value(text: str, size: int, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(f"[0-9a-f]{{{2 * size}}}", text, re.ASCII):
        raise FormatError(f"{what} {text!r} is not {2 * size} lower-case hex digits")
    return bytes.fromhex(text)


def code_of(table: dict[int, str], name: str, what: str) -> int:
    for code, candidate in table.items():
        if candidate == name:
            return code
    raise FormatError(f"{what} {name!r} is not defined")


# ---------------------------------------------------------------------------------------------------------
# Decoding payloads (§2, §4) into the JSON view (§10)
# ---------------------------------------------------------------------------------------------------------


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def take(self, count: int, what: str) -> bytes:
        if self.offset + count > len(self.data):
            raise FormatError(f"the payload ends inside {what} at offset {self.offset}")
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def u8(self, what):
        return self.uint(1, what)

    def hex(self, size, what):
        return self.take(size, what).hex()

    def string(self, length_size: int, what: str) -> str:
        length = self.uint(length_size, f"the length of {what}")
        try:
            return self.take(length, what).decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise FormatError(f"{what} is not valid UTF-8") from None

    def identifier(self, what):
        value = self.string(1, what)
        check_identifier(value, what)
        return value

    def asset(self):
        value = self.string(1, "asset code")
        check_asset_code(value)
        return value

    def country(self, what="country"):
        raw = self.take(2, what)
        if not all(0x41 <= byte <= 0x5A for byte in raw):
            raise FormatError(f"{what} {raw!r} is not two upper-case letters")
        return raw.decode("ascii")

    def name(self, what):
        value = self.string(1, what)
        check_text(value, 200, False, what)
        return value

    def reference(self, what):
        value = self.string(1, what)
        check_text(value, 120, False, what)
        return value

    def text(self, what, may_be_empty):
        value = self.string(2, what)
        check_text(value, 1000, may_be_empty, what)
        return value

    def amount(self):
        return str(self.uint(16, "amount"))

    def date(self, what="value date"):
        return date_text(self.uint(4, what))

    def enum(self, table, what):
        code = self.u8(what)
        if code not in table:
            raise FormatError(f"{what} code {code} is not defined")
        return table[code]

    def option(self, read, what):
        presence = self.u8(f"the presence byte of {what}")
        if presence == 0:
            return None
        if presence != 1:
            raise FormatError(f"the presence byte of {what} is {presence}, not 0 or 1")
        return read()


def read_earmark(r: Reader):
    tag = r.u8("earmark type")
    if tag == 1:
        return {"programme": r.identifier("earmark programme")}
    if tag == 2:
        return {"country": r.country("earmark country")}
    if tag == 3:
        return {"clinic": r.identifier("earmark clinic")}
    raise FormatError(f"earmark type {tag} is not defined")


def read_body(kind: str, r: Reader) -> dict:
    body: dict = {"kind": kind}
    if kind == "genesis":
        origin = r.string(1, "origin")
        check_origin(origin)
        body["origin"] = origin
        body["operator"] = r.identifier("operator")
        body["operator_key"] = r.hex(32, "operator key")
    elif kind == "operator_key_rotation":
        body["new_key"] = r.hex(32, "new key")
    elif kind == "register_organisation":
        body["organisation"] = r.identifier("organisation")
        body["role"] = r.enum(ROLES, "role")
        body["name"] = r.name("organisation name")
        body["country"] = r.country()
        body["iati_identifier"] = r.option(lambda: r.reference("IATI identifier"), "IATI identifier")
        body["attribution_policy"] = r.enum(POLICIES, "attribution policy")
        body["public_key"] = r.hex(32, "public key")
    elif kind == "key_rotation":
        body["organisation"] = r.identifier("organisation")
        body["new_key"] = r.hex(32, "new key")
    elif kind == "key_revocation":
        body["organisation"] = r.identifier("organisation")
        body["revoked_key"] = r.hex(32, "revoked key")
        body["replacement_key"] = r.option(lambda: r.hex(32, "replacement key"), "replacement key")
        body["reason"] = r.text("reason", True)
    elif kind == "declare_asset":
        body["asset"] = r.asset()
        decimals = r.u8("decimals")
        if decimals > 18:
            raise FormatError(f"{decimals} decimals is more than 18")
        body["decimals"] = decimals
        body["asset_kind"] = r.enum(ASSET_KINDS, "asset kind")
    elif kind == "declare_programme":
        body["programme"] = r.identifier("programme")
        body["name"] = r.name("programme name")
        count = r.u8("country count")
        if not 1 <= count <= 50:
            raise FormatError(f"a programme names 1 to 50 countries, not {count}")
        countries = [r.country() for _ in range(count)]
        if any(a >= b for a, b in zip(countries, countries[1:])):
            raise FormatError("countries are not in strictly increasing order")
        body["countries"] = countries
        sector = r.string(1, "sector")
        check_sector(sector)
        body["sector"] = sector
        body["iati_identifier"] = r.option(lambda: r.reference("IATI identifier"), "IATI identifier")
    elif kind == "donation":
        tag = r.u8("donor type")
        if tag == 1:
            body["donor"] = {"organisation": r.identifier("donor")}
        elif tag == 2:
            body["donor"] = {"anonymous": r.hex(32, "donor reference")}
        else:
            raise FormatError(f"donor type {tag} is not defined")
        body["asset"] = r.asset()
        body["amount"] = r.amount()
        body["value_date"] = r.date()
        body["earmark"] = r.option(lambda: read_earmark(r), "earmark")
        body["external_reference"] = r.option(lambda: r.reference("external reference"), "external reference")
    elif kind == "transfer":
        body["to"] = r.identifier("receiver")
        body["asset"] = r.asset()
        body["amount"] = r.amount()
        body["value_date"] = r.date()
        body["programme"] = r.option(lambda: r.identifier("programme"), "programme")
        body["purpose"] = r.text("purpose", True)
    elif kind == "acknowledgement":
        body["transfer"] = r.hex(16, "transfer id")
    elif kind == "spend":
        body["asset"] = r.asset()
        body["amount"] = r.amount()
        body["value_date"] = r.date()
        body["category"] = r.enum(CATEGORIES, "category")
        tag = r.u8("recipient type")
        if tag == 1:
            body["recipient"] = {"beneficiary": r.hex(32, "beneficiary commitment")}
        elif tag == 2:
            body["recipient"] = {"supplier": r.identifier("supplier")}
        else:
            raise FormatError(f"recipient type {tag} is not defined")
        body["programme"] = r.option(lambda: r.identifier("programme"), "programme")
        body["evidence"] = r.option(lambda: r.hex(32, "evidence"), "evidence")
        body["description"] = r.text("description", True)
    elif kind == "pledge":
        body["to"] = r.identifier("receiver")
        body["asset"] = r.asset()
        body["amount"] = r.amount()
        body["value_date"] = r.date()
        body["verifier"] = r.identifier("verifier")
        body["result"] = r.text("stated result", False)
        body["expires_at_ms"] = r.uint(8, "expiry")
        body["programme"] = r.option(lambda: r.identifier("programme"), "programme")
    elif kind == "attestation":
        body["pledge"] = r.hex(16, "pledge id")
        body["statement"] = r.text("statement", True)
        body["evidence"] = r.option(lambda: r.hex(32, "evidence"), "evidence")
    elif kind in ("pledge_release", "pledge_void"):
        body["pledge"] = r.hex(16, "pledge id")
    elif kind == "reversal":
        body["target"] = r.hex(16, "target id")
        body["reason"] = r.text("reason", False)
    elif kind == "conversion":
        body["from_asset"] = r.asset()
        body["from_amount"] = r.amount()
        body["to_asset"] = r.asset()
        body["to_amount"] = r.amount()
        mantissa = r.uint(8, "rate mantissa")
        scale = r.u8("rate scale")
        body["rate"] = rate_text(mantissa, scale)
        body["rate_source"] = r.name("rate source")
        body["value_date"] = r.date()
    elif kind == "refund":
        body["donation"] = r.hex(16, "donation id")
        body["asset"] = r.asset()
        body["amount"] = r.amount()
        body["value_date"] = r.date()
        body["reason"] = r.text("reason", False)
    elif kind == "accounts_sign_off":
        body["organisation"] = r.identifier("organisation")
        body["tree_size"] = r.uint(8, "tree size")
        start = r.uint(4, "period start")
        end = r.uint(4, "period end")
        if start > end:
            raise FormatError("the period starts after it ends")
        body["period_start"] = date_text(start)
        body["period_end"] = date_text(end)
        body["report"] = r.hex(32, "report digest")
        body["opinion"] = r.text("opinion", False)
    elif kind == "voucher_issue":
        body["programme"] = r.identifier("programme")
        body["asset"] = r.asset()
        body["face_value"] = r.amount()
        body["category"] = r.enum(CATEGORIES, "category")
        count = r.u8("clinic count")
        clinics = [r.identifier("clinic") for _ in range(count)]
        check_set(clinics, 32, "clinics")
        body["clinics"] = clinics
        body["vouchers"] = read_vouchers(r)
        body["value_date"] = r.date()
        body["expires_at_ms"] = r.uint(8, "expiry")
    elif kind == "voucher_redemption":
        body["voucher"] = r.hex(16, "voucher id")
        body["evidence"] = r.option(lambda: r.hex(32, "evidence"), "evidence")
    elif kind == "voucher_settlement":
        body["clinic"] = r.identifier("clinic")
        body["vouchers"] = read_vouchers(r)
        body["value_date"] = r.date()
    elif kind == "voucher_expiry":
        body["issue"] = r.hex(16, "issue id")
    elif kind == "erasure":
        body["count"] = r.uint(4, "erasure count")
        if body["count"] == 0:
            raise FormatError("an erasure count is at least 1")
        body["digest"] = r.hex(32, "erasure digest")
        body["reason"] = r.enum(ERASURE_REASONS, "erasure reason")
    return body


def check_set(items: list, maximum: int, what: str) -> None:
    """A list that is a set: 1 to `maximum` items in strictly increasing order (of their bytes)."""
    if not 1 <= len(items) <= maximum:
        raise FormatError(f"{what} lists 1 to {maximum} items, not {len(items)}")
    if any(a >= b for a, b in zip(items, items[1:])):
        raise FormatError(f"{what} are not in strictly increasing order")


def read_vouchers(r: "Reader") -> list[str]:
    count = r.uint(2, "voucher count")
    vouchers = [r.hex(16, "voucher id") for _ in range(count)]
    check_set(vouchers, 1000, "vouchers")
    return vouchers


def rate_text(mantissa: int, scale: int) -> str:
    """A rate's decimal text; refuses a non-canonical rate (§3.2)."""
    if not 0 < mantissa < RATE_MANTISSA_LIMIT or scale > 18 or (scale > 0 and mantissa % 10 == 0):
        raise FormatError(f"rate {mantissa} with {scale} decimals is not canonical")
    digits = str(mantissa).rjust(scale + 1, "0")
    return digits if scale == 0 else f"{digits[:-scale]}.{digits[-scale:]}"


def rate_parts(text: str) -> tuple[int, int]:
    if not isinstance(text, str) or not re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]+)?", text):
        raise FormatError(f"rate {text!r} is not a decimal")
    whole, _, fraction = text.partition(".")
    mantissa, scale = int(whole + fraction), len(fraction)
    if rate_text(mantissa, scale) != text:
        raise FormatError(f"rate {text!r} is not canonical")
    return mantissa, scale


def convert(amount: int, mantissa: int, scale: int, from_decimals: int, to_decimals: int) -> int:
    """A conversion's received amount: amount x rate x 10^to / 10^from, rounded half up (§12.3)."""
    numerator = amount * mantissa * 10**to_decimals
    denominator = 10 ** (scale + from_decimals)
    quotient, remainder = divmod(numerator, denominator)
    return quotient + 1 if 2 * remainder >= denominator else quotient


def decode_payload(payload: bytes) -> dict:
    """Decodes a payload strictly into its JSON view."""
    r = Reader(payload)
    version = r.u8("format version")
    if not 1 <= version <= FORMAT_VERSION:
        raise FormatError(f"format version {version} is not implemented")
    code = r.u8("entry kind")
    if code not in KINDS:
        raise FormatError(f"entry kind code {code} is not defined")
    if kind_version(code) != version:
        raise FormatError(f"a kind-{code} entry carries version {kind_version(code)}, not {version}")
    kind = KINDS[code]
    entry = {
        "entry_id": r.hex(16, "entry id"),
        "author": r.identifier("author"),
        "timestamp_ms": r.uint(8, "timestamp"),
        "body": read_body(kind, r),
    }
    if r.offset != len(payload):
        raise FormatError(f"{len(payload) - r.offset} byte(s) after the last field")
    return entry


# ---------------------------------------------------------------------------------------------------------
# Encoding the JSON view (§10) back into bytes (§2, §4)
# ---------------------------------------------------------------------------------------------------------


class Writer:
    def __init__(self):
        self.out = bytearray()

    def uint(self, value: int, size: int):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** (8 * size):
            raise FormatError(f"{value!r} is not an unsigned {8 * size}-bit integer")
        self.out += value.to_bytes(size, "big")

    def raw(self, data: bytes):
        self.out += data

    def string(self, value: str, length_size: int):
        if not isinstance(value, str):
            raise FormatError(f"{value!r} is not a string")
        data = value.encode("utf-8")
        self.uint(len(data), length_size)
        self.raw(data)

    def identifier(self, value, what):
        check_identifier(value, what)
        self.string(value, 1)

    def asset(self, value):
        check_asset_code(value)
        self.string(value, 1)

    def country(self, value):
        check_country(value)
        self.raw(value.encode("ascii"))

    def text(self, value, length_size, maximum, may_be_empty, what):
        if not isinstance(value, str):
            raise FormatError(f"{what} is not a string")
        check_text(value, maximum, may_be_empty, what)
        self.string(value, length_size)

    def option(self, value, write):
        if value is None:
            self.uint(0, 1)
        else:
            self.uint(1, 1)
            write(value)

    def enum(self, table, name, what):
        self.uint(code_of(table, name, what), 1)


def single(value: dict, alternatives: tuple[str, ...], what: str) -> tuple[str, object]:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in alternatives:
        raise FormatError(f"{what} {value!r} is not one of {alternatives}")
    return next(iter(value.items()))


BODY_FIELDS = {
    "genesis": ["origin", "operator", "operator_key"],
    "operator_key_rotation": ["new_key"],
    "register_organisation": [
        "organisation", "role", "name", "country", "iati_identifier", "attribution_policy", "public_key",
    ],
    "key_rotation": ["organisation", "new_key"],
    "key_revocation": ["organisation", "revoked_key", "replacement_key", "reason"],
    "declare_asset": ["asset", "decimals", "asset_kind"],
    "declare_programme": ["programme", "name", "countries", "sector", "iati_identifier"],
    "donation": ["donor", "asset", "amount", "value_date", "earmark", "external_reference"],
    "transfer": ["to", "asset", "amount", "value_date", "programme", "purpose"],
    "acknowledgement": ["transfer"],
    "spend": ["asset", "amount", "value_date", "category", "recipient", "programme", "evidence", "description"],
    "pledge": ["to", "asset", "amount", "value_date", "verifier", "result", "expires_at_ms", "programme"],
    "attestation": ["pledge", "statement", "evidence"],
    "pledge_release": ["pledge"],
    "pledge_void": ["pledge"],
    "reversal": ["target", "reason"],
    "conversion": ["from_asset", "from_amount", "to_asset", "to_amount", "rate", "rate_source", "value_date"],
    "refund": ["donation", "asset", "amount", "value_date", "reason"],
    "accounts_sign_off": ["organisation", "tree_size", "period_start", "period_end", "report", "opinion"],
    "voucher_issue": [
        "programme", "asset", "face_value", "category", "clinics", "vouchers", "value_date", "expires_at_ms",
    ],
    "voucher_redemption": ["voucher", "evidence"],
    "voucher_settlement": ["clinic", "vouchers", "value_date"],
    "voucher_expiry": ["issue"],
    "erasure": ["count", "digest", "reason"],
}
OPTIONAL_FIELDS = {
    "iati_identifier", "replacement_key", "earmark", "external_reference", "programme", "evidence",
}


def encode_entry(entry: dict) -> bytes:
    """Encodes a JSON view into its canonical payload bytes, checking every rule on the way."""
    if not isinstance(entry, dict) or set(entry) != {"entry_id", "author", "timestamp_ms", "body"}:
        raise FormatError("an entry has exactly the members entry_id, author, timestamp_ms and body")
    body = entry["body"]
    if not isinstance(body, dict):
        raise FormatError("body is not an object")
    kind = body.get("kind")
    if kind not in BODY_FIELDS:
        raise FormatError(f"kind {kind!r} is not defined")
    fields = BODY_FIELDS[kind]
    unknown = set(body) - set(fields) - {"kind"}
    if unknown:
        raise FormatError(f"unknown members {sorted(unknown)}")
    missing = [field for field in fields if field not in body and field not in OPTIONAL_FIELDS]
    if missing:
        raise FormatError(f"missing members {missing}")
    b = {field: body.get(field) for field in fields}

    w = Writer()
    w.uint(kind_version(code_of(KINDS, kind, "kind")), 1)
    w.uint(code_of(KINDS, kind, "kind"), 1)
    w.raw(hex_value(entry["entry_id"], 16, "entry id"))
    w.identifier(entry["author"], "author")
    w.uint(entry["timestamp_ms"], 8)
    key = lambda value: w.raw(hex_value(value, 32, "key"))  # noqa: E731
    digest = lambda value: w.raw(hex_value(value, 32, "digest"))  # noqa: E731
    programme = lambda value: w.identifier(value, "programme")  # noqa: E731
    reference = lambda value: w.text(value, 1, 120, False, "reference")  # noqa: E731

    def money():
        w.asset(b["asset"])
        w.uint(amount_value(b["amount"]), 16)
        w.uint(date_days(b["value_date"]), 4)

    if kind == "genesis":
        check_origin(b["origin"])
        w.string(b["origin"], 1)
        w.identifier(b["operator"], "operator")
        key(b["operator_key"])
    elif kind == "operator_key_rotation":
        key(b["new_key"])
    elif kind == "register_organisation":
        w.identifier(b["organisation"], "organisation")
        w.enum(ROLES, b["role"], "role")
        w.text(b["name"], 1, 200, False, "name")
        w.country(b["country"])
        w.option(b["iati_identifier"], reference)
        w.enum(POLICIES, b["attribution_policy"], "attribution policy")
        key(b["public_key"])
    elif kind == "key_rotation":
        w.identifier(b["organisation"], "organisation")
        key(b["new_key"])
    elif kind == "key_revocation":
        w.identifier(b["organisation"], "organisation")
        key(b["revoked_key"])
        w.option(b["replacement_key"], key)
        w.text(b["reason"], 2, 1000, True, "reason")
    elif kind == "declare_asset":
        w.asset(b["asset"])
        if not isinstance(b["decimals"], int) or not 0 <= b["decimals"] <= 18:
            raise FormatError("decimals is not 0 to 18")
        w.uint(b["decimals"], 1)
        w.enum(ASSET_KINDS, b["asset_kind"], "asset kind")
    elif kind == "declare_programme":
        w.identifier(b["programme"], "programme")
        w.text(b["name"], 1, 200, False, "name")
        countries = b["countries"]
        if not isinstance(countries, list) or not 1 <= len(countries) <= 50:
            raise FormatError("countries is not a list of 1 to 50 countries")
        if any(a >= b_ for a, b_ in zip(countries, countries[1:])):
            raise FormatError("countries are not in strictly increasing order")
        w.uint(len(countries), 1)
        for country in countries:
            w.country(country)
        check_sector(b["sector"])
        w.string(b["sector"], 1)
        w.option(b["iati_identifier"], reference)
    elif kind == "donation":
        alternative, value = single(b["donor"], ("organisation", "anonymous"), "donor")
        if alternative == "organisation":
            w.uint(1, 1)
            w.identifier(value, "donor")
        else:
            w.uint(2, 1)
            w.raw(hex_value(value, 32, "donor reference"))
        money()

        def earmark(value):
            alternative, inner = single(value, ("programme", "country", "clinic"), "earmark")
            if alternative == "programme":
                w.uint(1, 1)
                w.identifier(inner, "earmark programme")
            elif alternative == "country":
                w.uint(2, 1)
                w.country(inner)
            else:
                w.uint(3, 1)
                w.identifier(inner, "earmark clinic")

        w.option(b["earmark"], earmark)
        w.option(b["external_reference"], reference)
    elif kind == "transfer":
        w.identifier(b["to"], "receiver")
        money()
        w.option(b["programme"], programme)
        w.text(b["purpose"], 2, 1000, True, "purpose")
    elif kind == "acknowledgement":
        w.raw(hex_value(b["transfer"], 16, "transfer id"))
    elif kind == "spend":
        money()
        w.enum(CATEGORIES, b["category"], "category")
        alternative, value = single(b["recipient"], ("beneficiary", "supplier"), "recipient")
        if alternative == "beneficiary":
            w.uint(1, 1)
            w.raw(hex_value(value, 32, "beneficiary commitment"))
        else:
            w.uint(2, 1)
            w.identifier(value, "supplier")
        w.option(b["programme"], programme)
        w.option(b["evidence"], digest)
        w.text(b["description"], 2, 1000, True, "description")
    elif kind == "pledge":
        w.identifier(b["to"], "receiver")
        money()
        w.identifier(b["verifier"], "verifier")
        w.text(b["result"], 2, 1000, False, "stated result")
        w.uint(b["expires_at_ms"], 8)
        w.option(b["programme"], programme)
    elif kind == "attestation":
        w.raw(hex_value(b["pledge"], 16, "pledge id"))
        w.text(b["statement"], 2, 1000, True, "statement")
        w.option(b["evidence"], digest)
    elif kind in ("pledge_release", "pledge_void"):
        w.raw(hex_value(b["pledge"], 16, "pledge id"))
    elif kind == "reversal":
        w.raw(hex_value(b["target"], 16, "target id"))
        w.text(b["reason"], 2, 1000, False, "reason")
    elif kind == "conversion":
        w.asset(b["from_asset"])
        w.uint(amount_value(b["from_amount"]), 16)
        w.asset(b["to_asset"])
        w.uint(amount_value(b["to_amount"]), 16)
        mantissa, scale = rate_parts(b["rate"])
        w.uint(mantissa, 8)
        w.uint(scale, 1)
        w.text(b["rate_source"], 1, 200, False, "rate source")
        w.uint(date_days(b["value_date"]), 4)
    elif kind == "refund":
        w.raw(hex_value(b["donation"], 16, "donation id"))
        money()
        w.text(b["reason"], 2, 1000, False, "reason")
    elif kind == "accounts_sign_off":
        w.identifier(b["organisation"], "organisation")
        w.uint(b["tree_size"], 8)
        start, end = date_days(b["period_start"]), date_days(b["period_end"])
        if start > end:
            raise FormatError("the period starts after it ends")
        w.uint(start, 4)
        w.uint(end, 4)
        digest(b["report"])
        w.text(b["opinion"], 2, 1000, False, "opinion")
    elif kind == "voucher_issue":
        programme(b["programme"])
        w.asset(b["asset"])
        w.uint(amount_value(b["face_value"]), 16)
        w.enum(CATEGORIES, b["category"], "category")
        check_set(b["clinics"], 32, "clinics")
        w.uint(len(b["clinics"]), 1)
        for clinic in b["clinics"]:
            w.identifier(clinic, "clinic")
        write_vouchers(w, b["vouchers"])
        w.uint(date_days(b["value_date"]), 4)
        w.uint(b["expires_at_ms"], 8)
    elif kind == "voucher_redemption":
        w.raw(hex_value(b["voucher"], 16, "voucher id"))
        w.option(b["evidence"], digest)
    elif kind == "voucher_settlement":
        w.identifier(b["clinic"], "clinic")
        write_vouchers(w, b["vouchers"])
        w.uint(date_days(b["value_date"]), 4)
    elif kind == "voucher_expiry":
        w.raw(hex_value(b["issue"], 16, "issue id"))
    elif kind == "erasure":
        count = b["count"]
        if type(count) is not int or not 1 <= count <= 0xFFFFFFFF:
            raise FormatError("an erasure count is a number from 1 to 2^32 - 1")
        w.uint(count, 4)
        w.raw(hex_value(b["digest"], 32, "erasure digest"))
        w.enum(ERASURE_REASONS, b["reason"], "erasure reason")
    return bytes(w.out)


def write_vouchers(w: Writer, vouchers: list) -> None:
    if not isinstance(vouchers, list):
        raise FormatError("vouchers is not a list")
    check_set(vouchers, 1000, "vouchers")
    w.uint(len(vouchers), 2)
    for voucher in vouchers:
        w.raw(hex_value(voucher, 16, "voucher id"))


# ---------------------------------------------------------------------------------------------------------
# Signed entries (§5, §6) and the Merkle tree (§7)
# ---------------------------------------------------------------------------------------------------------


def signed_message(origin: str, payload: bytes) -> bytes:
    data = origin.encode("ascii")
    return ENTRY_DOMAIN + bytes([len(data)]) + data + payload


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(merkle_root(hashes[:k]), merkle_root(hashes[k:]))


def verify_leaf(leaf: bytes, origin: str) -> dict:
    """Decodes and verifies one signed entry; the result says why it was refused, if it was."""
    result: dict = {"ok": False, "error": None, "leaf_hash": leaf_hash(leaf).hex()}
    try:
        if len(leaf) > ENTRY_BYTES_MAX:
            raise FormatError(f"the leaf is {len(leaf)} bytes, more than {ENTRY_BYTES_MAX}")
        if len(leaf) < LEAF_OVERHEAD:
            raise FormatError("the leaf is shorter than its fixed parts")
        payload_length = int.from_bytes(leaf[:2], "big")
        if len(leaf) != payload_length + LEAF_OVERHEAD:
            raise FormatError(f"the leaf is {len(leaf)} bytes; its payload length says {payload_length + LEAF_OVERHEAD}")
        payload = leaf[2 : 2 + payload_length]
        signer = leaf[2 + payload_length : 2 + payload_length + 32]
        signature = leaf[2 + payload_length + 32 :]
        entry = decode_payload(payload)
        result["kind"] = entry["body"]["kind"]
        result["entry_id"] = entry["entry_id"]
        result["entry"] = entry
        result["signer"] = signer.hex()
        # The JSON view is lossless: encoding it again gives exactly the payload.
        again = encode_entry(json.loads(json.dumps(entry)))
        if again != payload:
            raise FormatError("re-encoding the decoded entry does not give back the payload")
        if entry["body"]["kind"] == "genesis" and entry["body"]["origin"] != origin:
            raise FormatError(f"origin mismatch: the genesis entry names {entry['body']['origin']!r}")
        problem = verify_strict(signer, signed_message(origin, payload), signature)
        if problem:
            raise FormatError(problem)
        result["ok"] = True
    except FormatError as error:
        result["error"] = str(error)
    return result


# ---------------------------------------------------------------------------------------------------------
# Entry bundles (§9) and checkpoints (§8)
# ---------------------------------------------------------------------------------------------------------


def parse_entry_bundle(bundle: bytes) -> list[bytes]:
    leaves, offset = [], 0
    while offset < len(bundle):
        if len(leaves) == 256:
            raise FormatError("an entry bundle holds at most 256 entries")
        if offset + 2 > len(bundle):
            raise FormatError("the bundle ends inside a length")
        length = int.from_bytes(bundle[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(bundle):
            raise FormatError("the bundle ends inside an entry")
        leaves.append(bundle[offset : offset + length])
        offset += length
    return leaves


def strict_base64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        raise FormatError(f"{text!r} is not padded base64")
    data = base64.b64decode(text, validate=True)
    if base64.b64encode(data).decode() != text:
        raise FormatError(f"{text!r} is not canonical base64")
    return data


def verify_checkpoint(note: str, verifier_key: str) -> dict:
    """Verifies a signed checkpoint against a verifier key; returns its origin, size and root."""
    name, key_id_hex, key_base64 = verifier_key.split("+", 2)
    if not name or any(character.isspace() for character in name) or not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
        raise FormatError("the verifier key is not name+hex8+base64")
    typed_key = strict_base64(key_base64)
    if len(typed_key) != 33 or typed_key[0] != 0x01:
        raise FormatError("the verifier key is not an Ed25519 key")
    public_key = typed_key[1:]
    key_id = hashlib.sha256(name.encode() + b"\n" + typed_key).digest()[:4]
    if key_id.hex() != key_id_hex:
        raise FormatError("the verifier key's key id does not match its name and key")
    if any(ord(character) < 0x20 and character != "\n" for character in note):
        raise FormatError("the note holds a control character")
    separator = note.rfind("\n\n")
    if separator < 0:
        raise FormatError("the note has no empty line before its signatures")
    text, block = note[: separator + 1], note[separator + 2 :]
    if not block.endswith("\n"):
        raise FormatError("the signature block does not end with a newline")
    verified = False
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise FormatError(f"malformed signature line {line!r}")
        line_name, _, signature_base64 = line[2:].partition(" ")
        signature = strict_base64(signature_base64)
        if line_name != name or signature[:4] != key_id:
            continue
        problem = verify_strict(public_key, text.encode(), signature[4:], key_rules=False)
        if problem:
            raise FormatError(f"checkpoint signature: {problem}")
        verified = True
    if not verified:
        raise FormatError("no signature by the verifier key")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise FormatError("a checkpoint has an origin, a size and a root line, and no empty line")
    if not re.fullmatch(r"0|[1-9][0-9]*", lines[1], re.ASCII) or int(lines[1]) >= 2**64:
        raise FormatError("the tree size is not a decimal u64")
    root = strict_base64(lines[2])
    if len(root) != 32:
        raise FormatError("the root is not 32 bytes")
    return {"origin": lines[0], "tree_size": int(lines[1]), "root": root.hex()}


# ---------------------------------------------------------------------------------------------------------
# Pro-rata attribution (§14.2)
# ---------------------------------------------------------------------------------------------------------


def pro_rata_shares(amount: int, lots: list[int]) -> list[int]:
    """Splits `amount` over eligible lots by largest remainder, ties to the earlier lot (§14.2, step 3)."""
    total = sum(lots)
    if amount > total:
        raise FormatError("the eligible lots hold less than the amount: earmark_violation")
    if total == 0:
        return [0] * len(lots)
    shares = [amount * lot // total for lot in lots]
    remainders = [amount * lot % total for lot in lots]
    left_over = amount - sum(shares)
    order = sorted(range(len(lots)), key=lambda position: (-remainders[position], position))
    for position in order[:left_over]:
        shares[position] += 1
    return shares


# ---------------------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------------------


def run(document: dict) -> dict:
    origin = document["origin"]
    check_origin(origin)
    report: dict = {"origin": origin}
    ok = True

    leaves = [bytes.fromhex(text) for text in document.get("leaves", [])]
    results = []
    for index, leaf in enumerate(leaves):
        result = {"index": index, **verify_leaf(leaf, origin)}
        ok &= result["ok"]
        results.append(result)
    report["leaves"] = results
    root = merkle_root([leaf_hash(leaf) for leaf in leaves]).hex()
    report["tree_size"] = len(leaves)
    report["root"] = root
    report["root_ok"] = None
    if "root" in document:
        report["root_ok"] = root == document["root"]
        ok &= report["root_ok"]

    report["entry_bundle_ok"] = None
    if "entry_bundle" in document:
        try:
            report["entry_bundle_ok"] = parse_entry_bundle(bytes.fromhex(document["entry_bundle"])) == leaves
        except FormatError as error:
            report["entry_bundle_ok"] = False
            report["entry_bundle_error"] = str(error)
        ok &= report["entry_bundle_ok"]

    report["checkpoint_ok"] = None
    if "checkpoint" in document:
        try:
            checkpoint = verify_checkpoint(document["checkpoint"], document["checkpoint_key"])
            report["checkpoint"] = checkpoint
            report["checkpoint_ok"] = checkpoint == {"origin": origin, "tree_size": len(leaves), "root": root}
        except (FormatError, ValueError) as error:
            report["checkpoint_ok"] = False
            report["checkpoint_error"] = str(error)
        ok &= report["checkpoint_ok"]

    others = []
    for position, text in enumerate(document.get("other_leaves", [])):
        result = {"position": position, **verify_leaf(bytes.fromhex(text), origin)}
        ok &= result["ok"]
        others.append(result)
    report["other_leaves"] = others

    if "pro_rata" in document:
        report["pro_rata"] = [
            [str(share) for share in pro_rata_shares(amount_value(case["amount"]), [amount_value(lot) for lot in case["lots"]])]
            for case in document["pro_rata"]
        ]
    report["ok"] = bool(ok)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", help="the JSON input file (see below)")
    arguments = parser.parse_args()
    try:
        with open(arguments.input, encoding="utf-8") as file:
            document = json.load(file)
        report = run(document)
    except (OSError, ValueError, KeyError, binascii.Error, FormatError) as error:
        print(json.dumps({"ok": False, "error": f"cannot read the input: {error}"}))
        return 2
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

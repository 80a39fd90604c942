"""Decoding text the way mail clients do, not the way the labels say.

Mail in the wild is mislabelled: "gb2312" that is really GBK, "iso-8859-1" that is
really windows-1252, raw 8-bit headers with no label at all. Python's codecs take
the label literally and produce silent garbage, so every decode goes through here.
"""

from __future__ import annotations

import codecs
from email.header import decode_header

# Label -> the superset codec real senders actually use (as browsers do, WHATWG Encoding).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cp950": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}

# Tried in order for bytes with no usable label (raw 8-bit headers, unknown charsets).
_GUESSES = ("utf-8", "gb18030", "cp1252")


def codec_for(label: str | None) -> str | None:
    """The codec to decode `label` with, or None when Python knows no such charset."""
    if not label:
        return None
    name = label.strip().strip('"').lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, label: str | None = None) -> str:
    """Decode body or header bytes: the label's superset codec, else a guess; never raises."""
    codec = codec_for(label)
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            # Mislabelled: a better guess beats replacement characters when one decodes cleanly.
            for guess in _GUESSES:
                if guess != codec:
                    try:
                        return data.decode(guess)
                    except UnicodeDecodeError:
                        continue
            return data.decode(codec, errors="replace")
    for guess in _GUESSES:
        try:
            return data.decode(guess)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")  # unreachable: cp1252 fallback decodes nearly all


def decode_header_value(raw: str, fallback_charset: str | None = None) -> str:
    """Decode a raw header value (RFC 2047 encoded words, or raw 8-bit bytes) to text.

    `raw` is the value as stored by the parser (`raw_items()`): 8-bit bytes arrive as
    surrogate escapes, which we turn back into bytes and decode with the body's charset.
    """
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        data = raw.encode("ascii", errors="surrogateescape")
        raw = _decode_8bit(data, fallback_charset)
    try:
        pieces = decode_header(raw)
    except Exception:  # malformed encoded words: show what was sent
        return _unfold(raw)
    out: list[str] = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            out.append(decode_bytes(chunk, "utf-8"))
        else:
            out.append(decode_bytes(chunk, charset))
    return _unfold("".join(out))


def _decode_8bit(data: bytes, fallback_charset: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_bytes(data, fallback_charset)


def _unfold(value: str) -> str:
    return " ".join(value.replace("\r", "").replace("\n", " ").split())

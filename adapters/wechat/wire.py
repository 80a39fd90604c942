"""What arrives at the webhook: signatures, safe-mode decryption, untrusted XML.

wechatpy signs and decrypts; the XML itself is parsed with defusedxml (DTDs and
entities refused) before anything else looks at it, because wechatpy's own
parser (xmltodict on expat) is not hardened against entity tricks.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import WeChatCrypto
from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.utils import WeChatSigner


class BadRequest(Exception):
    """The body cannot be understood: answer 400."""


class Forbidden(Exception):
    """The request is not signed by WeChat (or the signature is stale): answer 403."""


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def check_signature(
    token: str, signature: str, timestamp: str, nonce: str, *extra: str, max_age: float = 0.0
) -> None:
    """Raise Forbidden unless `signature` signs token/timestamp/nonce(/extra) and is fresh."""
    if not (signature and timestamp and nonce):
        raise Forbidden("signature, timestamp or nonce missing")
    expected = sign(token, timestamp, nonce, *extra).encode()
    if not hmac.compare_digest(expected, signature.lower().encode("utf-8", "replace")):
        raise Forbidden("wrong signature")
    if max_age > 0:
        try:
            age = abs(time.time() - int(timestamp))
        except ValueError:
            raise Forbidden("timestamp is not a number") from None
        if age > max_age:
            raise Forbidden(f"stale signature (timestamp {int(age)} s away from our clock)")


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """Parse one `<xml>` document into a dict of its children; BadRequest on anything odd."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, RecursionError) as exc:
        raise BadRequest(f"unparseable XML: {type(exc).__name__}: {exc}") from None
    if root.tag != "xml":
        raise BadRequest(f"unexpected root element <{root.tag[:40]}>")
    return _children(root)


MAX_DEPTH = 8  # WeChat's pushes are two levels deep; deeper is an attack on the recursion below


def _children(element: Element, depth: int = 0) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise BadRequest(f"XML nested deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    for child in element:
        out[child.tag] = _children(child, depth + 1) if len(child) else (child.text or "")
    return out


def decrypt(
    crypto: WeChatCrypto, envelope: Mapping[str, Any], msg_signature: str, timestamp: str, nonce: str,
    *, max_age: float,
) -> str:
    """Safe mode: check msg_signature over the ciphertext, then decrypt it (AES-CBC, app id checked)."""
    encrypted = envelope.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise BadRequest("safe-mode message without <Encrypt>")
    check_signature(crypto.token, msg_signature, timestamp, nonce, encrypted, max_age=max_age)
    try:
        return str(crypto.decrypt_message(dict(envelope), msg_signature, timestamp, nonce))
    except Exception as exc:  # wechatpy raises bare errors for bad base64, padding, app id
        raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from None


def message(fields: Mapping[str, Any]) -> BaseMessage:
    """wechatpy's typed view of a parsed message (same dispatch as wechatpy.parse_message)."""
    data = dict(fields)
    msg_type = str(data.get("MsgType") or "").lower()
    if not msg_type or not data.get("FromUserName") or not str(data.get("CreateTime") or "").isdigit():
        raise BadRequest("message lacks MsgType, FromUserName or CreateTime")
    if msg_type != "event":
        return MESSAGE_TYPES.get(msg_type, UnknownMessage)(data)
    event = str(data.get("Event") or "").lower()
    key = str(data.get("EventKey") or "")
    if event == "subscribe" and key.startswith("qrscene_"):
        event = "subscribe_scan"  # scanned a parametric QR code to subscribe; scene kept in EventKey
    return EVENT_TYPES.get(event, UnknownMessage)(data)

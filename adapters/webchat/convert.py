"""A visitor's request -> `Inbound`: the body read within the limits, then checked field by field."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from tpbridge.adapters import json_input
from tpbridge.adapters.base import MAX_EMAIL, Inbound, InboundAttachment, Sender
from tpbridge.adapters.uploads import Limits, UploadRefused, read_multipart

from .identity import MAX_IDENTIFIER, NotVerified, Profile, verify
from .settings import WebchatSettings

FORM_FIELDS = ("text", "client_id", "name", "email", "language", "identifier", "identifier_hash", "tier")


class Invalid(Exception):
    """The visitor sent something we cannot store: answered with this status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class Posted:
    """What a visitor posted, before it is checked."""

    fields: dict[str, Any]
    attachments: tuple[InboundAttachment, ...] = ()


def language(request: web.Request) -> str | None:
    header = request.headers.get("Accept-Language", "")
    first = header.split(",")[0].split(";")[0].strip().lower()
    return first.split("-")[0] or None


async def read_posted(request: web.Request, s: WebchatSettings, spool: Path | None = None) -> Posted:
    """JSON `{"text", "client_id"?, "name"?, "email"?}` or multipart with the same fields and a `file`."""
    if request.content_type == "application/json":
        raw = await request.read()
        if len(raw) > s.max_text_bytes + 4096:
            raise Invalid(413, "too_large", f"text over {s.max_text_bytes} bytes")
        try:
            body = json_input.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise Invalid(400, "bad_json", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Invalid(400, "bad_json", "the body must be a JSON object")
        return Posted(body)
    if request.content_type == "multipart/form-data":
        fields: dict[str, Any] = {}

        async def field(name: str, part: BodyPartReader) -> None:
            if name in FORM_FIELDS:
                raw_field = await part.read_chunk(s.max_text_bytes + 4096)
                if await part.read_chunk():
                    raise Invalid(413, "too_large", f"{name} over {s.max_text_bytes} bytes")
                fields[name] = raw_field.decode("utf-8", "replace")

        limits = Limits(s.max_attachment_bytes, s.max_files, s.max_total_bytes or 4 * s.max_attachment_bytes)
        try:
            files = await read_multipart(await request.multipart(), limits, spool or Path(tempfile.gettempdir()), field)
        except UploadRefused as exc:
            raise Invalid(exc.status, exc.code, exc.message) from None
        except ValueError as exc:  # no boundary, a broken header
            raise Invalid(400, "bad_multipart", f"the multipart body cannot be read: {exc}") from None
        atts = tuple(InboundAttachment("image" if f.mime.startswith("image/") else "file", f.mime, b"", f.filename,
                                       path=f.path) for f in files)
        return Posted(fields, atts)
    raise Invalid(415, "unsupported_media_type", "send application/json or multipart/form-data")


def _optional(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(400, "bad_request", f"{key} must be a string of at most {limit} characters")
    return value


def verified_profile(body: dict[str, Any], secret: str | None) -> Profile:
    """The app's user from `POST /api/visitor`, or Invalid: 401 when the hash is wrong."""
    identifier, given = body.get("identifier"), body.get("identifier_hash")
    if not isinstance(identifier, str) or not identifier or len(identifier) > MAX_IDENTIFIER:
        raise Invalid(400, "bad_request", f"identifier must be a string of 1 to {MAX_IDENTIFIER} characters")
    if not isinstance(given, str):
        raise Invalid(401, "unauthorized", "identifier_hash is required with identifier")
    if not secret:
        raise Invalid(401, "unauthorized", "this chat takes no identified users (no identity_secret configured)")
    try:
        verify(secret, identifier, given)
    except NotVerified as exc:
        raise Invalid(401, "unauthorized", str(exc)) from None
    email = _optional(body, "email", MAX_EMAIL)
    if email is not None and "@" not in email:
        raise Invalid(400, "bad_request", "email must be an email address")
    return Profile(identifier, _optional(body, "name", 200), email, _optional(body, "tier", 32))


def chosen_language(value: object) -> str | None:
    """The language the visitor picked on the page (`zh-Hans`, `en`, ...), if any; `zh-Hans` is `zh` to the desk."""
    if not isinstance(value, str) or not value or len(value) > 16 or not value.replace("-", "").isalnum():
        return None
    return "zh" if value.lower() in ("zh-hans", "zh-cn") else value


def to_inbound(inbox: str, visitor: str, posted: Posted, s: WebchatSettings, lang: str | None,
               profile: Profile | None = None) -> Inbound:
    """Check the posted fields; the `client_id` makes a retried post the same record (the dedupe key).

    A verified user's name and email come from their app (`profile`), not from the page.
    """
    body = posted.fields
    text = body.get("text", "")
    if not isinstance(text, str):
        raise Invalid(400, "bad_request", "text must be a string")
    if len(text.encode()) > s.max_text_bytes:
        raise Invalid(413, "too_large", f"text over {s.max_text_bytes} bytes")
    if not text.strip() and not posted.attachments:
        raise Invalid(422, "invalid", "a message needs text or a file")
    client_id = body.get("client_id") or uuid.uuid4().hex
    if not isinstance(client_id, str) or len(client_id) > 64:
        raise Invalid(400, "bad_request", "client_id must be a string of at most 64 characters")
    name, email = body.get("name"), body.get("email")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise Invalid(400, "bad_request", "name must be a string of at most 200 characters")
    if email is not None and (not isinstance(email, str) or len(email) > MAX_EMAIL or "@" not in email):
        raise Invalid(400, "bad_request", "email must be an email address")
    extra: dict[str, Any] = {"visitor_email": email} if email else {}
    chosen = chosen_language(body.get("language"))
    if chosen:
        extra["chosen_language"] = chosen  # picked on the page: it wins over detection (templates, routing)
    if profile is not None:
        name, email = profile.name or name, profile.email or email
        extra["profile"] = {"identifier": profile.identifier, "name": profile.name, "email": profile.email,
                            "tier": profile.tier, "verified": True}
    return Inbound(
        inbox=inbox, external_id=f"{visitor}:{client_id}",
        sender=Sender(visitor, name=name or None, handle=email or (profile.identifier if profile else None),
                      language=chosen or lang),
        text=text, sent_at=datetime.now(UTC), attachments=posted.attachments, extra=extra,
    )


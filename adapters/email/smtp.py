"""Hand one message to the SMTP server and turn its answer into Retry / Rejected / BadCredentials."""

from __future__ import annotations

import re
import ssl
from email.message import EmailMessage

import aiosmtplib
from tpbridge.adapters.base import BadCredentials, Rejected, Retry

from .settings import EmailSettings

_BAD_ADDRESS = re.compile(r"\b5\.1\.(?:[0-3]|10)\b")  # RFC 3463: the mailbox/address does not exist


async def deliver(msg: EmailMessage, settings: EmailSettings, tls: ssl.SSLContext, sender: str, recipient: str) -> None:
    """Send `msg` to `recipient`; 4xx and network trouble -> Retry, 5xx -> Rejected(server text)."""
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        # aiosmtplib does not infer implicit TLS from port 465, and by default upgrades with
        # STARTTLS whenever the server offers it: both are spelled out from the setting.
        use_tls=settings.smtp_tls == "implicit",
        start_tls=settings.smtp_tls == "starttls",
        tls_context=tls if settings.smtp_tls != "none" else None,
        timeout=settings.timeout,
    )
    try:
        await client.connect()
        user = settings.smtp_username or settings.username
        password = settings.smtp_password or settings.password
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # after STARTTLS the extensions are forgotten until the next EHLO
        if user and password and client.supports_extension("auth"):
            await client.login(user, password)
        await client.send_message(msg, sender=sender, recipients=[recipient])
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise BadCredentials(f"SMTP login refused: {exc.code} {exc.message}") from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        worst = max(exc.recipients, key=lambda r: r.code)
        raise _from_reply(worst.code, worst.message) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise _from_reply(exc.code, exc.message) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise Retry(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {exc}") from None
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


def _from_reply(code: int, message: str) -> Retry | Rejected:
    text = f"{code} {' '.join(str(message).split())}"
    if 400 <= code < 500 or code < 200:
        return Retry(text)
    return Rejected(
        text, unreachable=bool(_BAD_ADDRESS.search(text)) or (code in (550, 551, 553) and "5.7" not in text)
    )

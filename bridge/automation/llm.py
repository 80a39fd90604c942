"""Optional language model (`[automation.llm]`, off by default): reply drafts and the handoff summary.

Any OpenAI-compatible endpoint (a local vLLM or Ollama server) through `POST {base_url}/chat/completions`.
Nothing is ever sent to the customer by it: a draft is stored on the conversation
(`attrs.draft`) for an agent to accept or edit, the summary goes into the private handoff note.
Before anything leaves, seed phrases, private keys and card numbers are masked. When it is off,
no request is made at all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

if TYPE_CHECKING:
    from tpbridge.bridge.automation.settings import LlmSettings

log = structlog.get_logger(__name__)

# 12 to 24 short lowercase words in a row: the shape of a BIP-39 recovery phrase.
_SEED = re.compile(r"\b(?:[a-z]{3,8}[\s,]+){11,23}[a-z]{3,8}\b")
_HEX_KEY = re.compile(r"\b(?:0x)?[0-9a-fA-F]{64}\b")
_WIF = re.compile(r"\b[5KL][1-9A-HJ-NP-Za-km-z]{50,51}\b")
_XPRV = re.compile(r"\b[xyzt]prv[1-9A-HJ-NP-Za-km-z]{100,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def mask(text: str) -> str:
    """The text with secrets replaced: what may leave the machine."""
    text = _XPRV.sub("[private key]", text)
    text = _WIF.sub("[private key]", text)
    text = _HEX_KEY.sub(lambda m: "[private key]" if len(m.group(0).removeprefix("0x")) == 64 else m.group(0), text)
    text = _SEED.sub("[seed phrase]", text)

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return "[card number]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)

    return _CARD.sub(card, text)


class LlmClient:
    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings

    async def complete(self, system: str, user: str) -> str | None:
        """One chat completion of masked text; None on any failure (logged), never an exception."""
        s = self.settings
        if not s.enabled:
            return None
        body: dict[str, Any] = {"model": s.model, "temperature": 0.2, "messages": [
            {"role": "system", "content": system}, {"role": "user", "content": mask(user)}]}
        headers = {"Authorization": f"Bearer {s.api_key}"} if s.api_key else {}
        url = s.base_url.rstrip("/") + "/chat/completions"
        try:
            timeout = aiohttp.ClientTimeout(total=s.timeout_seconds)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(url, json=body,
                                                                                  headers=headers) as resp:
                if resp.status >= 300:
                    log.warning("llm.failed", status=resp.status)
                    return None
                data = await resp.json(content_type=None)
            text = data["choices"][0]["message"]["content"]
            return str(text).strip() or None
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
            log.warning("llm.failed", error=f"{type(exc).__name__}: {exc}"[:200])
            return None

    async def summary(self, questions: list[str], language: str | None) -> str | None:
        if not self.settings.summaries:
            return None
        return await self.complete(
            "You summarise a customer's support request for the agent who takes it over: one or two short "
            "sentences in English, facts only (what happened, amounts, order or transaction ids).",
            "\n".join(f"- {q}" for q in questions if q.strip()))

    async def draft(self, questions: list[str], language: str | None, category: str | None) -> str | None:
        if not self.settings.drafts:
            return None
        return await self.complete(
            f"You draft a reply for a support agent of a crypto wallet to review before sending. Write in the "
            f"customer's language ({language or 'their language'}), briefly and politely. Never ask for a seed "
            f"phrase, private key, password or verification code. The matter is: {category or 'unknown'}.",
            "\n".join(q for q in questions if q.strip()))

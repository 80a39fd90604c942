"""Cut quoted reply history and signatures off the text agents see.

Agents read the customer's new words; the full original stays on the message
(`extra["full_text"]`). When trimming would leave nothing (a mail that is only a
quote, or an answer written inline between quotes), the full text is shown.
"""

from __future__ import annotations

import re

# A line that introduces the quoted history; everything from it down is history.
_ATTRIBUTION = re.compile(
    r"""^\s*(?:
        on\b.{0,200}\bwrote:?                      # Gmail, Apple Mail, Thunderbird
      | .{0,200}\bwrote:$
      | le\b.{0,200}\ba\s+[ée]crit\s*:             # French
      | am\b.{0,200}\bschrieb.{0,40}:              # German
      | el\b.{0,200}\bescribi[óo]\s*:              # Spanish
      | 在.{0,200}写道[:：]?                        # Chinese (Foxmail, QQ Mail, Gmail)
      | .{0,200}於.{0,100}寫道[:：]?                # Traditional Chinese
      | -{2,}\s*(?:original\s+message|原始邮件|原始郵件|forwarded\s+message)\s*-{2,}
      | _{20,}                                      # Outlook's rule above the header block
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Outlook's header block without a separator: "From: ..." followed by "Sent:"/"Date:" lines.
_OUTLOOK_FROM = re.compile(r"^\s*(?:from|发件人|寄件者|von|de)\s*[:：]\s*\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*(?:sent|date|to|subject|发送时间|日期|收件人|主题|gesendet|envoyé)\s*[:：]", re.IGNORECASE
)
# Signature starts: the RFC 3676 delimiter "-- ", and mobile client footers.
_SIGNATURE = re.compile(
    r"^(?:--\s?|sent from my .{1,60}|get outlook for .{1,40}|发自我的.{1,30}|从我的.{1,30}发送|"
    r"envoyé de mon .{1,40}|von meinem .{1,40} gesendet)$",
    re.IGNORECASE,
)


def trim_reply(text: str) -> str:
    """The new part of a reply: history and signature removed, or `text` when nothing is left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _ATTRIBUTION.match(stripped) or (_SIGNATURE.match(line.rstrip("\n")) and i > 0):
            cut = i
            break
        # "On Tue, 3 Jan 2023, Ann <a@b.c>" wrapped onto the next line before "wrote:"
        if i + 1 < len(lines) and stripped.lower().startswith("on ") and lines[i + 1].strip().endswith("wrote:"):
            cut = i
            break
        if _OUTLOOK_FROM.match(stripped) and i + 1 < len(lines) and _OUTLOOK_NEXT.match(lines[i + 1]):
            cut = i
            break
    kept = lines[:cut]
    # A quote block that runs to the end (no attribution line) is history too.
    end = len(kept)
    while end > 0 and (kept[end - 1].lstrip().startswith(">") or not kept[end - 1].strip()):
        end -= 1
    kept = kept[:end]
    result = "\n".join(kept).strip()
    return result if result else text.strip()

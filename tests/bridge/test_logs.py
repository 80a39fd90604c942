"""Log format follows where stdout goes: JSON lines for machines, readable lines on a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SNIPPET = (
    "from tpbridge.bridge import logs; import structlog; logs.setup('info', 'auto'); "
    "structlog.get_logger('t').info('reply.sent', inbox='telegram.main', conversation_id=7, "
    "token='123456:SECRET', url='https://api.telegram.org/bot123456:AAAAAAAAAAAAAAAAAAAAAAAAAAAA/getMe')"
)


def test_json_lines_when_not_a_tty_and_secrets_redacted() -> None:
    out = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True, timeout=60).stdout
    event = json.loads(out.strip())
    assert event["event"] == "reply.sent" and event["conversation_id"] == 7 and event["inbox"] == "telegram.main"
    assert event["token"] == "[redacted]"
    assert "AAAAAAAA" not in out and "SECRET" not in out


def test_readable_lines_on_a_tty() -> None:
    main, child = os.openpty()
    proc = subprocess.Popen([sys.executable, "-c", SNIPPET], stdout=child, stderr=child)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(main)
    text = b"".join(chunks).decode(errors="replace")
    assert "reply.sent" in text and "conversation_id" in text
    assert not text.strip().startswith("{")  # not JSON
    assert "SECRET" not in text

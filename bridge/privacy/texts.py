"""What the in-channel privacy commands say, in Chinese and English (the person's language, else English)."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "confirm_mydata": {
        "en": "You asked for a copy of everything we keep about you (messages, files, the accounts you wrote "
              "from, survey answers). Reply YES within {minutes} minutes to receive it; anything else cancels.",
        "zh": "您请求获取我们保存的关于您的全部数据（消息、文件、您使用过的账号、满意度评价）。"
              "请在 {minutes} 分钟内回复“确认”以接收；回复其他内容将取消。",
    },
    "confirm_forget": {
        "en": "You asked us to erase everything we keep about you, on every channel you wrote from: messages, "
              "files and accounts. This cannot be undone. Reply YES within {minutes} minutes to erase it; "
              "anything else cancels.",
        "zh": "您请求删除我们在所有渠道上保存的关于您的全部数据：消息、文件和账号。此操作无法撤销。"
              "请在 {minutes} 分钟内回复“确认”以删除；回复其他内容将取消。",
    },
    "cancelled": {
        "en": "Cancelled: nothing was done.",
        "zh": "已取消，未做任何操作。",
    },
    "export_attached": {
        "en": "Here is everything we keep about you (a ZIP file: data.json and your files).",
        "zh": "这是我们保存的关于您的全部数据（ZIP 文件：data.json 和您的文件）。",
    },
    "export_link": {
        "en": "Here is everything we keep about you, as a ZIP file: {url}\nThe link works for {minutes} minutes.",
        "zh": "这是我们保存的关于您的全部数据（ZIP 文件）：{url}\n链接 {minutes} 分钟内有效。",
    },
    "forgotten": {
        "en": "Done: everything we kept about you is being erased now, on every channel. This is our last "
              "message; if you write again, we start from nothing.",
        "zh": "完成：我们正在删除所有渠道上关于您的全部数据。这是我们的最后一条消息；如果您再次联系我们，将从头开始。",
    },
}

YES = {"yes", "y", "ok", "confirm", "是", "是的", "确认", "好", "好的", "确定", "对"}


def text(key: str, language: str | None, **values: object) -> str:
    found = TEXTS[key]
    return found.get((language or "en").split("-")[0], found["en"]).format(**values)

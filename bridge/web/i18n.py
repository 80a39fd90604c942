"""The inbox web app's words in Chinese and English: the agent's setting wins, else Accept-Language."""

from __future__ import annotations

from aiohttp import web
from tpbridge.bridge.model import Agent

LANGUAGES = ("en", "zh")
DEFAULT = "en"

STRINGS: dict[str, dict[str, str]] = {
    "app_name": {"en": "tpbridge inbox", "zh": "tpbridge 收件箱"},
    "login_title": {"en": "Sign in", "zh": "登录"},
    "email": {"en": "Email", "zh": "邮箱"},
    "password": {"en": "Password", "zh": "密码"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出登录"},
    "login_failed": {"en": "Wrong email or password.", "zh": "邮箱或密码错误。"},
    "login_throttled": {"en": "Too many failed attempts. Try again in {seconds} s.",
                        "zh": "失败次数过多，请 {seconds} 秒后再试。"},
    "csrf_failed": {"en": "The form expired; please try again.", "zh": "表单已过期，请重试。"},
    "inbox": {"en": "Inbox", "zh": "收件箱"},
    "search": {"en": "Search messages…", "zh": "搜索消息…"},
    "status": {"en": "Status", "zh": "状态"},
    "all": {"en": "All", "zh": "全部"},
    "open": {"en": "Open", "zh": "待处理"},
    "pending": {"en": "Pending", "zh": "等待中"},
    "snoozed": {"en": "Snoozed", "zh": "已暂停"},
    "resolved": {"en": "Resolved", "zh": "已解决"},
    "channel": {"en": "Channel", "zh": "渠道"},
    "inbox_filter": {"en": "Inbox", "zh": "收件箱"},
    "assignee": {"en": "Assignee", "zh": "负责人"},
    "mine": {"en": "Mine", "zh": "我的"},
    "unassigned": {"en": "Unassigned", "zh": "未分配"},
    "team": {"en": "Team", "zh": "团队"},
    "label": {"en": "Label", "zh": "标签"},
    "labels": {"en": "Labels", "zh": "标签"},
    "category": {"en": "Category", "zh": "分类"},
    "tier": {"en": "Tier", "zh": "等级"},
    "tier_none": {"en": "standard", "zh": "普通"},
    "alert_open": {"en": "Security incident: the on-call is being paged.", "zh": "安全事件：正在通知值班人员。"},
    "alert_ack": {"en": "Acknowledge", "zh": "确认接手"},
    "sla_breached": {"en": "SLA target missed", "zh": "已超出服务时限"},
    "draft": {"en": "Suggested reply (check before sending)", "zh": "建议回复（发送前请检查）"},
    "use_draft": {"en": "Use it", "zh": "使用"},
    "priority": {"en": "Priority", "zh": "优先级"},
    "priority_low": {"en": "Low", "zh": "低"},
    "priority_normal": {"en": "Normal", "zh": "普通"},
    "priority_high": {"en": "High", "zh": "高"},
    "priority_urgent": {"en": "Urgent", "zh": "紧急"},
    "any": {"en": "Any", "zh": "任意"},
    "no_conversations": {"en": "No conversations.", "zh": "没有会话。"},
    "pick_conversation": {"en": "Pick a conversation on the left (j / k).", "zh": "请在左侧选择一个会话（j / k）。"},
    "load_more": {"en": "Load more", "zh": "加载更多"},
    "load_earlier": {"en": "Load earlier messages", "zh": "加载更早的消息"},
    "reply": {"en": "Reply", "zh": "回复"},
    "note": {"en": "Private note", "zh": "内部备注"},
    "send": {"en": "Send", "zh": "发送"},
    "add_note": {"en": "Add note", "zh": "添加备注"},
    "reply_placeholder": {"en": "Write a reply… (/ for canned responses, Ctrl+Enter to send)",
                          "zh": "输入回复…（输入 / 使用快捷回复，Ctrl+Enter 发送）"},
    "note_placeholder": {"en": "A note for your team: never sent to the customer",
                         "zh": "给团队的备注：不会发送给客户"},
    "attach": {"en": "Attach", "zh": "附件"},
    "private_note": {"en": "Private note", "zh": "内部备注"},
    "queued": {"en": "Queued", "zh": "排队中"},
    "sent": {"en": "Sent", "zh": "已发送"},
    "failed": {"en": "Failed", "zh": "发送失败"},
    "assign_agent": {"en": "Agent", "zh": "客服"},
    "assign_team": {"en": "Team", "zh": "团队"},
    "nobody": {"en": "Nobody", "zh": "无"},
    "snooze_until": {"en": "Snooze until", "zh": "暂停至"},
    "snooze": {"en": "Snooze", "zh": "暂停"},
    "resolve": {"en": "Resolve (e)", "zh": "解决 (e)"},
    "reopen": {"en": "Reopen", "zh": "重新打开"},
    "save": {"en": "Save", "zh": "保存"},
    "add": {"en": "Add", "zh": "添加"},
    "delete": {"en": "Delete", "zh": "删除"},
    "contact": {"en": "Contact", "zh": "联系人"},
    "identities": {"en": "On channels", "zh": "渠道身份"},
    "history": {"en": "History on all channels", "zh": "所有渠道的历史"},
    "all_channels": {"en": "Whole history", "zh": "全部历史"},
    "merge": {"en": "Merge another contact in", "zh": "合并其他联系人"},
    "merge_id": {"en": "Contact id", "zh": "联系人编号"},
    "merge_do": {"en": "Merge", "zh": "合并"},
    "unmerge": {"en": "Undo merge", "zh": "撤销合并"},
    "merged_into": {"en": "Merged into contact", "zh": "已合并到联系人"},
    "merged_from": {"en": "Merged contacts", "zh": "已合并的联系人"},
    "public_warning": {"en": "Public thread: your answer is visible to everyone.",
                       "zh": "公开帖子：你的回复所有人可见。"},
    "window_ends": {"en": "Reply window closes at", "zh": "回复窗口关闭于"},
    "window_closed": {"en": "The reply window is closed: the channel will refuse a reply.",
                      "zh": "回复窗口已关闭：渠道将拒绝回复。"},
    "attributes": {"en": "Attributes", "zh": "属性"},
    "admin": {"en": "Admin", "zh": "管理"},
    "agents": {"en": "Agents", "zh": "客服"},
    "teams": {"en": "Teams", "zh": "团队"},
    "canned": {"en": "Canned responses", "zh": "快捷回复"},
    "quarantine": {"en": "Quarantine", "zh": "隔离区"},
    "name": {"en": "Name", "zh": "名称"},
    "role": {"en": "Role", "zh": "角色"},
    "role_admin": {"en": "Admin", "zh": "管理员"},
    "role_agent": {"en": "Agent", "zh": "客服"},
    "disabled": {"en": "Disabled", "zh": "已停用"},
    "inboxes": {"en": "Inboxes", "zh": "收件箱"},
    "comma_separated": {"en": "comma separated", "zh": "用逗号分隔"},
    "shortcut": {"en": "Shortcut", "zh": "快捷词"},
    "text": {"en": "Text", "zh": "内容"},
    "reason": {"en": "Reason", "zh": "原因"},
    "received": {"en": "Received", "zh": "接收时间"},
    "external_id": {"en": "External id", "zh": "外部编号"},
    "size": {"en": "Size", "zh": "大小"},
    "nothing_here": {"en": "Nothing here.", "zh": "暂无内容。"},
    "language": {"en": "Language", "zh": "语言"},
    "lang_auto": {"en": "Browser", "zh": "跟随浏览器"},
    "presence_online": {"en": "Online", "zh": "在线"},
    "presence_away": {"en": "Away", "zh": "离开"},
    "new_message": {"en": "New message", "zh": "新消息"},
    "new_conversation": {"en": "New conversation", "zh": "新建会话"},
    "log_call": {"en": "Log a call", "zh": "记录通话"},
    "callbacks": {"en": "Callbacks", "zh": "回电任务"},
    "to_address": {"en": "To (e-mail, chat id, openid, number)", "zh": "收件人（邮箱、会话 ID、openid、号码）"},
    "contact_id": {"en": "or contact #", "zh": "或联系人编号"},
    "subject": {"en": "Subject", "zh": "主题"},
    "message": {"en": "Message", "zh": "消息"},
    "start": {"en": "Start", "zh": "发起"},
    "cancel": {"en": "Cancel", "zh": "取消"},
    "phone_number": {"en": "Phone number", "zh": "电话号码"},
    "direction": {"en": "Direction", "zh": "方向"},
    "incoming": {"en": "Incoming", "zh": "来电"},
    "outgoing": {"en": "Outgoing", "zh": "去电"},
    "duration_min": {"en": "Duration (minutes)", "zh": "时长（分钟）"},
    "notes": {"en": "Notes", "zh": "备注"},
    "outcome": {"en": "Outcome", "zh": "结果"},
    "outcome_resolved": {"en": "Resolved", "zh": "已解决"},
    "outcome_callback": {"en": "Call back later", "zh": "稍后回电"},
    "outcome_no_answer": {"en": "No answer", "zh": "无人接听"},
    "log": {"en": "Log", "zh": "记录"},
    "no_callbacks": {"en": "No callbacks due.", "zh": "没有待回电任务。"},
    "verified": {"en": "verified", "zh": "已验证"},
    "unverified": {"en": "unverified", "zh": "未验证"},
    "live_off": {"en": "Live updates paused — reconnecting…", "zh": "实时更新已中断，正在重连…"},
    "error": {"en": "Something went wrong", "zh": "出错了"},
    "shortcuts_help": {"en": "j/k next/previous · r reply · Ctrl+Enter send · e resolve",
                       "zh": "j/k 下一个/上一个 · r 回复 · Ctrl+Enter 发送 · e 解决"},
    "back": {"en": "Back", "zh": "返回"},
    "unread": {"en": "unread", "zh": "未读"},
    "password_new": {"en": "New password (optional)", "zh": "新密码（可选）"},
    "forbidden": {"en": "Only an admin may see this page.", "zh": "只有管理员可以查看此页面。"},
    "download": {"en": "Download", "zh": "下载"},
    "bot": {"en": "Bot", "zh": "机器人"},
    "system": {"en": "System", "zh": "系统"},
    "you": {"en": "Agent", "zh": "客服"},
    "audit": {"en": "Audit trail", "zh": "审计日志"},
    "audit_when": {"en": "When", "zh": "时间"},
    "audit_who": {"en": "Who", "zh": "操作人"},
    "audit_action": {"en": "Action", "zh": "操作"},
    "audit_object": {"en": "Object", "zh": "对象"},
    "audit_address": {"en": "Address", "zh": "地址"},
    "audit_detail": {"en": "Detail", "zh": "详情"},
    "audit_filter": {"en": "Filter", "zh": "筛选"},
    "audit_older": {"en": "Older entries", "zh": "更早的记录"},
}


def from_header(header: str) -> str:
    """The first supported language in an Accept-Language header, by q-value."""
    best: tuple[float, str] | None = None
    for part in header.split(","):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower().split("-")[0]
        q = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    q = float(b.strip()[2:])
                except ValueError:
                    q = 0.0
        if tag in LANGUAGES and (best is None or q > best[0]):
            best = (q, tag)
    return best[1] if best else DEFAULT


def language(request: web.Request, agent: Agent | None) -> str:
    if agent is not None and agent.ui_language in LANGUAGES:
        return agent.ui_language
    return from_header(request.headers.get("Accept-Language", ""))


def strings(lang: str) -> dict[str, str]:
    return {key: texts.get(lang) or texts[DEFAULT] for key, texts in STRINGS.items()}

/* The agent inbox: list with filters and search, one conversation, live over /api/v1/events.
 * Plain DOM, no build step. Untrusted text only ever goes through textContent; email HTML only
 * into a sandboxed iframe (no allow-scripts, no allow-same-origin). */
(function () {
  "use strict";
  var api = TPB.api;
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var T = JSON.parse(document.getElementById("i18n").textContent);
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    items: [], cursor: null, selected: boot.conversation_id, conv: null, messages: [],
    agents: [], teams: [], canned: [], history: [], historyMessages: [], mode: "reply", hiddenUnread: 0,
  };
  var baseTitle = document.title;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }
  function channelOf(inbox) { return (inbox || "").split(".")[0]; }
  function badge(channel) { return el("span", "badge ch-" + channel, channel); }
  function fmtTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso), now = new Date();
    var sameDay = d.toDateString() === now.toDateString();
    return sameDay ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
                   : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }
  function contactName(c) {
    if (!c) { return "?"; }
    if (c.name) { return c.name; }
    var ids = c.identities || [];
    return ids.length ? (ids[0].handle || ids[0].external_id) : "#" + c.id;
  }
  /* A failed request is said where the agent looks: beside the reply box when a conversation is open,
     above the list otherwise (click to dismiss). */
  function showError(err) {
    var box = state.conv && !$("conv").hidden ? $("send-error") : $("list-error");
    box.textContent = T.error + ": " + (err && err.message ? err.message : err);
    box.hidden = false;
  }

  /* ------------------------------------------------------------ filters and the list */
  function filters() {
    var p = new URLSearchParams();
    p.set("status", $("f-status").value);
    var assignee = $("f-assignee").value;
    if (assignee !== "all") { p.set("assignee", assignee); }
    [["channel", "f-channel"], ["inbox", "f-inbox"], ["team", "f-team"], ["priority", "f-priority"],
     ["label", "f-label"], ["q", "q"]].forEach(function (pair) {
      var v = $(pair[1]).value.trim();
      if (v) { p.set(pair[0], v); }
    });
    return p;
  }

  var listSeq = 0;
  function loadList(more) {
    var p = filters();
    p.set("limit", "50");
    if (more && state.cursor) { p.set("cursor", state.cursor); }
    var seq = ++listSeq;
    return api("GET", "/api/v1/conversations?" + p.toString()).then(function (page) {
      if (seq !== listSeq) { return; }  // an answer to filters the agent has since changed
      state.items = more ? state.items.concat(page.items) : page.items;
      state.cursor = page.next_cursor;
      renderList();
    }).catch(showError);
  }

  function renderList() {
    var list = $("conv-list");
    list.textContent = "";
    if (!state.items.length) { list.appendChild(el("li", "empty", T.no_conversations)); }
    state.items.forEach(function (c) { list.appendChild(renderItem(c)); });
    $("load-more").hidden = !state.cursor;
  }

  function renderItem(c) {
      var li = el("li", "conv-item");
      li.setAttribute("data-id", c.id);
      if (c.id === state.selected) { li.classList.add("selected"); li.setAttribute("aria-current", "true"); }
      if (c.unread > 0) { li.classList.add("has-unread"); }
      var a = el("a");
      a.href = "/conversations/" + c.id;
      var top = el("div", "row1");
      top.appendChild(badge(c.channel));
      top.appendChild(el("span", "name", contactName(c.contact)));
      if (c.priority === "high" || c.priority === "urgent") {
        top.appendChild(el("span", "prio p-" + c.priority, T["priority_" + c.priority]));
      }
      top.appendChild(el("time", "when", fmtTime(c.last_activity_at)));
      a.appendChild(top);
      var second = el("div", "row2");
      second.appendChild(el("span", "preview", (c.subject ? c.subject + " — " : "") +
        (c.last_message ? c.last_message.text || "" : "")));
      if (c.unread > 0) {
        var u = el("span", "unread", String(c.unread));
        u.title = c.unread + " " + T.unread;
        second.appendChild(u);
      }
      a.appendChild(second);
      var third = el("div", "row3");
      third.appendChild(el("span", "status st-" + c.status, T[c.status] || c.status));
      if (c.assignee) { third.appendChild(el("span", "assignee", "@" + c.assignee.name)); }
      if (c.team) { third.appendChild(el("span", "team", c.team)); }
      (c.labels || []).forEach(function (l) { third.appendChild(el("span", "label", l)); });
      a.appendChild(third);
      a.addEventListener("click", function (ev) {
        if (ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
        ev.preventDefault();
        select(c.id, true);
      });
      li.appendChild(a);
      return li;
  }

  /* Does a conversation belong in the list under the current filters? (A search is a snapshot: while a
     query is typed, rows already shown are updated but no new ones are added.) */
  function matchesFilters(c) {
    var p = filters();
    if (p.get("q")) { return null; }
    var status = p.get("status");
    if (status && status !== "all" && c.status !== status) { return false; }
    var assignee = p.get("assignee");
    if (assignee === "me" && !(c.assignee && c.assignee.id === boot.me.id)) { return false; }
    if (assignee === "unassigned" && c.assignee) { return false; }
    if (p.get("inbox") && c.inbox !== p.get("inbox")) { return false; }
    if (p.get("channel") && c.channel !== p.get("channel")) { return false; }
    if (p.get("team") && c.team !== p.get("team")) { return false; }
    if (p.get("priority") && String(c.priority) !== p.get("priority")) { return false; }
    if (p.get("label") && (c.labels || []).indexOf(p.get("label")) < 0) { return false; }
    return true;
  }

  function newerFirst(a, b) {
    if (a.last_activity_at !== b.last_activity_at) { return a.last_activity_at < b.last_activity_at ? 1 : -1; }
    return b.id - a.id;
  }

  /* Put one conversation where it belongs in the list, touching only its row: rows loaded with "load more"
     stay, and the rest of the list is not re-rendered. */
  function placeItem(conv) {
    var list = $("conv-list");
    var at = -1;
    state.items.forEach(function (c, i) { if (c.id === conv.id) { at = i; } });
    var old = list.querySelector('.conv-item[data-id="' + conv.id + '"]');
    var keep = matchesFilters(conv);
    if (keep === null) { keep = at >= 0; }
    if (at >= 0) { state.items.splice(at, 1); }
    if (old) { old.parentNode.removeChild(old); }
    if (keep) {
      var pos = 0;
      while (pos < state.items.length && newerFirst(state.items[pos], conv) < 0) { pos += 1; }
      // Past the loaded end the row belongs to a page not fetched yet: "load more" will bring it.
      if (pos < state.items.length || !state.cursor) {
        state.items.splice(pos, 0, conv);
        var next = list.querySelector('.conv-item[data-id="' + (state.items[pos + 1] || {}).id + '"]');
        list.insertBefore(renderItem(conv), next);
      }
    }
    var empty = list.querySelector(".empty");
    if (state.items.length && empty) { list.removeChild(empty); }
    if (!state.items.length && !empty) { list.appendChild(el("li", "empty", T.no_conversations)); }
  }

  /* ------------------------------------------------------------ one conversation */
  var labelsDirty = false;
  function select(id, push) {
    state.selected = id;
    labelsDirty = false;
    if (push) { history.pushState({ id: id }, "", "/conversations/" + id); }
    document.body.classList.add("show-conv");
    Array.prototype.forEach.call(document.querySelectorAll(".conv-item"), function (li) {
      var on = Number(li.getAttribute("data-id")) === id;
      li.classList.toggle("selected", on);
      if (on) { li.setAttribute("aria-current", "true"); } else { li.removeAttribute("aria-current"); }
    });
    return loadConversation(true);
  }

  /* A long conversation opens with its newest messages; "load earlier" brings the rest a page at a time. */
  var MESSAGE_PAGE = 200;
  function loadEarlier() {
    var id = state.selected;
    return api("GET", "/api/v1/conversations/" + id + "/messages?limit=" + MESSAGE_PAGE + "&cursor=" + state.earlier)
      .then(function (page) {
        if (id !== state.selected) { return; }
        var list = $("timeline");
        var height = list.scrollHeight;
        state.messages = page.items.concat(state.messages);
        state.earlier = page.next_cursor;
        renderTimeline();
        list.scrollTop = list.scrollHeight - height;  // keep the message the agent was reading in place
      }).catch(showError);
  }

  function loadConversation(markRead) {
    var id = state.selected;
    if (!id) { return Promise.resolve(); }
    return Promise.all([
      api("GET", "/api/v1/conversations/" + id),
      api("GET", "/api/v1/conversations/" + id + "/messages?limit=" + MESSAGE_PAGE),
    ]).then(function (res) {
      if (id !== state.selected) { return; }
      state.conv = res[0];
      state.messages = res[1].items;
      state.earlier = res[1].next_cursor;
      renderConversation();
      renderTimeline();
      loadHistory();
      if (markRead && state.conv.unread > 0) {
        api("POST", "/api/v1/conversations/" + id + "/read").then(patchItem, showError);
      }
    }).catch(function (err) {
      $("conv").hidden = true; $("side-pane").hidden = true;
      $("conv-empty").hidden = false;
      $("conv-empty").textContent = err.status === 404 ? "404" : (T.error + ": " + err.message);
    });
  }

  function patchItem(conv) { placeItem(conv); }

  function renderConversation() {
    var c = state.conv;
    $("conv-empty").hidden = true;
    $("conv").hidden = false;
    $("side-pane").hidden = false;
    var title = $("conv-title");
    title.textContent = "";
    title.appendChild(badge(c.channel));
    title.appendChild(document.createTextNode(" " + contactName(c.contact) + (c.subject ? " — " + c.subject : "")));
    $("conv-meta").textContent = "#" + c.id + " · " + c.inbox + " · " + (T[c.status] || c.status) +
      (c.language ? " · " + c.language : "") + (c.category ? " · " + c.category : "");
    $("resolve").textContent = c.status === "resolved" ? T.reopen : T.resolve;
    renderWarnings(c);
    renderSide(c);
  }

  /* Only the conversation's fields changed (status, assignee, ...): the timeline stays as it is. */
  function refreshConversationMeta() {
    var id = state.selected;
    return api("GET", "/api/v1/conversations/" + id).then(function (conv) {
      if (id !== state.selected) { return; }
      state.conv = conv;
      renderConversation();
    }).catch(function (err) { showError(err); loadConversation(false); });
  }

  /* The category, who decided it and why; an agent's choice is kept (and learned from). */
  function renderCategory(c) {
    var sel = $("s-category");
    var cls = (c.attrs || {}).classification || {};
    function fill(items) {
      sel.textContent = "";
      sel.appendChild(option("", "—", !c.category));
      if (c.category && items.indexOf(c.category) < 0) { items = items.concat([c.category]); }
      items.forEach(function (name) { sel.appendChild(option(name, name, c.category === name)); });
    }
    if (state.categories) { fill(state.categories); } else {
      api("GET", "/api/v1/categories").then(function (body) {
        state.categories = body.items; fill(body.items);
      }).catch(function () { fill(c.category ? [c.category] : []); });
    }
    $("category-why").textContent = cls.reason ?
      cls.reason + (cls.by === "model" ? " · " + Math.round(cls.confidence * 100) + "%" : "") : "";
    $("s-tier").value = (c.contact && c.contact.tier) || "";
  }

  function renderWarnings(c) {
    var box = $("warnings");
    box.textContent = "";
    var attrs = c.attrs || {};
    if (c["public"]) { box.appendChild(el("p", "warn public-warning", T.public_warning)); }
    if (attrs.alert && attrs.alert.state === "open") {
      var alertBox = el("p", "warn security-alert", T.alert_open + " ");
      var ack = el("button", "small", T.alert_ack);
      ack.type = "button";
      ack.id = "alert-ack";
      ack.addEventListener("click", function () { act("/alert/ack", {}); });
      alertBox.appendChild(ack);
      box.appendChild(alertBox);
    }
    if (attrs.draft && attrs.draft.text) {
      var draftBox = el("p", "info llm-draft", T.draft + ": " + attrs.draft.text + " ");
      var use = el("button", "small", T.use_draft);
      use.type = "button";
      use.addEventListener("click", function () { $("reply-text").value = attrs.draft.text; $("reply-text").focus(); });
      draftBox.appendChild(use);
      box.appendChild(draftBox);
    }
    if (attrs.sla && (attrs.sla.breached || []).length) {
      box.appendChild(el("p", "warn sla-breach", T.sla_breached + " (" + attrs.sla.breached.join(", ") + ")"));
    }
    if (c.reply_window_ends_at) {
      var ends = new Date(c.reply_window_ends_at);
      var closed = ends.getTime() < Date.now();
      box.appendChild(el("p", closed ? "warn window-closed" : "info window",
        closed ? T.window_closed : T.window_ends + " " + ends.toLocaleString()));
    }
  }

  function renderTimeline() {
    var list = $("timeline");
    list.textContent = "";
    if (state.earlier) {
      var more = el("button", "link load-earlier", T.load_earlier);
      more.type = "button";
      more.id = "load-earlier";
      more.addEventListener("click", loadEarlier);
      var item = el("li", "earlier");
      item.appendChild(more);
      list.appendChild(item);
    }
    var shown = state.messages;
    if ($("all-channels").checked && state.historyMessages.length) {
      shown = state.historyMessages.concat(state.messages).sort(function (a, b) {
        return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id;
      });
    }
    shown.forEach(function (m) {
      var node = renderMessage(m);
      if (m.conversation_id !== state.selected) {
        node.classList.add("other-conv");
        var link = el("a", "conv-link", "#" + m.conversation_id);
        link.href = "/conversations/" + m.conversation_id;
        link.addEventListener("click", function (ev) { ev.preventDefault(); select(m.conversation_id, true); });
        node.querySelector(".msg-head").appendChild(link);
      }
      list.appendChild(node);
    });
    list.scrollTop = list.scrollHeight;
  }

  /* The person's other conversations (every channel, merged contacts included), shown in one timeline. */
  function loadHistoryMessages() {
    var others = state.history.filter(function (c) { return c.id !== state.selected; }).slice(0, 20);
    var id = state.selected;
    return Promise.all(others.map(function (c) {
      return api("GET", "/api/v1/conversations/" + c.id + "/messages").then(function (r) { return r.items; });
    })).then(function (lists) {
      if (id !== state.selected) { return; }
      state.historyMessages = [].concat.apply([], lists);
      renderTimeline();
    }).catch(showError);
  }

  function authorLabel(m) {
    var a = m.author || {};
    if (a.kind === "contact") { return a.name || contactName(state.conv && state.conv.contact); }
    if (a.kind === "bot") { return T.bot; }
    if (a.kind === "system") { return T.system; }
    return a.name || T.you;
  }

  function renderMessage(m) {
    var li = el("li", "msg " + (m.direction === "in" ? "in" : "out"));
    li.setAttribute("data-id", m.id);
    if (m.private) { li.classList.add("private"); }
    if (m.author && m.author.kind === "system") { li.classList.add("system"); }
    var head = el("div", "msg-head");
    head.appendChild(badge(channelOf(m.inbox)));
    head.appendChild(el("span", "author", authorLabel(m)));
    head.appendChild(el("time", "when", fmtTime(m.created_at)));
    if (m.private) { head.appendChild(el("span", "note-flag", T.private_note)); }
    if (m.direction === "out" && !m.private && m.delivery) {
      var d = el("span", "delivery d-" + m.delivery, T[m.delivery] || m.delivery);
      d.setAttribute("data-delivery", m.delivery);
      head.appendChild(d);
    }
    li.appendChild(head);
    if (m.html) {
      // Sanitised by the core (nh3), and still never trusted: no scripts, no same origin.
      var frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.className = "email-html";
      frame.title = "email";
      frame.srcdoc = '<!doctype html><meta charset="utf-8"><base target="_blank">' +
        '<style>body{font:14px system-ui,sans-serif;margin:8px;word-wrap:break-word}img{max-width:100%}</style>' + m.html;
      li.appendChild(frame);
    } else if (m.text) {
      li.appendChild(el("div", "text", m.text));
    }
    if (m.attachments && m.attachments.length) {
      var atts = el("div", "attachments");
      m.attachments.forEach(function (a) {
        var link = el("a", "attachment");
        link.href = a.url;
        link.target = "_blank";
        link.rel = "noopener";
        if (a.kind === "image" || (a.mime || "").indexOf("image/") === 0 && a.mime !== "image/svg+xml") {
          var img = el("img");
          img.src = a.url; img.alt = a.filename || "image"; img.loading = "lazy";
          link.appendChild(img);
        } else {
          link.setAttribute("download", a.filename || "file");
          link.textContent = "⤓ " + (a.filename || "file") + " (" + Math.ceil((a.size || 0) / 1024) + " KB)";
        }
        atts.appendChild(link);
      });
      li.appendChild(atts);
    }
    if (m.delivery === "failed" && m.error) { li.appendChild(el("p", "delivery-error", m.error)); }
    return li;
  }

  function option(value, text, selected) {
    var o = el("option", null, text);
    o.value = value;
    if (selected) { o.selected = true; }
    return o;
  }

  function renderSide(c) {
    $("s-status").value = c.status;
    $("snooze-row").hidden = c.status !== "snoozed" && $("s-status").value !== "snoozed";
    var agentSel = $("s-agent");
    agentSel.textContent = "";
    agentSel.appendChild(option("", T.nobody, !c.assignee));
    state.agents.forEach(function (a) {
      agentSel.appendChild(option(String(a.id), a.name + (a.id === boot.me.id ? " (me)" : ""),
        c.assignee && c.assignee.id === a.id));
    });
    var teamSel = $("s-team");
    teamSel.textContent = "";
    teamSel.appendChild(option("", T.nobody, !c.team));
    state.teams.forEach(function (t) { teamSel.appendChild(option(t.name, t.name, c.team === t.name)); });
    // Keep what the agent is typing: a response to an earlier change must not overwrite it.
    if (!labelsDirty) { $("s-labels").value = (c.labels || []).join(", "); }
    renderCategory(c);
    var attrs = $("attrs");
    attrs.textContent = "";
    var keys = Object.keys(c.attrs || {});
    if (keys.length) {
      attrs.appendChild(el("h3", null, T.attributes));
      var dl = el("dl", "attrs");
      keys.forEach(function (k) {
        dl.appendChild(el("dt", null, k));
        var v = c.attrs[k];
        dl.appendChild(el("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v)));
      });
      attrs.appendChild(dl);
    }
    var contact = c.contact || {};
    $("contact-name").textContent = contactName(contact) + " (#" + contact.id + ")";
    if (contact.merged_into) {
      $("contact-name").appendChild(el("span", "meta", " · " + T.merged_into + " #" + contact.merged_into));
    }
    var ids = $("identities");
    ids.textContent = "";
    (contact.identities || []).forEach(function (i) {
      var li = el("li");
      li.appendChild(badge(i.channel));
      li.appendChild(document.createTextNode(" " + (i.handle || i.external_id) + " · " + i.inbox));
      if (i.unreachable) { li.appendChild(el("span", "delivery-error", " " + i.unreachable)); }
      if (i.link) { li.appendChild(el("span", "link-" + i.link, " · " + (T[i.link] || i.link))); }
      ids.appendChild(li);
    });
  }

  function mainContactId() {
    var contact = (state.conv && state.conv.contact) || {};
    return contact.merged_into || contact.id;
  }

  function loadHistory() {
    var main = mainContactId();
    if (!main) { return; }
    api("GET", "/api/v1/contacts/" + main + "/conversations").then(function (page) {
      state.history = page.items;
      state.historyMessages = [];
      $("all-channels-box").hidden = page.items.length < 2;
      if ($("all-channels").checked && page.items.length > 1) { loadHistoryMessages(); }
      var list = $("history");
      list.textContent = "";
      var merged = {};
      page.items.forEach(function (c) {
        if (c.contact && c.contact.id !== main) { merged[c.contact.id] = c.contact; }
        var li = el("li", c.id === state.selected ? "current" : "");
        var a = el("a");
        a.href = "/conversations/" + c.id;
        a.appendChild(badge(c.channel));
        a.appendChild(el("span", "status st-" + c.status, T[c.status] || c.status));
        a.appendChild(el("span", "preview", " " + (c.last_message ? c.last_message.text || "" : "")));
        a.appendChild(el("time", "when", fmtTime(c.last_activity_at)));
        a.addEventListener("click", function (ev) { ev.preventDefault(); select(c.id, true); });
        li.appendChild(a);
        list.appendChild(li);
      });
      var box = $("merged-list");
      box.textContent = "";
      Object.keys(merged).forEach(function (cid) {
        var row = el("div", "row merged");
        row.appendChild(el("span", null, T.merged_from + ": " + contactName(merged[cid]) + " (#" + cid + ")"));
        var undo = el("button", "small unmerge", T.unmerge);
        undo.type = "button";
        undo.setAttribute("data-contact", cid);
        undo.addEventListener("click", function () {
          api("POST", "/api/v1/contacts/" + cid + "/unmerge").then(function () { loadConversation(false); })
            .catch(showError);
        });
        row.appendChild(undo);
        box.appendChild(row);
      });
    }).catch(showError);
  }

  /* ------------------------------------------------------------ actions */
  function act(path, body) {
    return api("POST", "/api/v1/conversations/" + state.selected + path, body).then(function (conv) {
      state.conv = conv;
      renderConversation();
      loadList(false);
    }).catch(showError);
  }

  $("s-status").addEventListener("change", function () {
    var v = $("s-status").value;
    if (v === "snoozed") {
      $("snooze-row").hidden = false;
      if (!$("snooze-until").value) {
        var d = new Date(Date.now() + 24 * 3600 * 1000);
        d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
        $("snooze-until").value = d.toISOString().slice(0, 16);
      }
      return;
    }
    act("/status", { status: v });
  });
  $("snooze-save").addEventListener("click", function () {
    var local = $("snooze-until").value;
    if (!local) { return; }
    act("/status", { status: "snoozed", until: new Date(local).toISOString() });
  });
  $("s-agent").addEventListener("change", function () {
    var v = $("s-agent").value;
    act("/assign", { agent: v ? Number(v) : null });
  });
  $("s-team").addEventListener("change", function () { act("/assign", { team: $("s-team").value || null }); });
  $("s-category").addEventListener("change", function () {
    if ($("s-category").value) { act("/category", { category: $("s-category").value }); }
  });
  $("s-tier").addEventListener("change", function () {
    if (!state.conv || !state.conv.contact) { return; }
    api("PATCH", "/api/v1/contacts/" + state.conv.contact.id, { tier: $("s-tier").value || null })
      .then(function () { refreshConversationMeta(); }, showError);
  });
  $("s-labels").addEventListener("input", function () { labelsDirty = true; });
  $("labels-save").addEventListener("click", function () {
    labelsDirty = false;
    act("/labels", { labels: $("s-labels").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean) });
  });
  function toggleResolve() {
    if (!state.conv) { return; }
    act("/status", { status: state.conv.status === "resolved" ? "open" : "resolved" });
  }
  $("resolve").addEventListener("click", toggleResolve);
  $("merge-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var other = parseInt($("merge-id").value, 10);
    if (!other) { return; }
    api("POST", "/api/v1/contacts/" + mainContactId() + "/merge", { contact: other }).then(function () {
      $("merge-id").value = "";
      loadConversation(false);
    }).catch(showError);
  });
  $("back").addEventListener("click", function () {
    document.body.classList.remove("show-conv");
    history.pushState({}, "", "/");
  });
  $("all-channels").addEventListener("change", function () {
    if ($("all-channels").checked) { loadHistoryMessages(); } else { renderTimeline(); }
  });
  $("toggle-side").addEventListener("click", function () { document.body.classList.toggle("show-side"); });
  $("close-side").addEventListener("click", function () { document.body.classList.remove("show-side"); });
  $("load-more").addEventListener("click", function () { loadList(true); });

  /* ------------------------------------------------------------ composer, canned responses */
  function setMode(mode) {
    state.mode = mode;
    $("tab-reply").setAttribute("aria-selected", String(mode === "reply"));
    $("tab-note").setAttribute("aria-selected", String(mode === "note"));
    $("composer").classList.toggle("note-mode", mode === "note");
    $("reply-text").placeholder = mode === "note" ? T.note_placeholder : T.reply_placeholder;
    $("send").textContent = mode === "note" ? T.add_note : T.send;
  }
  $("tab-reply").addEventListener("click", function () { setMode("reply"); });
  $("tab-note").addEventListener("click", function () { setMode("note"); });
  $("reply-file").addEventListener("change", function () {
    $("file-names").textContent = Array.prototype.map.call($("reply-file").files, function (f) { return f.name; }).join(", ");
  });

  function send() {
    var text = $("reply-text").value;
    var files = $("reply-file").files;
    if (!text.trim() && !files.length) { return; }
    $("send-error").hidden = true;
    var body;
    if (files.length) {
      body = new FormData();
      body.append("text", text);
      body.append("private", state.mode === "note" ? "true" : "false");
      Array.prototype.forEach.call(files, function (f) { body.append("file", f, f.name); });
    } else {
      body = { text: text, "private": state.mode === "note" };
    }
    $("send").disabled = true;
    api("POST", "/api/v1/conversations/" + state.selected + "/messages", body).then(function (msg) {
      $("reply-text").value = "";
      $("reply-file").value = "";
      $("file-names").textContent = "";
      upsertMessage(msg);
    }).catch(showError).then(function () { $("send").disabled = false; });
  }
  $("composer").addEventListener("submit", function (ev) { ev.preventDefault(); send(); });

  var menu = $("canned-menu");
  var menuIndex = 0;
  function cannedToken() {
    var ta = $("reply-text");
    var before = ta.value.slice(0, ta.selectionStart);
    var m = /(^|\s)\/([\w-]*)$/.exec(before);
    return m ? { start: before.length - m[2].length - 1, word: m[2] } : null;
  }
  function cannedMatches() {
    var tok = cannedToken();
    if (!tok) { return []; }
    return state.canned.filter(function (c) { return c.shortcut.toLowerCase().indexOf(tok.word.toLowerCase()) === 0; });
  }
  function renderMenu() {
    var found = cannedMatches();
    menu.textContent = "";
    menu.hidden = !found.length;
    if (menuIndex >= found.length) { menuIndex = 0; }
    found.forEach(function (c, i) {
      var li = el("li", i === menuIndex ? "active" : "");
      li.setAttribute("role", "option");
      li.setAttribute("data-shortcut", c.shortcut);
      li.appendChild(el("b", null, "/" + c.shortcut));
      li.appendChild(el("span", null, " " + c.text.slice(0, 80)));
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); insertCanned(c); });
      menu.appendChild(li);
    });
  }
  function insertCanned(c) {
    var ta = $("reply-text");
    var tok = cannedToken();
    if (!tok) { return; }
    var end = ta.selectionStart;
    ta.value = ta.value.slice(0, tok.start) + c.text + ta.value.slice(end);
    var pos = tok.start + c.text.length;
    ta.setSelectionRange(pos, pos);
    menu.hidden = true;
  }
  $("reply-text").addEventListener("input", renderMenu);
  $("reply-text").addEventListener("blur", function () { menu.hidden = true; });
  $("reply-text").addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") { ev.preventDefault(); send(); return; }
    if (menu.hidden) { return; }
    var found = cannedMatches();
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      menuIndex = (menuIndex + (ev.key === "ArrowDown" ? 1 : found.length - 1)) % Math.max(found.length, 1);
      renderMenu();
    } else if ((ev.key === "Enter" || ev.key === "Tab") && found.length) {
      ev.preventDefault();
      insertCanned(found[menuIndex]);
    } else if (ev.key === "Escape") {
      menu.hidden = true;
    }
  });

  /* One message new or changed (delivery state): touch only its node, so images are not reloaded. */
  function upsertMessage(msg) {
    if (!state.conv || msg.conversation_id !== state.conv.id) { return; }
    var list = $("timeline");
    var stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 60;
    var found = false, stale = false;
    state.messages.forEach(function (m, i) {
      if (m.id !== msg.id) { return; }
      found = true;
      // The POST's answer ("queued") can arrive after the stream said "sent": never go back.
      if (msg.delivery === "queued" && m.delivery && m.delivery !== "queued") { stale = true; return; }
      state.messages[i] = msg;
    });
    if (stale) { return; }
    var node = renderMessage(msg);
    var old = list.querySelector('.msg[data-id="' + msg.id + '"]');
    if (found && old) { list.replaceChild(node, old); }
    else if (!found) { state.messages.push(msg); list.appendChild(node); }
    if (stick || msg.direction === "out") { list.scrollTop = list.scrollHeight; }
  }

  /* ------------------------------------------------------------ keyboard */
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) { return; }
    if (ev.key === "j" || ev.key === "k") {
      if (!state.items.length) { return; }
      var idx = -1;
      state.items.forEach(function (c, i) { if (c.id === state.selected) { idx = i; } });
      idx = ev.key === "j" ? Math.min(idx + 1, state.items.length - 1) : Math.max(idx - 1, 0);
      ev.preventDefault();
      select(state.items[idx].id, true);
      var node = document.querySelector('.conv-item[data-id="' + state.items[idx].id + '"]');
      if (node) { node.scrollIntoView({ block: "nearest" }); }
    } else if (ev.key === "r" && state.conv) {
      ev.preventDefault();
      $("reply-text").focus();
    } else if (ev.key === "e" && state.conv) {
      ev.preventDefault();
      toggleResolve();
    } else if (ev.key === "/") {
      ev.preventDefault();
      $("q").focus();
    }
  });

  /* ------------------------------------------------------------ live: SSE, title badge, notifications */
  /* A burst of events about one conversation costs one request for it, not a refetch of the list. */
  var changed = {}, changedTimer = null;
  function refreshRow(id) {
    changed[id] = true;
    if (changedTimer) { return; }
    changedTimer = setTimeout(function () {
      var ids = Object.keys(changed);
      changed = {}; changedTimer = null;
      ids.forEach(function (cid) {
        api("GET", "/api/v1/conversations/" + cid).then(placeItem, function (err) {
          if (err.status === 404 || err.status === 403) {  // gone, or no longer ours to see
            placeItem({ id: Number(cid), status: "gone" });
          } else { showError(err); }
        });
      });
    }, 100);
  }
  function updateTitle() {
    document.title = (state.hiddenUnread ? "(" + state.hiddenUnread + ") " : "") + baseTitle;
  }
  function notify(ev) {
    if (!document.hidden) { return; }
    state.hiddenUnread += 1;
    updateTitle();
    if (window.Notification && Notification.permission === "granted" && ev.message) {
      try {
        var n = new Notification(T.new_message, { body: (ev.message.text || "").slice(0, 140), tag: "tpb-" + ev.conversation.id });
        n.onclick = function () { window.focus(); select(ev.conversation.id, true); };
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { state.hiddenUnread = 0; updateTitle(); }
  });
  document.addEventListener("click", function askOnce() {
    if (window.Notification && Notification.permission === "default") { Notification.requestPermission(); }
    document.removeEventListener("click", askOnce);
  });

  function handle(ev) {
    if (ev.conversation) { refreshRow(ev.conversation.id); }
    var isCurrent = state.conv && ev.conversation && ev.conversation.id === state.conv.id;
    if (ev.message) {
      if (isCurrent) { upsertMessage(ev.message); }
      if (ev.kind === "message.created" && ev.message.direction === "in") {
        notify(ev);
        if (isCurrent && !document.hidden) {
          api("POST", "/api/v1/conversations/" + state.conv.id + "/read").catch(showError);
        }
      }
    } else if (isCurrent) {
      refreshConversationMeta();
    }
  }

  function connect() {
    var source = new EventSource("/api/v1/events");
    ["message.created", "message.updated", "conversation.created", "conversation.updated"].forEach(function (kind) {
      source.addEventListener(kind, function (e) {
        try { handle(JSON.parse(e.data)); } catch (err) { /* a malformed event must not stop the stream */ }
      });
    });
    var wasDown = false;
    source.onopen = function () {
      $("live-off").hidden = true;
      document.body.setAttribute("data-live", "on");
      if (wasDown) {  // catch up on what happened while the stream was down
        wasDown = false;
        loadList(false);
        if (state.selected) { loadConversation(false); }
      }
    };
    source.onerror = function () {
      wasDown = true;
      $("live-off").hidden = false;
      document.body.setAttribute("data-live", "off");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up on a non-200 answer (a session that expired): find out why, retry later.
        api("GET", "/api/v1/me").then(function () { setTimeout(connect, 5000); }, function () {});
      }
    };
  }

  /* ------------------------------------------------------------ start */
  $("list-error").addEventListener("click", function () { $("list-error").hidden = true; });
  ["f-status", "f-assignee", "f-channel", "f-inbox", "f-team", "f-priority"].forEach(function (id) {
    $(id).addEventListener("change", function () { loadList(false); });
  });
  var typingTimer = null;
  ["q", "f-label"].forEach(function (id) {
    $(id).addEventListener("input", function () {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { loadList(false); }, 250);
    });
  });
  boot.inboxes.forEach(function (i) { $("f-inbox").appendChild(option(i.name, i.name, false)); });
  boot.channels.forEach(function (ch) { $("f-channel").appendChild(option(ch, ch, false)); });
  window.addEventListener("popstate", function () {
    var m = /^\/conversations\/(\d+)/.exec(location.pathname);
    if (m) { select(Number(m[1]), false); }
    else { document.body.classList.remove("show-conv"); }
  });
  setMode("reply");

  Promise.all([
    api("GET", "/api/v1/agents").then(function (r) { state.agents = r.items; }),
    api("GET", "/api/v1/teams").then(function (r) {
      state.teams = r.items;
      r.items.forEach(function (t) { $("f-team").appendChild(option(t.name, t.name, false)); });
    }),
    api("GET", "/api/v1/canned_responses").then(function (r) { state.canned = r.items; }),
  ]).catch(showError).then(function () {
    connect();
    return loadList(false);
  }).then(function () {
    if (state.selected) { select(state.selected, false); }
    document.body.setAttribute("data-ready", "1");
  });
})();

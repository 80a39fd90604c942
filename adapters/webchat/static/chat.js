// The visitor's page: a signed token keeps the conversation across reloads (see `keeper` below).
(function () {
  "use strict";
  var BASE = document.body.getAttribute("data-base");
  var KEY = "tpbridge-visitor" + BASE;
  // The visitor's language: the URL, else their earlier pick (also the help centre's cookie), else the browser's.
  var LANG_KEY = "tpbridge-lang";
  function cookieLang() { var m = /(?:^|; )tpb_lang=([^;]+)/.exec(document.cookie); return m ? m[1] : null; }
  function savedLang() { try { return localStorage.getItem(LANG_KEY); } catch (e) { return null; } }
  var chosen = new URLSearchParams(location.search).get("lang") || savedLang() || cookieLang() || "";
  var picked = chosen;  // only a language the visitor (or the link) chose overrides detection on the desk
  var zh = /^zh/i.test(chosen || navigator.language || "");
  var T = zh ? {
    subtitle: "我们通常会在几分钟内回复。", about: "您的姓名和邮箱（可选）", name: "姓名", email: "邮箱",
    placeholder: "请输入您的问题…", send: "发送", failed: "发送失败，正在重试…", agent: "客服", bot: "机器人",
    mydata: "获取我的数据", forget: "删除我的对话", privacy: "隐私说明"
  } : {
    subtitle: "We usually reply within a few minutes.", about: "Your name and email (optional)", name: "Name",
    email: "Email", placeholder: "Type your message…", send: "Send", failed: "Not sent yet, retrying…",
    agent: "Support", bot: "Bot", mydata: "Get my data", forget: "Delete my conversation", privacy: "Privacy"
  };
  document.documentElement.lang = zh ? "zh" : "en";
  function applyStrings() {
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      var v = T[el.getAttribute("data-i18n")]; if (v) { el.textContent = v; }
    });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
      var v = T[el.getAttribute("data-i18n-placeholder")]; if (v) { el.placeholder = v; }
    });
  }
  applyStrings();

  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var text = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var statusEl = document.getElementById("status");
  var seen = {};
  // Some browsers deny storage to third-party frames (the widget on another site): keep the
  // conversation in memory then, rather than failing.
  var memory = {};
  function keeper(name) {
    function area() { try { return window[name]; } catch (e) { return null; } }
    return {
      get: function (k) { try { return area().getItem(k); } catch (e) { return memory[name + k] || null; } },
      set: function (k, v) { try { area().setItem(k, v); } catch (e) { memory[name + k] = v; } },
      del: function (k) { try { area().removeItem(k); } catch (e) { delete memory[name + k]; } }
    };
  }
  // An anonymous visitor's token stays in the browser; a signed-in user's only in this tab (it survives a reload,
  // not the tab): the next person at a shared device opens the chat signed out, without the user's history.
  var store = keeper("localStorage");
  var tab = keeper("sessionStorage");
  var SIGNED_IN = "tpbridge-signed-in" + BASE;
  function signedIn(t) { return /^v[12]\.u-/.test(t || ""); }
  if (signedIn(store.get(KEY))) { store.del(KEY); }  // kept there by an earlier version of this page
  var token = tab.get(SIGNED_IN) || store.get(KEY);
  var profile = null;  // the signed-in user's identifier and hash: their token expires, they are signed in again
  function keep(t) { token = t; if (signedIn(t)) { tab.set(SIGNED_IN, t); } else { store.set(KEY, t); } }

  function render(m, pending) {
    if (m.id && seen[m.id]) { return seen[m.id]; }
    var li = document.createElement("li");
    li.className = m.direction === "in" ? "in" : "out";
    if (pending) { li.classList.add("pending"); }
    linkify(li, m.text || "", m.direction !== "in");
    (m.attachments || []).forEach(function (a) {
      var s = document.createElement("span"); s.className = "file"; s.textContent = "📎 " + (a.filename || "file");
      li.appendChild(s);
    });
    li.setAttribute("data-direction", m.direction);
    if (m.id) { seen[m.id] = li; li.setAttribute("data-id", m.id); }
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }

  // Our answers may carry a link (your data export): made clickable as elements, never as HTML.
  function linkify(el, value, links) {
    var re = /https?:\/\/[^\s<>"]+/g, last = 0, found;
    while (links && (found = re.exec(value)) !== null) {
      el.appendChild(document.createTextNode(value.slice(last, found.index)));
      var a = document.createElement("a"); a.href = found[0]; a.textContent = found[0]; a.rel = "noopener";
      a.target = "_blank"; el.appendChild(a);
      last = found.index + found[0].length;
    }
    el.appendChild(document.createTextNode(value.slice(last)));
  }

  function api(path, opts) {
    opts = opts || {};
    opts.headers = opts.headers || {};
    if (token) { opts.headers.Authorization = "Bearer " + token; }
    return fetch(BASE + path, opts).then(function (r) {
      if (r.status === 401 && path !== "/api/visitor") {  // forget the refused token, and only that one
        if (signedIn(token)) { tab.del(SIGNED_IN); } else { store.del(KEY); }
        token = null;
      }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function ensureVisitor() {
    if (token) { return Promise.resolve(token); }
    return api("/api/visitor", {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(profile || {})})
      .then(function (v) { keep(v.token); return token; });
  }

  var source = null;
  function listen() {
    if (source) { source.close(); }
    source = new EventSource(BASE + "/api/events?token=" + encodeURIComponent(token));
    source.addEventListener("message", function (e) { render(JSON.parse(e.data)); });
    source.onopen = loadHistory;  // catch up on what arrived while disconnected
    source.onerror = function () {
      // Refused (not a dropped line, which it retries itself): a signed-in user's token expired.
      // Not at once: a page being left closes its stream too, and its timers die with it.
      if (source.readyState === EventSource.CLOSED && profile) {
        setTimeout(function () { tab.del(SIGNED_IN); token = null; ensureVisitor().then(listen); }, 1000);
      }
    };
  }

  function loadHistory() {
    return api("/api/messages").then(function (d) { d.items.forEach(function (m) { render(m); }); });
  }

  function send(body, li, attempt) {
    var opts = {method: "POST"};
    if (body instanceof FormData) { opts.body = body; }
    else { opts.body = JSON.stringify(body); opts.headers = {"Content-Type": "application/json"}; }
    // a retry after a refused token (a signed-in user's expired) takes a new one first
    return ensureVisitor().then(function () { return api("/api/messages", opts); }).then(function (r) {
      li.classList.remove("pending"); statusEl.textContent = "";
      if (r.id) {
        // The event stream (or the history read when it opens) may have shown this message before our own
        // POST was answered: one line for it, the one where the visitor wrote it.
        if (seen[r.id] && seen[r.id] !== li) { seen[r.id].remove(); }
        seen[r.id] = li; li.setAttribute("data-id", r.id);
      }
    }).catch(function () {
      statusEl.textContent = T.failed;
      // the same client_id makes a retry safe: the server stores it once
      setTimeout(function () { send(body, li, attempt + 1); }, Math.min(30000, 1000 * Math.pow(2, attempt)));
    });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    post(text.value.trim(), fileInput.files[0]);
  });
  // The visitor's own data: the same commands as typing /mydata or /forget; the answer asks to confirm.
  document.getElementById("mydata").addEventListener("click", function () { post("/mydata"); });
  document.getElementById("forget").addEventListener("click", function () { post("/forget"); });
  document.getElementById("privacy").href = "/privacy?lang=" + (zh ? "zh" : "en");

  function post(value, file) {
    if (!value && !file) { return; }
    var clientId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, "");
    var name = document.getElementById("name").value.trim();
    var email = document.getElementById("email").value.trim();
    var body;
    if (file) {
      body = new FormData(); body.append("text", value); body.append("client_id", clientId);
      if (picked) { body.append("language", picked); }
      if (name) { body.append("name", name); } if (email) { body.append("email", email); }
      body.append("file", file, file.name);
    } else {
      body = {text: value, client_id: clientId};
      if (picked) { body.language = picked; }
      if (name) { body.name = name; } if (email) { body.email = email; }
    }
    var li = render({direction: "in", text: value, attachments: file ? [{filename: file.name}] : []}, true);
    text.value = ""; fileInput.value = "";
    ensureVisitor().then(function () { if (!source) { listen(); } return send(body, li, 0); });
  }

  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  // ---------------------------------------------------------------- language, help, phone
  var langSelect = document.getElementById("lang");
  var welcome = document.getElementById("welcome");
  var phone = null;
  function loadWidget(lang) {
    return fetch("/help/api/widget" + (lang ? "?lang=" + encodeURIComponent(lang) : ""))
      .then(function (r) { return r.ok ? r.json() : null; }).then(function (w) {
        if (!w) { return; }
        chosen = w.language; zh = /^zh/i.test(chosen);
        Object.keys(w.strings).forEach(function (k) { T[k] = w.strings[k]; });
        document.documentElement.lang = chosen;
        applyStrings();
        langSelect.textContent = "";
        w.languages.forEach(function (l) {
          var o = document.createElement("option"); o.value = l.code; o.textContent = l.name; o.lang = l.code;
          o.selected = l.code === chosen; langSelect.appendChild(o);
        });
        document.getElementById("help-lang").value = chosen;
        document.getElementById("help-link").href = w.help_url;
        document.getElementById("privacy").href = "/privacy?lang=" + (zh ? "zh" : "en");
        var ul = document.getElementById("suggested"); ul.textContent = "";
        w.suggested.forEach(function (s) {
          var li = document.createElement("li"), a = document.createElement("a");
          a.href = s.url; a.textContent = s.title; a.target = "_blank"; a.rel = "noopener"; a.lang = s.language;
          li.appendChild(a); ul.appendChild(li);
        });
        phone = (w.phone || [])[0] || null;
        var call = document.getElementById("call");
        if (phone) {
          document.getElementById("callback-open").hidden = false;
          if (phone.click_to_call) {  // click-to-call: the phone's own dialer
            call.hidden = false; call.href = "tel:" + phone.number; call.textContent = "☎ " + phone.display;
            call.title = phone.hours_text || "";
          }
        }
      }).catch(function () { /* the chat works without the help centre */ });
  }
  langSelect.addEventListener("change", function () {
    picked = langSelect.value;
    try { localStorage.setItem(LANG_KEY, picked); } catch (e) { /* private mode */ }
    document.cookie = "tpb_lang=" + encodeURIComponent(langSelect.value) + "; path=/; max-age=31536000; SameSite=Lax";
    loadWidget(langSelect.value);
  });
  function hideWelcome() { if (list.children.length) { welcome.hidden = true; } }
  new MutationObserver(hideWelcome).observe(list, {childList: true});

  var cbForm = document.getElementById("callback");
  document.getElementById("callback-open").addEventListener("click", function () {
    cbForm.hidden = !cbForm.hidden; if (!cbForm.hidden) { document.getElementById("cb-number").focus(); }
  });
  cbForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var when = document.getElementById("cb-when").value;
    var body = {number: document.getElementById("cb-number").value, note: document.getElementById("cb-note").value,
                language: chosen};  // the words of the answer; the desk's language is the visitor's pick
    if (when) { body.preferred_at = new Date(when).toISOString(); }
    ensureVisitor().then(function () {
      if (!source) { listen(); }
      return api("/api/callback", {method: "POST", headers: {"Content-Type": "application/json"},
                                   body: JSON.stringify(body)});
    }).then(function () { cbForm.hidden = true; statusEl.textContent = ""; })
      .catch(function () { statusEl.textContent = T.failed; });
  });
  // Link another channel: the same as typing /link; the answer carries a 10-minute code.
  document.getElementById("link-channel").addEventListener("click", function () { post("/link"); });

  // A user the app signed in (mobile web view: /chat#identifier=...&identifier_hash=...; the site's
  // widget passes the same from its script tag): their own conversation and history on every device.
  var who = new URLSearchParams(location.hash.slice(1));
  function start() {
    if (token) { listen(); }
  }
  loadWidget(chosen);
  if (who.get("identifier") && who.get("identifier_hash")) {
    profile = {identifier: who.get("identifier"), identifier_hash: who.get("identifier_hash")};
    ["name", "email", "tier"].forEach(function (k) { if (who.get(k)) { profile[k] = who.get(k); } });
    history.replaceState(null, "", location.pathname + location.search);  // the hash is a credential
    token = null;
    ensureVisitor().then(start).catch(function () { statusEl.textContent = T.failed; });
  } else {
    start();
  }
})();

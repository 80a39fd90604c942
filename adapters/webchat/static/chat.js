// The visitor's page: a signed token in localStorage keeps the conversation across reloads.
(function () {
  "use strict";
  var BASE = document.body.getAttribute("data-base");
  var KEY = "tpbridge-visitor" + BASE;
  var zh = /^zh/i.test(new URLSearchParams(location.search).get("lang") || navigator.language || "");
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
  document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = T[el.getAttribute("data-i18n")]; });
  document.querySelectorAll("[data-i18n-placeholder]").forEach(function (el) {
    el.placeholder = T[el.getAttribute("data-i18n-placeholder")];
  });

  var list = document.getElementById("messages");
  var form = document.getElementById("composer");
  var text = document.getElementById("text");
  var fileInput = document.getElementById("file");
  var statusEl = document.getElementById("status");
  var seen = {};
  // Some browsers deny storage to third-party frames (the widget on another site): keep the
  // conversation in memory then, rather than failing.
  var memory = {};
  var store = {
    get: function (k) { try { return localStorage.getItem(k); } catch (e) { return memory[k] || null; } },
    set: function (k, v) { try { localStorage.setItem(k, v); } catch (e) { memory[k] = v; } },
    del: function (k) { try { localStorage.removeItem(k); } catch (e) { delete memory[k]; } }
  };
  var token = store.get(KEY);

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
      if (r.status === 401 && path !== "/api/visitor") { store.del(KEY); token = null; }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  function ensureVisitor() {
    if (token) { return Promise.resolve(token); }
    return api("/api/visitor", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"})
      .then(function (v) { token = v.token; store.set(KEY, token); return token; });
  }

  var source = null;
  function listen() {
    if (source) { source.close(); }
    source = new EventSource(BASE + "/api/events?token=" + encodeURIComponent(token));
    source.addEventListener("message", function (e) { render(JSON.parse(e.data)); });
    source.onopen = loadHistory;  // catch up on what arrived while disconnected
  }

  function loadHistory() {
    return api("/api/messages").then(function (d) { d.items.forEach(function (m) { render(m); }); });
  }

  function send(body, li, attempt) {
    var opts = {method: "POST"};
    if (body instanceof FormData) { opts.body = body; }
    else { opts.body = JSON.stringify(body); opts.headers = {"Content-Type": "application/json"}; }
    return api("/api/messages", opts).then(function (r) {
      li.classList.remove("pending"); statusEl.textContent = "";
      if (r.id) { seen[r.id] = li; li.setAttribute("data-id", r.id); }
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
      if (name) { body.append("name", name); } if (email) { body.append("email", email); }
      body.append("file", file, file.name);
    } else {
      body = {text: value, client_id: clientId};
      if (name) { body.name = name; } if (email) { body.email = email; }
    }
    var li = render({direction: "in", text: value, attachments: file ? [{filename: file.name}] : []}, true);
    text.value = ""; fileInput.value = "";
    ensureVisitor().then(function () { if (!source) { listen(); } return send(body, li, 0); });
  }

  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });

  if (token) { listen(); }
})();

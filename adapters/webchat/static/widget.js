// Embed the web chat on your site: <script src="https://support.example.com/chat/widget.js" async></script>
// A signed-in user of your site: add data-identifier="user-42" data-identifier-hash="<HMAC-SHA256 hex from
// your backend>" (and data-name, data-email, data-tier, data-lang): they get their own conversation and history.
(function () {
  "use strict";
  var me = document.currentScript;
  var base = me ? me.src.replace(/\/widget\.js(\?.*)?$/, "") : "/chat";
  var open = false;
  var button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", "Chat with support");
  button.textContent = "💬";
  button.style.cssText = "position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;" +
    "background:#1f6feb;color:#fff;font-size:24px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000";
  var frame = document.createElement("iframe");
  frame.title = "Support chat";
  var data = me ? me.dataset : {};
  var who = new URLSearchParams();
  [["identifier", "identifier"], ["identifierHash", "identifier_hash"], ["name", "name"], ["email", "email"],
   ["tier", "tier"]].forEach(function (p) { if (data[p[0]]) { who.set(p[1], data[p[0]]); } });
  // In the fragment, never sent to a server or kept in its logs; the page removes it at once.
  frame.src = base + "?embed=1" + (data.lang ? "&lang=" + encodeURIComponent(data.lang) : "") +
    (who.has("identifier") ? "#" + who.toString() : "");
  frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 40px));" +
    "height:min(560px,calc(100vh - 120px));border:0;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);" +
    "display:none;z-index:2147483000;background:#fff";
  button.addEventListener("click", function () { open = !open; frame.style.display = open ? "block" : "none"; });
  function mount() { document.body.appendChild(frame); document.body.appendChild(button); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();

// Embed the web chat on your site: <script src="https://support.example.com/chat/widget.js" async></script>
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
  frame.src = base + "?embed=1";
  frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 40px));" +
    "height:min(560px,calc(100vh - 120px));border:0;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);" +
    "display:none;z-index:2147483000;background:#fff";
  button.addEventListener("click", function () { open = !open; frame.style.display = open ? "block" : "none"; });
  function mount() { document.body.appendChild(frame); document.body.appendChild(button); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();

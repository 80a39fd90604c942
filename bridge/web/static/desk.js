/* The inbox's desk actions: write first (New conversation), log a phone call, the callback queue.
 * Each opens a <dialog>; success opens the conversation it made. Untrusted text via textContent only. */
(function () {
  "use strict";
  var api = TPB.api;
  var boot = JSON.parse(document.getElementById("boot").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var phones = boot.inboxes.filter(function (i) { return i.channel === "phone"; });

  function fill(select, inboxes) {
    select.textContent = "";
    inboxes.forEach(function (i) {
      var o = document.createElement("option"); o.value = i.name; o.textContent = i.name; select.appendChild(o);
    });
  }
  function opener(button, dialog, before) {
    $(button).addEventListener("click", function () { if (before) { before(); } $(dialog).showModal(); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("dialog [data-close]"), function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  function failed(box, err) { box.hidden = false; box.textContent = err.message || String(err); }
  function go(conv) { window.location.href = "/conversations/" + conv.id; }

  fill($("nc-inbox"), boot.inboxes.filter(function (i) { return i.channel !== "phone"; }));
  opener("open-new-conv", "new-conv");
  $("new-conv-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { inbox: $("nc-inbox").value, text: $("nc-text").value };
    if ($("nc-to").value.trim()) { body.to = $("nc-to").value.trim(); }
    if ($("nc-contact").value.trim()) { body.contact_id = parseInt($("nc-contact").value, 10); }
    if ($("nc-name").value.trim()) { body.name = $("nc-name").value.trim(); }
    if ($("nc-subject").value.trim()) { body.subject = $("nc-subject").value.trim(); }
    $("nc-error").hidden = true;
    api("POST", "/api/v1/conversations", body).then(go).catch(function (err) { failed($("nc-error"), err); });
  });

  if (!phones.length) { return; }
  $("open-log-call").hidden = false;
  $("open-callbacks").hidden = false;
  fill($("lc-inbox"), phones);
  opener("open-log-call", "log-call");
  $("log-call-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var body = { inbox: $("lc-inbox").value, number: $("lc-number").value, direction: $("lc-direction").value,
                 duration_s: Math.round(parseFloat($("lc-duration").value || "0") * 60),
                 outcome: $("lc-outcome").value, notes: $("lc-notes").value };
    if ($("lc-name").value.trim()) { body.name = $("lc-name").value.trim(); }
    $("lc-error").hidden = true;
    api("POST", "/api/v1/calls", body).then(go).catch(function (err) { failed($("lc-error"), err); });
  });
  opener("open-callbacks", "callbacks", function () {
    var list = $("callback-list");
    list.textContent = "";
    api("GET", "/api/v1/callbacks").then(function (page) {
      $("callback-empty").hidden = page.items.length > 0;
      page.items.forEach(function (c) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = "/conversations/" + c.id;
        a.textContent = new Date(c.callback.due_at).toLocaleString() + " · " + c.callback.number +
          (c.contact && c.contact.name ? " · " + c.contact.name : "") + (c.callback.note ? " — " + c.callback.note : "");
        li.appendChild(a);
        if (c.priority >= 2) { li.classList.add("urgent"); }
        list.appendChild(li);
      });
    });
  });
})();

/* Shared by every signed-in page: the API helper (session cookie + CSRF header) and the language picker. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function ApiError(status, body) {
    var err = (body && body.error) || {};
    this.status = status; this.code = err.code || "http_" + status; this.message = err.message || ("HTTP " + status);
  }

  /* fetch JSON from /api/v1; every unsafe method carries the X-CSRF-Token header. */
  function api(method, path, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET" && method !== "HEAD") { opts.headers["X-CSRF-Token"] = csrf; }
    if (body instanceof FormData) { opts.body = body; }
    else if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (resp) {
      if (resp.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname); }
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!resp.ok) { throw new ApiError(resp.status, data); }
        return data;
      });
    });
  }

  window.TPB = { api: api, csrf: csrf };

  var presence = document.getElementById("presence");
  if (presence) {
    presence.addEventListener("change", function () { api("PATCH", "/api/v1/me", { presence: presence.value }); });
  }

  var pick = document.getElementById("ui-language");
  if (pick) {
    pick.addEventListener("change", function () {
      api("PATCH", "/api/v1/me", { ui_language: pick.value || null }).then(function () { location.reload(); });
    });
  }
})();

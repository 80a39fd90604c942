/* Admin pages: every <form data-api="METHOD /path"> is sent as JSON to the admin API, then the page reloads. */
(function () {
  "use strict";
  var errorBox = document.getElementById("admin-error");

  function value(el) {
    if (el.getAttribute("data-type") === "bool") { return el.checked; }
    if (el.getAttribute("data-type") === "list") {
      return el.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    }
    return el.value;
  }

  document.querySelectorAll("form[data-api]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var spec = form.getAttribute("data-api").split(" ");
      var body = {};
      form.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (el) {
        if (el.hasAttribute("data-optional") && !el.value) { return; }
        body[el.name] = value(el);
      });
      var method = spec[0];
      TPB.api(method, spec[1], method === "DELETE" ? undefined : body).then(function () {
        location.reload();
      }).catch(function (err) {
        errorBox.textContent = err.message; errorBox.hidden = false;
      });
    });
  });
})();

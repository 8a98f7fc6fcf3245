// Shows the moments marked data-local-time in the viewer's time zone: the
// server knows only UTC, which the element holds until this runs.
(function () {
  "use strict";
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (isNaN(at.getTime())) return;
    var zone = "";
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {}
    el.textContent = at.toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    }) + (zone ? " (" + zone + ")" : "");
  });
})();

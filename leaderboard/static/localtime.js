/* Adds the viewer's local time after each <time class="local" datetime="..."> (which shows UTC).
   Served by the app itself (the Content-Security-Policy allows scripts from this site only). */
document.querySelectorAll("time.local").forEach(function (element) {
  var moment = new Date(element.getAttribute("datetime"));
  if (isNaN(moment.getTime())) {
    return;
  }
  var local = document.createElement("span");
  local.className = "localtime";
  local.textContent = " (your time: " + moment.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short"
  }) + ")";
  element.after(local);
});

// Polling while the tab is visible, without eval (the CSP forbids it, so no hx-trigger
// filters): every element with data-poll="<ms>" receives a "poll" event (its hx-trigger)
// at that interval while the page is visible, and once as soon as it becomes visible again.
(function () {
  "use strict";
  const last = new WeakMap();

  function due(el, now) {
    const every = Number(el.dataset.poll) || 5000;
    if (!last.has(el)) {
      last.set(el, now);
      return false;
    }
    return now - last.get(el) >= every;
  }

  // A region someone is working in waits: a swap would wipe the reason being typed,
  // untick a box or fold the traceback being read. It refreshes once they are done.
  function busy(el) {
    const active = document.activeElement;
    if (active && active !== el && el.contains(active) && active.matches("input, textarea, select")) return true;
    for (const field of el.querySelectorAll("input, textarea")) {
      if (field.type === "checkbox" || field.type === "radio" ? field.checked !== field.defaultChecked : field.value !== field.defaultValue) return true;
    }
    return el.querySelector("details[open]") !== null;
  }

  function tick(force) {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-poll]")) {
      if ((force || due(el, now)) && !busy(el)) {
        last.set(el, now);
        window.htmx.trigger(el, "poll");
      }
    }
  }

  setInterval(function () { tick(false); }, 250);

  // A new request clears the message an earlier one left (see service_errors in jobs/views/common.py).
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    if (elt.hasAttribute("data-poll")) {
      // A refresh waits while a person's request is under way: its answer must not land after theirs.
      if (document.querySelector(".htmx-request:not([data-poll])")) event.preventDefault();
      return;
    }
    const box = document.getElementById("htmx-error");
    if (box) box.replaceChildren();
    // A person's request (a page of a list, a filter) cancels the refreshes under way, for the same reason.
    for (const polling of document.querySelectorAll("[data-poll].htmx-request")) window.htmx.trigger(polling, "htmx:abort");
  });
  document.addEventListener("visibilitychange", function () { tick(true); });

  // A bulk action's submit button counts the selection and stays off while none is selected.
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
    if (box.dataset.selectAll) {
      for (const other of document.querySelectorAll(`input[type=checkbox][form="${box.dataset.selectAll}"][name=ids]`)) {
        other.checked = box.checked;
      }
    }
    const formId = box.getAttribute("form") || box.dataset.selectAll;
    if (!formId) return;
    const selected = document.querySelectorAll(`input[type=checkbox][form="${formId}"][name=ids]:checked`).length;
    const counter = document.querySelector(`[data-selected-count="${formId}"]`);
    if (counter) counter.textContent = String(selected);
    const submit = document.querySelector(`button[type=submit][form="${formId}"]`);
    if (submit) submit.disabled = selected === 0;
  });
})();

// Forms on a slow or broken connection (every page loads this; the pages work without it):
// - a form is sent once: a second tap while the first is on its way does nothing;
// - when a form sent in the background cannot be sent (no connection, an error, an expired
//   form), the form says so instead of staying silent;
// - what is typed in a form marked data-draft is kept on the phone until the server has saved
//   it, and put back if the page is opened again (a session that expired, a language switch, a
//   lost connection, the browser closed);
// - a large photo is made smaller before it is sent (quicker, and under the size limit).
// Its messages come translated, in the script tag's data attributes.
(function () {
  "use strict";
  var text = document.currentScript.dataset;
  var DRAFT_PREFIX = "draft:";
  var DRAFT_DAYS = 14;
  var PHOTO_SIDE = 1600; // pixels on the long side of a photo made smaller
  var PHOTO_SMALL_ENOUGH = 1024 * 1024; // bytes: a photo under this is sent as it is

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  // --- a form is sent once --------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches("form[action='/logout']")) forgetAllDrafts();
    if (event.defaultPrevented || form.hasAttribute("hx-post") || form.method.toLowerCase() !== "post") return;
    if (form.dataset.busy) { // a photo still being made smaller: sent as soon as it is ready
      event.preventDefault();
      form.pendingSubmitter = event.submitter || form;
      return;
    }
    if (form.dataset.sending) { event.preventDefault(); return; }
    form.dataset.sending = "1";
  });
  // Back to a page kept by the browser: its forms can be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sending]").forEach(function (form) { delete form.dataset.sending; });
  });

  // --- what the background sending of a form could not do ------------------------------------

  function showProblem(elt, message) {
    var form = elt.closest("form") || elt;
    var box = form.querySelector("[data-form-problem]");
    if (!box) {
      box = document.createElement("p");
      box.className = "error";
      box.setAttribute("role", "alert");
      box.dataset.formProblem = "";
      form.insertBefore(box, form.firstChild);
    }
    box.textContent = message;
    box.scrollIntoView({ block: "nearest" });
  }

  function serverMessage(xhr) {
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var found = doc.querySelector("main .error");
      return found ? found.textContent.trim() : "";
    } catch (e) { return ""; }
  }

  function quiet(elt) { return elt.closest("[data-quiet]") !== null; }

  document.addEventListener("htmx:sendError", function (event) {
    if (!quiet(event.detail.elt)) showProblem(event.detail.elt, text.offline);
  });
  document.addEventListener("htmx:responseError", function (event) {
    if (!quiet(event.detail.elt)) showProblem(event.detail.elt, serverMessage(event.detail.xhr) || text.failed);
  });

  // --- drafts ---------------------------------------------------------------------------------

  function draftKey(form) { return DRAFT_PREFIX + form.dataset.draft; }

  function kept(field) {
    return field.name && field.name !== "_csrf_token" && !field.disabled &&
      ["file", "password", "submit", "button"].indexOf(field.type) < 0;
  }

  function saveDraft(form) {
    var store = storage();
    if (!store) return;
    var values = {};
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!kept(field)) return;
      if ((field.type === "checkbox" || field.type === "radio") && !field.checked) return;
      values[field.name] = field.value;
    });
    try { store.setItem(draftKey(form), JSON.stringify({ at: Date.now(), values: values })); } catch (e) { /* full */ }
  }

  function forgetDraft(form) {
    var store = storage();
    if (store) store.removeItem(draftKey(form));
  }

  function forgetAllDrafts() {
    var store = storage();
    if (!store) return;
    Object.keys(store).forEach(function (key) { if (key.indexOf(DRAFT_PREFIX) === 0) store.removeItem(key); });
  }

  function readDraft(form) {
    var store = storage();
    if (!store) return null;
    try {
      var draft = JSON.parse(store.getItem(draftKey(form)) || "null");
      if (draft && Date.now() - draft.at < DRAFT_DAYS * 86400000) return draft.values;
    } catch (e) { /* not ours */ }
    forgetDraft(form);
    return null;
  }

  function restoreDraft(form) {
    var values = readDraft(form);
    if (!values) return;
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!kept(field) || !(field.name in values)) return;
      if (field.type === "checkbox" || field.type === "radio") field.checked = values[field.name] === field.value;
      else field.value = values[field.name];
    });
    var note = document.createElement("p");
    note.className = "flash";
    note.setAttribute("role", "status");
    note.dataset.draftNote = "";
    note.textContent = text.restored + " ";
    var again = document.createElement("button");
    again.type = "button";
    again.className = "link";
    again.textContent = text.discard;
    again.addEventListener("click", function () { forgetDraft(form); location.reload(); });
    note.appendChild(again);
    form.insertBefore(note, form.firstChild);
  }

  function onEdit(event) {
    var form = event.target.form;
    if (form && form.dataset.draft && kept(event.target)) saveDraft(form);
  }
  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);
  // The server saved it (it says so in its answer): the draft has done its work.
  document.addEventListener("form-saved", function (event) {
    var form = event.target.closest("form[data-draft]");
    if (form) forgetDraft(form);
  });

  function restoreDrafts() {
    document.querySelectorAll("form[data-draft][data-draft-restore]").forEach(restoreDraft);
  }

  // --- photos made smaller --------------------------------------------------------------------

  function decode(file) {
    if (window.createImageBitmap) return createImageBitmap(file, { imageOrientation: "from-image" });
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = reject;
      img.src = URL.createObjectURL(file);
    });
  }

  function shrink(file) {
    return decode(file).then(function (image) {
      var scale = Math.min(1, PHOTO_SIDE / Math.max(image.width, image.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(image.width * scale);
      canvas.height = Math.round(image.height * scale);
      canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.82); });
    }).then(function (blob) {
      if (!blob || blob.size >= file.size) return null;
      var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
      return new File([blob], name, { type: "image/jpeg" });
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "file" || !input.matches("[data-photo]") || !input.files.length) return;
    var file = input.files[0];
    if (!/^image\//.test(file.type) || file.size <= PHOTO_SMALL_ENOUGH || !window.DataTransfer) return;
    var form = input.form;
    form.dataset.busy = "1";
    shrink(file).then(function (smaller) {
      if (!smaller) return;
      var list = new DataTransfer();
      list.items.add(smaller);
      input.files = list.files;
      var hint = input.parentNode.querySelector("[data-photo-note='" + input.id + "']");
      if (!hint) {
        hint = document.createElement("small");
        hint.className = "hint";
        hint.dataset.photoNote = input.id;
        input.insertAdjacentElement("afterend", hint);
      }
      hint.textContent = text.shrunk;
    }).catch(function () { /* not an image the browser can read: sent as it is, the server says why */ })
      .then(function () {
        delete form.dataset.busy;
        var submitter = form.pendingSubmitter;
        delete form.pendingSubmitter;
        if (submitter) form.requestSubmit(submitter === form ? undefined : submitter);
      });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restoreDrafts);
  else restoreDrafts();
})();

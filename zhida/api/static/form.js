// 申报表单: mark the fields changed from the government's data; no double submission.
(function () {
  "use strict";
  var form = document.getElementById("apply-form");
  if (!form) { return; }
  function mark(input) {
    var box = input.closest(".field");
    if (!box) { return; }
    var changed = input.value.trim() !== input.getAttribute("data-prefilled");
    box.classList.toggle("changed", changed);
    var note = box.querySelector(".changed-note");
    if (note) { note.hidden = !changed; }
  }
  var inputs = form.querySelectorAll("[data-prefilled]");
  Array.prototype.forEach.call(inputs, function (input) {
    mark(input);
    input.addEventListener("input", function () { mark(input); });
    input.addEventListener("change", function () { mark(input); });
  });
  form.addEventListener("submit", function () {
    var button = form.querySelector('button[type="submit"]');
    if (button) { button.disabled = true; button.textContent = "正在提交…"; }
  });
  var firstError = form.querySelector('[aria-invalid="true"]');
  if (firstError) { firstError.focus(); }
})();

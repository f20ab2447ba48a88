// 申报表单: no double submission.
(function () {
  "use strict";
  var form = document.getElementById("apply-form");
  if (!form) { return; }
  form.addEventListener("submit", function () {
    var button = form.querySelector('button[type="submit"]');
    if (button) { button.disabled = true; button.textContent = "正在提交…"; }
  });
})();

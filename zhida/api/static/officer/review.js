// The review page: the version's impact preview, and approve / reject with a comment.
(function () {
  "use strict";
  const C = window.ZhidaConsole;

  async function loadPreview() {
    const root = document.getElementById("preview");
    const r = await C.api("GET", root.dataset.url);
    if (!r.ok) {
      root.querySelector("#preview-meta").textContent = C.errorText(r);
      return;
    }
    C.showPreview(root, r.data);
  }

  function wireReview() {
    const form = document.getElementById("review-form");
    if (!form) return;
    const out = document.getElementById("review-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const action = event.submitter ? event.submitter.value : "approve";
      const comment = document.getElementById("review-comment").value;
      if (action === "reject" && !comment.trim()) {
        out.className = "small error-text";
        out.textContent = "驳回时请填写意见。";
        return;
      }
      for (const b of form.querySelectorAll("button")) b.disabled = true;
      out.className = "small";
      out.textContent = action === "approve" ? "正在发布…" : "正在驳回…";
      const url = action === "approve" ? form.dataset.approve : form.dataset.reject;
      const r = await C.api("POST", url, { comment });
      if (!r.ok) {
        for (const b of form.querySelectorAll("button")) b.disabled = false;
        out.className = "small error-text";
        out.textContent = C.errorText(r);
        return;
      }
      if (action === "approve" && r.data.run) {
        window.location.assign(`/officer/runs/${r.data.run}`);
      } else {
        window.location.reload();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    loadPreview();
    wireReview();
  });
})();

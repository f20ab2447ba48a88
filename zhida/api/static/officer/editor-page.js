// The editor page: CodeMirror (editor.js) checked as the officer types, the policy's
// tests on demand, the impact preview, and submitting for review.
(function () {
  "use strict";
  const C = window.ZhidaConsole;
  const status = document.getElementById("check-status");
  const list = document.getElementById("diagnostics");
  let editor = null;

  function showReport(report) {
    list.replaceChildren();
    const errors = report.diagnostics.filter((d) => d.severity === "error").length;
    status.className = "check-status " + (report.ok ? "ok" : "bad");
    status.textContent = report.ok
      ? `检查通过，${report.tests.passed} 项测试通过`
      : `${errors} 个错误` + (report.tests.failed ? `，${report.tests.failed} 项测试未通过` : "");
    for (const d of report.diagnostics) {
      const li = C.el("li", { class: d.severity, "data-line": d.line, "data-col": d.col });
      li.appendChild(C.el("span", { class: "pos" }, `${d.line}:${d.col}`));
      li.appendChild(C.el("span", { class: "sev" }, d.severity === "error" ? "错误 " : "提示 "));
      li.appendChild(document.createTextNode(d.message + (d.hint ? `（${d.hint}）` : "")));
      li.addEventListener("click", () => {
        const line = editor.view.state.doc.line(Math.min(d.line, editor.view.state.doc.lines));
        const pos = Math.min(line.from + d.col - 1, line.to);
        editor.view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
        editor.view.focus();
      });
      list.appendChild(li);
    }
  }

  async function runTests() {
    const out = document.getElementById("tests-result");
    out.textContent = "正在运行测试…";
    const r = await C.api("POST", "/api/officer/check", { yaml: editor.text() });
    if (!r.ok) {
      out.textContent = C.errorText(r);
      return;
    }
    showReport(r.data);
    const t = r.data.tests;
    out.textContent = r.data.policy
      ? `政策测试：${t.passed} 项通过，${t.failed} 项未通过`
      : "政策未通过检查，无法运行测试。";
    out.dataset.passed = t.passed;
    out.dataset.failed = t.failed;
  }

  async function preview() {
    const button = document.getElementById("run-preview");
    button.disabled = true;
    const r = await C.api("POST", "/api/officer/preview", { yaml: editor.text() });
    button.disabled = false;
    const root = document.getElementById("preview");
    if (!r.ok) {
      root.hidden = false;
      root.querySelector("#preview-meta").textContent = C.errorText(r);
      return;
    }
    C.showPreview(root, r.data);
  }

  async function submit() {
    const out = document.getElementById("submit-result");
    out.textContent = "正在提交…";
    const r = await C.api("POST", "/api/officer/policies", { yaml: editor.text() });
    out.replaceChildren();
    if (!r.ok) {
      out.className = "small error-text";
      out.textContent = C.errorText(r);
      return;
    }
    out.className = "small ok-title";
    out.appendChild(document.createTextNode(`已提交 ${r.data.policy} v${r.data.version}，待审核。`));
    const link = C.el("a", { href: `/officer/review/${r.data.policy}/${r.data.version}`,
      id: "submitted-link" }, "查看审核页");
    out.appendChild(link);
  }

  document.addEventListener("DOMContentLoaded", () => {
    editor = window.ZhidaEditor.create(document.getElementById("editor"), {
      doc: document.getElementById("initial-yaml").value,
      csrf: C.csrf(),
      styleNonce: (document.querySelector('meta[name="style-nonce"]') || {}).content,
      onReport: showReport,
    });
    window.zhidaPolicyEditor = editor;
    document.getElementById("run-tests").addEventListener("click", runTests);
    document.getElementById("run-preview").addEventListener("click", preview);
    document.getElementById("submit-policy").addEventListener("click", submit);
  });
})();

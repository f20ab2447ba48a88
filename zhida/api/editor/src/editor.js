// The officer console's policy editor: CodeMirror 6 with YAML colouring, the server's
// checker as a linter (debounced POST /api/officer/check; errors underlined at their
// line and column), and completion of policy keys, profile fields and functions from
// GET /api/officer/schema. Bundled by ./dev (esbuild) into static/officer/editor.js;
// no CDN, nothing inline (the pages' Content-Security-Policy allows only 'self').
import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter } from "@codemirror/lint";
import { autocompletion } from "@codemirror/autocomplete";

const WORD = /[A-Za-z0-9_.\u4e00-\u9fff]/;

function offsetOf(doc, lineNo, col) {
  const line = doc.line(Math.min(Math.max(1, lineNo), doc.lines));
  return { line, from: line.from + Math.min(Math.max(0, col - 1), line.length) };
}

// a server diagnostic (1-based line and column) as a CodeMirror one over the word there
export function toDiagnostic(doc, d) {
  const { line, from } = offsetOf(doc, d.line, d.col);
  let to = from;
  while (to < line.to && WORD.test(doc.sliceString(to, to + 1))) to++;
  if (to === from && from < line.to) to = from + 1;
  return {
    from,
    to,
    severity: d.severity === "warning" ? "warning" : "error",
    message: d.hint ? `${d.message} (${d.hint})` : d.message,
  };
}

function audienceOf(text) {
  const m = /^audience:\s*(\w+)/m.exec(text);
  return m ? m[1] : "enterprise";
}

function completionSource(getVocabulary) {
  return (context) => {
    const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
    if (!word || (word.from === word.to && !context.explicit)) return null;
    const vocab = getVocabulary();
    if (!vocab) return null;
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, word.from - line.from);
    const options = [];
    if (/^\s*(-\s*)?$/.test(before)) {
      // a key at the start of a line (or of a list item)
      const keys = new Set([
        ...vocab.keys.policy,
        ...vocab.keys.criterion,
        ...vocab.keys.test,
        ...vocab.keys.expect,
      ]);
      for (const k of keys) options.push({ label: k, type: "keyword", apply: `${k}: ` });
    }
    const audience = audienceOf(context.state.doc.toString());
    for (const f of vocab.fields[audience] || []) {
      options.push({ label: f.name, type: "variable", detail: f.type, info: f.label });
    }
    for (const fn of vocab.functions) {
      options.push({ label: fn.name, type: "function", apply: `${fn.name}(`, detail: "函数" });
    }
    return { from: word.from, options, validFor: /^[A-Za-z0-9_]*$/ };
  };
}

// create(parent, {doc, csrf, onReport}) -> {view, text()}
export function create(parent, options) {
  let vocabulary = null;
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": options.csrf };
  fetch("/api/officer/schema", { headers, credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((v) => {
      vocabulary = v;
    });
  const check = linter(
    async (view) => {
      const text = view.state.doc.toString();
      let report;
      try {
        const r = await fetch("/api/officer/check", {
          method: "POST",
          headers,
          credentials: "same-origin",
          body: JSON.stringify({ yaml: text }),
        });
        if (!r.ok) return [];
        report = await r.json();
      } catch (err) {
        return [];
      }
      if (view.state.doc.toString() !== text) return [];
      if (options.onReport) options.onReport(report);
      return report.diagnostics.map((d) => toDiagnostic(view.state.doc, d));
    },
    { delay: options.delay || 300 },
  );
  const view = new EditorView({
    doc: options.doc || "",
    parent,
    extensions: [
      basicSetup,
      yaml(),
      lintGutter(),
      check,
      autocompletion({ override: [completionSource(() => vocabulary)] }),
      EditorView.lineWrapping,
      // the page's Content-Security-Policy allows CodeMirror's <style> by this nonce
      EditorView.cspNonce.of(options.styleNonce || ""),
    ],
  });
  return { view, text: () => view.state.doc.toString() };
}

// Shared by the console's pages: JSON calls with the session's CSRF token, and the
// impact preview drawn as bar charts (SVG) by city and industry with sample explanations.
(function () {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const SERIES = [
    ["newly_eligible", "新增符合"],
    ["no_longer_eligible", "不再符合"],
    ["newly_unknown", "新增待补充信息"],
  ];

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function api(method, url, body) {
    const options = {
      method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const r = await fetch(url, options);
    let data = null;
    try {
      data = await r.json();
    } catch (err) {
      data = null;
    }
    return { ok: r.ok, status: r.status, data };
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // groups: {"杭州市": {"newly_eligible": 3, ...}, ...} -> grouped bars
  function barChart(container, groups) {
    container.replaceChildren();
    const keys = Object.keys(groups);
    if (!keys.length) {
      container.appendChild(el("p", { class: "muted small" }, "无变化。"));
      return;
    }
    const max = Math.max(1, ...keys.flatMap((k) => SERIES.map(([s]) => groups[k][s] || 0)));
    const band = 64, bar = 16, height = 180, top = 10, bottom = 40;
    const width = Math.max(360, keys.length * band + 40);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
      "aria-label": "影响预览图" });
    chart.appendChild(svg("line", { x1: 30, y1: height - bottom, x2: width, y2: height - bottom,
      stroke: "#cbd5e1" }));
    keys.forEach((key, i) => {
      SERIES.forEach(([series], j) => {
        const value = groups[key][series] || 0;
        const h = ((height - top - bottom) * value) / max;
        const x = 40 + i * band + j * bar;
        const rect = svg("rect", { x, y: height - bottom - h, width: bar - 2, height: h,
          class: `c${j}`, "data-group": key, "data-series": series, "data-value": value });
        rect.appendChild(svg("title", {}, `${key} ${SERIES[j][1]}：${value}`));
        chart.appendChild(rect);
        if (value) chart.appendChild(svg("text", { x: x + 1, y: height - bottom - h - 2 }, value));
      });
      chart.appendChild(svg("text", { x: 40 + i * band, y: height - bottom + 16 }, key));
    });
    container.appendChild(chart);
    const legend = el("div", { class: "legend" });
    SERIES.forEach(([, label], j) => {
      const item = el("span");
      item.appendChild(el("span", { class: `swatch c${j}` }));
      item.appendChild(document.createTextNode(label));
      legend.appendChild(item);
    });
    container.appendChild(legend);
  }

  // With `budget:`: the forecast spend against the budget, as text and one bar each.
  function showForecast(box, forecast) {
    if (!box) return;
    box.replaceChildren();
    box.hidden = !forecast;
    if (!forecast) return;
    const pct = (share) => `${(share * 100).toFixed(1)}%`;
    box.appendChild(el("h3", { class: "small" }, `预算测算（预算 ${forecast.budget_text}）`));
    const rows = [
      ["spend", "新增符合主体的扶持金额合计", forecast.spend_text, forecast.share],
      ["eligible", "全部符合主体的扶持金额合计", forecast.eligible_spend_text,
        forecast.eligible_share],
    ];
    const width = 360, barHeight = 14;
    for (const [key, label, amount, share] of rows) {
      const line = el("div", { class: "forecast-row", "data-key": key });
      line.appendChild(el("span", { class: "small" }, `${label}：${amount}，占预算 ${pct(share)}`));
      const bar = svg("svg", { viewBox: `0 0 ${width} ${barHeight}`, width, height: barHeight,
        role: "img", "aria-label": `${label}占预算 ${pct(share)}` });
      bar.appendChild(svg("rect", { x: 0, y: 0, width, height: barHeight, class: "budget" }));
      bar.appendChild(svg("rect", { x: 0, y: 0, height: barHeight,
        width: Math.min(1, share) * width, class: share > 1 ? "spend over" : "spend" }));
      line.appendChild(bar);
      box.appendChild(line);
    }
    if (forecast.over_budget) {
      box.appendChild(el("p", { class: "error-text small" }, "全部符合主体的扶持金额合计超出预算。"));
    }
    if (forecast.unpriced) {
      box.appendChild(el("p", { class: "muted small" },
        `另有 ${forecast.unpriced.toLocaleString()} 个新增符合主体的扶持金额无法确定，未计入。`));
    }
  }

  function showPreview(root, impact) {
    root.hidden = false;
    root.querySelector("#preview-meta").textContent =
      `评估日期 ${impact.as_of}，${impact.profiles.toLocaleString()} 个主体，用时 ${impact.seconds}s`;
    const summary = root.querySelector("#preview-summary");
    summary.replaceChildren();
    for (const [key, label] of [...SERIES, ["unchanged", "不变"]]) {
      const kpi = el("div", { class: "kpi", "data-key": key });
      kpi.appendChild(el("span", { class: "muted small" }, label));
      kpi.appendChild(el("strong", {}, (impact[key] || 0).toLocaleString()));
      summary.appendChild(kpi);
    }
    showForecast(root.querySelector("#preview-forecast"), impact.forecast);
    barChart(root.querySelector("#chart-city"), impact.by_city);
    barChart(root.querySelector("#chart-industry"), impact.by_industry);
    const samples = root.querySelector("#samples");
    samples.replaceChildren();
    if (!impact.samples.length) samples.appendChild(el("p", { class: "muted small" }, "无样例。"));
    for (const s of impact.samples) {
      const box = el("div", { class: "sample" });
      box.appendChild(el("strong", { class: "small" }, `${s.profile}（${s.change}）`));
      box.appendChild(el("pre", {}, s.explanation));
      samples.appendChild(box);
    }
  }

  function errorText(result) {
    const d = result.data || {};
    return d.detail || d.message || `请求失败（${result.status}）`;
  }

  window.ZhidaConsole = { api, el, barChart, showPreview, errorText, csrf };
})();

// A run's page: live progress from Server-Sent Events until the run is done.
(function () {
  "use strict";
  const NAMES = { pending: "排队中", running: "进行中", done: "已完成", failed: "失败" };

  function show(run) {
    const status = document.getElementById("run-status");
    status.textContent = NAMES[run.status] || run.status;
    status.dataset.status = run.status;
    document.getElementById("run-chunks").textContent =
      `${run.chunks_done}/${run.chunks_total} 个分片`;
    const bar = document.getElementById("run-bar");
    const share = run.chunks_total ? run.chunks_done / run.chunks_total : run.status === "done" ? 1 : 0;
    bar.style.width = `${Math.round(share * 100)}%`;
    bar.classList.toggle("w-done", run.status === "done");
    bar.dataset.done = run.chunks_done;
    document.getElementById("run-progress").setAttribute("aria-valuenow", run.chunks_done);
    for (const dd of document.querySelectorAll("#run-counts dd")) {
      const value = (run.counts || {})[dd.dataset.key] || 0;
      dd.textContent = value.toLocaleString();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const root = document.getElementById("run");
    const bar = document.getElementById("run-bar");
    const total = Number(bar.dataset.total) || 0;
    bar.style.width = total ? `${Math.round((Number(bar.dataset.done) / total) * 100)}%` : "0";
    if (root.dataset.status === "done") {
      bar.style.width = "100%";
      bar.classList.add("w-done");
      return;
    }
    const source = new EventSource(root.dataset.events);
    source.addEventListener("progress", (e) => show(JSON.parse(e.data)));
    source.addEventListener("end", () => source.close());
  });
})();

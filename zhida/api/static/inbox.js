// 我的消息: mark read, and live push (Server-Sent Events) with a toast.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var list = document.getElementById("messages");
  var badge = document.getElementById("unread-count");
  var toasts = document.getElementById("toasts");
  var empty = document.getElementById("empty");
  if (!list) { return; }

  function setUnread(n) {
    badge.textContent = String(n);
    badge.setAttribute("data-count", String(n));
  }

  function safeLink(link) {
    return typeof link === "string" && /^(https?:\/\/|\/)/.test(link) ? link : null;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function render(m) {
    var li = el("li", "card msg" + (m.read ? "" : " unread"));
    li.setAttribute("data-id", String(m.id));
    var head = el("div", "msg-head");
    if (!m.read) { var dot = el("span", "dot", "未读"); dot.title = "未读"; head.appendChild(dot); }
    head.appendChild(el("span", "tag tag-" + (m.kind === "maybe" ? "maybe" : "eligible"),
      m.kind === "maybe" ? "可能符合" : m.kind === "notice" ? "通知" : "符合条件"));
    head.appendChild(el("h2", "msg-title", m.title));
    var time = el("time", "", m.created_text);
    time.setAttribute("datetime", m.created_at);
    head.appendChild(time);
    li.appendChild(head);
    li.appendChild(el("p", "msg-body", m.body));
    var actions = el("div", "msg-actions");
    var link = safeLink(m.link);
    if (link) { var a = el("a", "button apply", "去申报"); a.href = link; actions.appendChild(a); }
    if (!m.read) {
      var b = el("button", "link-button mark-read", "标为已读");
      b.type = "button";
      actions.appendChild(b);
    }
    li.appendChild(actions);
    return li;
  }

  function toast(m) {
    var t = el("div", "toast");
    t.appendChild(el("strong", "", "新消息"));
    t.appendChild(el("span", "toast-title", m.title));
    var link = safeLink(m.link);
    if (link) {
      t.appendChild(document.createTextNode(" "));
      var a = el("a", "", "去申报");
      a.href = link;
      t.appendChild(a);
    }
    toasts.appendChild(t);
    setTimeout(function () { t.remove(); }, 10000);
  }

  function markRead(li, keepalive) {
    if (!li || !li.classList.contains("unread")) { return; }
    var id = li.getAttribute("data-id");
    li.classList.remove("unread");
    var dot = li.querySelector(".dot"); if (dot) { dot.remove(); }
    var btn = li.querySelector(".mark-read"); if (btn) { btn.remove(); }
    fetch("/api/inbox/" + encodeURIComponent(id) + "/read", {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "X-CSRF-Token": csrf }
    }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { setUnread(d.unread); } })
      .catch(function () { /* the next page load shows the truth */ });
  }

  list.addEventListener("click", function (e) {
    var target = e.target;
    var li = target.closest("li.msg");
    if (target.closest(".mark-read")) { markRead(li, false); }
    else if (target.closest("a.apply")) { markRead(li, true); }
  });

  if (!window.EventSource) { return; }
  var after = list.getAttribute("data-after") || "0";
  var source = new EventSource("/api/inbox/stream?after=" + encodeURIComponent(after));
  source.addEventListener("inbox", function (ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (err) { return; }
    if (list.querySelector('li[data-id="' + String(m.id) + '"]')) { return; }
    list.insertBefore(render(m), list.firstChild);
    if (empty) { empty.hidden = true; }
    if (typeof m.unread === "number") { setUnread(m.unread); }
    toast(m);
  });
})();

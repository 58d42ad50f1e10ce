// The ranking board: responses go into rank groups (same group = tie) by HTML5 drag and drop,
// by the toolbar buttons (touch screens) or entirely by keyboard. The form posts one hidden
// rank-<position> input per response; the state is also saved as a server-side draft so a
// reload (or a refused submit) keeps the work. Everything is built with textContent: response
// text never becomes markup.
(function () {
  "use strict";
  const form = document.getElementById("ranking-form");
  const dataNode = document.getElementById("ranking-data");
  if (!form || !dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const byPos = new Map(data.responses.map((r) => [r.pos, r]));
  const byNumber = new Map(data.responses.map((r) => [r.number, r]));
  const pool = document.getElementById("pool");
  const board = document.getElementById("board");
  const selectionNote = document.getElementById("selection");
  const draftStatus = document.getElementById("draft-status");
  const errorList = document.getElementById("client-errors");
  const secondsInput = document.getElementById("seconds-spent");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  // The server draft is the truth across devices; a copy in localStorage, written on every
  // change, covers a reload that overtakes the last draft request. The newer one wins.
  const localKey = "preflab-draft:" + form.dataset.draftUrl;
  let local = null;
  try {
    local = JSON.parse(localStorage.getItem(localKey) || "null");
  } catch (err) {
    local = null;
  }
  if (local && (local.at || 0) > (data.draftAt || 0)) {
    data.groups = local.groups;
    data.seconds = local.seconds;
    applyFields(local);
  }

  function applyFields(draft) {
    for (const r of data.responses) {
      const value = (draft.likert || {})[r.pos];
      form.querySelectorAll(`input[name="likert-${r.pos}"]`).forEach((i) => {
        i.checked = Number(i.value) === value;
      });
      const flags = (draft.flags || {})[r.pos] || [];
      form.querySelectorAll(`input[name="flags-${r.pos}"]`).forEach((i) => {
        i.checked = flags.includes(i.value);
      });
    }
    form.elements.comment.value = draft.comment || "";
    form.elements.all_unacceptable.checked = Boolean(draft.all_unacceptable);
  }

  // State: groups of canonical positions, best first; everything else is unranked.
  let groups = (data.groups || [])
    .map((g) => g.filter((p) => byPos.has(p)))
    .filter((g) => g.length);
  const seen = new Set();
  groups = groups.map((g) => g.filter((p) => !seen.has(p) && seen.add(p))).filter((g) => g.length);
  let selected = null;
  let ratingMode = false;
  let seconds = Number(data.seconds) || 0;
  secondsInput.value = String(seconds);
  let submitting = false;

  const groupIndex = (pos) => groups.findIndex((g) => g.includes(pos));
  const unranked = () =>
    data.responses.filter((r) => groupIndex(r.pos) === -1).map((r) => r.pos);

  function detach(pos) {
    const g = groupIndex(pos);
    if (g === -1) return;
    groups[g] = groups[g].filter((p) => p !== pos);
    if (!groups[g].length) groups.splice(g, 1);
  }

  // Put pos alone in a new rank just before `anchor` (a group array) or at the end.
  function insertBefore(pos, anchor) {
    if (anchor && anchor.length === 1 && anchor[0] === pos) return;
    detach(pos);
    const at = anchor ? groups.indexOf(anchor) : -1;
    groups.splice(at === -1 ? groups.length : at, 0, [pos]);
  }

  function join(pos, group) {
    if (group.includes(pos)) return;
    detach(pos);
    group.push(pos);
  }

  const actions = {
    add(pos) {
      if (groupIndex(pos) === -1) groups.push([pos]);
    },
    up(pos) {
      const g = groupIndex(pos);
      if (g === -1) return actions.add(pos);
      if (groups[g].length > 1) insertBefore(pos, groups[g]);
      else if (g > 0) [groups[g - 1], groups[g]] = [groups[g], groups[g - 1]];
    },
    down(pos) {
      const g = groupIndex(pos);
      if (g === -1) return actions.add(pos);
      if (groups[g].length > 1) {
        detach(pos);
        groups.splice(g + 1, 0, [pos]);
      } else if (g < groups.length - 1) {
        [groups[g + 1], groups[g]] = [groups[g], groups[g + 1]];
      }
    },
    tie(pos) {
      const g = groupIndex(pos);
      if (g === -1 && groups.length) return join(pos, groups[groups.length - 1]);
      if (g > 0) join(pos, groups[g - 1]);
    },
    unrank(pos) {
      detach(pos);
    },
  };

  function rankLabel(i) {
    if (i === 0) return "Rank 1 · best";
    if (i === groups.length - 1 && groups.length > 1) return `Rank ${i + 1} · worst`;
    return `Rank ${i + 1}`;
  }

  function chip(pos) {
    const r = byPos.get(pos);
    const el = document.createElement("button");
    el.type = "button";
    el.className = "chip" + (pos === selected ? " selected" : "");
    el.draggable = true;
    el.dataset.pos = String(pos);
    el.dataset.number = String(r.number);
    el.setAttribute("aria-pressed", pos === selected ? "true" : "false");
    const num = document.createElement("span");
    num.className = "num";
    num.textContent = String(r.number);
    const snippet = document.createElement("span");
    snippet.className = "snippet";
    snippet.textContent = r.snippet;
    el.append(num, snippet);
    el.addEventListener("click", () => select(pos));
    el.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", String(pos));
      e.dataTransfer.effectAllowed = "move";
      // Not select(): re-rendering now would remove the element being dragged.
      selected = pos;
      board.classList.add("dragging");
    });
    return el;
  }

  function dropZone(el, onDrop) {
    el.addEventListener("dragover", (e) => {
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      el.classList.add("over");
    });
    el.addEventListener("dragleave", () => el.classList.remove("over"));
    el.addEventListener("drop", (e) => {
      e.preventDefault();
      el.classList.remove("over");
      const pos = Number(e.dataTransfer.getData("text/plain"));
      if (!byPos.has(pos)) return;
      onDrop(pos);
      changed(`Response ${byPos.get(pos).number} moved.`);
    });
  }

  function gap(anchor, label) {
    const el = document.createElement("li");
    el.className = "gap" + (anchor ? "" : " gap-end");
    el.dataset.drop = anchor ? "gap" : "end";
    el.textContent = label;
    dropZone(el, (pos) => insertBefore(pos, anchor));
    return el;
  }

  function render() {
    pool.replaceChildren();
    const left = unranked();
    const poolTitle = document.createElement("div");
    poolTitle.className = "pool-title";
    poolTitle.textContent = left.length ? "Not ranked yet" : "All responses ranked";
    pool.append(poolTitle, ...left.map(chip));
    board.replaceChildren();
    groups.forEach((group, i) => {
      board.append(gap(group, "new rank here"));
      const row = document.createElement("li");
      row.className = "rank-group" + (group.length > 1 ? " tied" : "");
      row.dataset.drop = "group";
      row.dataset.rank = String(i + 1);
      const label = document.createElement("span");
      label.className = "rank-label";
      label.textContent = rankLabel(i) + (group.length > 1 ? " · tie" : "");
      const chips = document.createElement("div");
      chips.className = "chips";
      chips.append(...group.map(chip));
      row.append(label, chips);
      dropZone(row, (pos) => join(pos, group));
      board.append(row);
    });
    board.append(gap(null, groups.length ? "Drop here for the next rank" : "Drop here for rank 1"));
    for (const r of data.responses) {
      const g = groupIndex(r.pos);
      document.getElementById(`rank-${r.pos}`).value = g === -1 ? "" : String(g + 1);
      const card = document.getElementById(`response-${r.number}`);
      card.classList.toggle("selected", r.pos === selected);
      card.dataset.rank = g === -1 ? "" : String(g + 1);
    }
  }

  function select(pos, announce = true) {
    selected = pos;
    ratingMode = false;
    const r = byPos.get(pos);
    const g = groupIndex(pos);
    if (announce) {
      selectionNote.textContent =
        `Response ${r.number} selected` + (g === -1 ? " (not ranked yet)." : `, rank ${g + 1}.`);
    }
    render();
  }

  // --- drafts: saved on the server a moment after each change --------------------------
  function collect() {
    const likert = {};
    const flags = {};
    for (const r of data.responses) {
      const checked = form.querySelector(`input[name="likert-${r.pos}"]:checked`);
      if (checked) likert[r.pos] = Number(checked.value);
      const f = [...form.querySelectorAll(`input[name="flags-${r.pos}"]:checked`)].map(
        (i) => i.value,
      );
      if (f.length) flags[r.pos] = f;
    }
    return {
      groups,
      likert,
      flags,
      comment: form.elements.comment.value,
      all_unacceptable: form.elements.all_unacceptable.checked,
      seconds,
      at: Date.now(),
    };
  }

  function saveLocal() {
    if (submitting) return;
    try {
      localStorage.setItem(localKey, JSON.stringify(collect()));
    } catch (err) {
      // Storage full or disabled: the server draft still works.
    }
  }

  let timer = null;
  function saveDraft(beacon) {
    clearTimeout(timer);
    if (submitting) return;
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrf);
    body.append("draft", JSON.stringify(collect()));
    if (beacon && navigator.sendBeacon) {
      navigator.sendBeacon(form.dataset.draftUrl, body);
      return;
    }
    fetch(form.dataset.draftUrl, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf },
    })
      .then((res) => {
        draftStatus.textContent = res.ok ? "Draft saved." : "Draft not saved.";
        form.dataset.draftSaved = res.ok ? "yes" : "no";
      })
      .catch(() => {
        draftStatus.textContent = "Draft not saved (offline?).";
      });
  }
  function scheduleDraft() {
    saveLocal();
    form.dataset.draftSaved = "pending";
    clearTimeout(timer);
    timer = setTimeout(() => saveDraft(false), 400);
  }
  function changed(message) {
    render();
    if (message) selectionNote.textContent = message;
    scheduleDraft();
  }
  form.addEventListener("change", (e) => {
    if (e.target.name && e.target.name.startsWith("flags-")) {
      const details = e.target.closest("details");
      const n = details.querySelectorAll("input:checked").length;
      details.querySelector("summary").textContent = n ? `Flags (${n})` : "Flags";
    }
    scheduleDraft();
  });
  form.elements.comment.addEventListener("input", scheduleDraft);
  // Leaving or hiding the page saves at once (a beacon survives the page going away).
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") saveDraft(true);
  });
  window.addEventListener("pagehide", () => saveDraft(true));

  // Time spent: seconds while the page is visible, kept across reloads through the draft.
  setInterval(() => {
    if (document.visibilityState === "visible") {
      seconds += 1;
      secondsInput.value = String(seconds);
      saveLocal();
    }
  }, 1000);

  // --- validation before submit (the server checks everything again) --------------------
  function problems() {
    const out = [];
    for (const r of data.responses) {
      if (groupIndex(r.pos) === -1) out.push(`Response ${r.number} is not ranked yet.`);
      if (!form.querySelector(`input[name="likert-${r.pos}"]:checked`))
        out.push(`Response ${r.number} has no rating.`);
    }
    if (!data.allowTies && groups.some((g) => g.length > 1))
      out.push("This project does not allow ties: give every response its own rank.");
    if (unranked().length === 0 && groups.length < 2)
      out.push("Put at least two responses on different ranks: all tied compares nothing.");
    return out;
  }
  form.addEventListener("submit", (e) => {
    render();
    secondsInput.value = String(seconds);
    const found = problems();
    errorList.replaceChildren(
      ...found.map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
    if (found.length) {
      e.preventDefault();
      return;
    }
    // A refused submit comes back with the posted state as the (newer) server draft.
    localStorage.removeItem(localKey);
    submitting = true;
    clearTimeout(timer);
    document.getElementById("submit-ranking").disabled = true;
  });

  // --- toolbar and keyboard ---------------------------------------------------------------
  function act(name) {
    if (selected === null) {
      selectionNote.textContent = "Select a response first: click it or press its number.";
      return;
    }
    actions[name](selected);
    const g = groupIndex(selected);
    const n = byPos.get(selected).number;
    changed(g === -1 ? `Response ${n} is not ranked.` : `Response ${n} is at rank ${g + 1}.`);
  }
  document.querySelectorAll(".toolbar [data-action]").forEach((b) => {
    b.addEventListener("click", () => act(b.dataset.action));
  });
  dropZone(pool, (pos) => detach(pos));
  // The dragged chip may be gone after a drop re-rendered the board, so listen on document.
  for (const type of ["dragend", "drop"]) {
    document.addEventListener(type, () => board.classList.remove("dragging"));
  }

  function rate(value) {
    const input = form.querySelector(`input[name="likert-${selected}"][value="${value}"]`);
    if (!input) return;
    input.checked = true;
    selectionNote.textContent = `Response ${byPos.get(selected).number} rated ${value}.`;
    scheduleDraft();
  }

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    const typing =
      t.tagName === "TEXTAREA" ||
      t.tagName === "SELECT" ||
      (t.tagName === "INPUT" && !["radio", "checkbox"].includes(t.type));
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
      return;
    }
    if (typing || e.altKey || e.ctrlKey || e.metaKey) return;
    if (/^[1-9]$/.test(e.key)) {
      const value = Number(e.key);
      if (ratingMode && selected !== null) {
        if (value <= data.likertMax) rate(value);
        ratingMode = false;
      } else if (byNumber.has(value)) {
        select(byNumber.get(value).pos);
      } else {
        return;
      }
      e.preventDefault();
      return;
    }
    const keys = {
      Enter: "add",
      ArrowUp: "up",
      k: "up",
      ArrowDown: "down",
      j: "down",
      t: "tie",
      Backspace: "unrank",
      Delete: "unrank",
    };
    if (e.key in keys) {
      // Enter on a focused button and arrows on a radio group keep their usual meaning.
      if (e.key === "Enter" && (t.tagName === "BUTTON" || t.tagName === "SUMMARY")) return;
      if (t.type === "radio" && e.key.startsWith("Arrow")) return;
      if (selected === null) return;
      e.preventDefault();
      act(keys[e.key]);
    } else if (e.key === "r" && selected !== null) {
      ratingMode = true;
      selectionNote.textContent = `Rate response ${byPos.get(selected).number}: press 1–${data.likertMax}.`;
    } else if (e.key === "?") {
      const help = document.getElementById("shortcuts");
      help.open = !help.open;
    } else if (e.key === "Escape") {
      ratingMode = false;
    }
  });

  render();
})();

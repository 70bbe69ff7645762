// zh-medner page: annotate pasted text or an uploaded file without reloading the page.
// The plain form (GET /?text=...) works without this script; the script posts to /render,
// which returns the same server-side displaCy markup, and builds the JSON download.
"use strict";
(function () {
  const MAX_UPLOAD = 1000; // texts from one file; larger files: `zh-medner annotate`
  const body = document.body;
  const maxTexts = parseInt(body.dataset.maxTexts, 10);
  const maxChars = parseInt(body.dataset.maxChars, 10);
  const form = document.getElementById("form");
  const textarea = document.getElementById("text");
  const fileInput = document.getElementById("file");
  const results = document.getElementById("results");
  const status = document.getElementById("status");
  const download = document.getElementById("download");
  const submit = document.getElementById("submit");
  let downloadUrl = null;

  function say(message, isError) {
    status.textContent = message;
    status.className = isError ? "error" : "";
  }

  function offerDownload(docs) {
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    const blob = new Blob([JSON.stringify({ docs: docs }, null, 1)], { type: "application/json" });
    downloadUrl = URL.createObjectURL(blob);
    download.href = downloadUrl;
    download.hidden = docs.length === 0;
  }

  async function render(texts) {
    const response = await fetch("/render", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ texts: texts }),
    });
    const data = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) throw new Error(`${response.status}: ${data.detail}`);
    return data;
  }

  async function annotate(texts, notes) {
    submit.disabled = true;
    results.innerHTML = "";
    const docs = [];
    try {
      for (let i = 0; i < texts.length; i += maxTexts) {
        say(`Annotating ${Math.min(i + maxTexts, texts.length)} of ${texts.length}…`);
        const data = await render(texts.slice(i, i + maxTexts));
        results.insertAdjacentHTML("beforeend", data.html);
        docs.push(...data.docs);
      }
      const ents = docs.reduce((n, d) => n + d.ents.length, 0);
      say([`${docs.length} text(s), ${ents} entities.`].concat(notes || []).join(" "));
    } catch (err) {
      say(`Not annotated: ${err.message}`, true);
    } finally {
      offerDownload(docs);
      submit.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textarea.value;
    if (!text.trim()) {
      say("Paste a text first.", true);
      return;
    }
    if (text.length <= 2000) {
      history.replaceState(null, "", "/?text=" + encodeURIComponent(text)); // a shareable link
    }
    annotate([text]);
  });

  function textsOf(name, content) {
    const texts = [];
    const notes = [];
    content.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      let text = line;
      if (name.endsWith(".jsonl")) {
        try {
          text = JSON.parse(line).text;
        } catch (err) {
          notes.push(`line ${i + 1}: invalid JSON, skipped.`);
          return;
        }
        if (typeof text !== "string") {
          notes.push(`line ${i + 1}: no "text" string, skipped.`);
          return;
        }
      }
      if (text.length > maxChars) {
        notes.push(`line ${i + 1}: over ${maxChars} characters, skipped.`);
        return;
      }
      texts.push(text);
    });
    return { texts: texts, notes: notes };
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return;
    if (!/\.(txt|jsonl)$/.test(file.name)) {
      say("Choose a .txt or .jsonl file.", true);
      return;
    }
    file.text().then((content) => {
      const parsed = textsOf(file.name, content);
      if (parsed.texts.length > MAX_UPLOAD) {
        parsed.notes.push(`Only the first ${MAX_UPLOAD} texts; use \`zh-medner annotate\` for files.`);
        parsed.texts = parsed.texts.slice(0, MAX_UPLOAD);
      }
      if (!parsed.texts.length) {
        say(["No text in the file."].concat(parsed.notes).join(" "), true);
        return;
      }
      annotate(parsed.texts, parsed.notes);
    });
  });
})();

// A tiny element builder. Children that are strings become text nodes, so text from the user
// or the model is never parsed as HTML.

/**
 * h("button", { class: "primary", type: "button", onclick: fn }, "Send")
 * Props: `class`, `text` (textContent), `dataset` (object), `on<event>` (listener),
 * booleans (true → empty attribute, false/null → omitted), anything else → attribute.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

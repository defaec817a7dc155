// What went wrong, said next to the field it concerns. A form names its fields (body name → control)
// and which error codes concern which field; a refusal's message then shows right under that control,
// which is outlined (aria-invalid) and described by it (aria-describedby), and gets the focus. A
// pydantic 422 (`invalid_request`) names its field first in its message ("The request is not valid:
// password: …", gateway/error_shape.py); an error about no one field is the caller's to show (a banner).

import { h } from "./dom.js";

const FIELD_IN_MESSAGE = /^The request is not valid: ([\w.]+): /;

export class FieldErrors {
  /**
   * @param {Record<string, HTMLElement>} fields  each field's control, by its name in the request body
   * @param {Record<string, string>} byCode  error code → the field it is about
   */
  constructor(fields, byCode = {}) {
    this.fields = fields;
    this.byCode = byCode;
    this.shown = []; // [control, note] of the error on screen
  }

  /** Show `err` by its field; false when it concerns no field of this form (show it elsewhere). */
  show(err) {
    const control = this.fields[this.fieldOf(err)];
    if (!control) {
      this.clear();
      return false;
    }
    this.place(control, err.message || String(err));
    return true;
  }

  /** Show `message` under `control` (a form that finds the field itself: the settings name theirs in quotes). */
  place(control, message) {
    this.clear();
    const base = control.id || control.dataset.testid || "field";
    const note = h("p", { class: "field-error", id: `${base}-error`, role: "alert", dataset: { testid: `${control.dataset.testid || base}-error` } }, message);
    const field = control.closest(".field");
    if (field) field.append(note);
    else control.after(note);
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", [control.getAttribute("aria-describedby"), note.id].filter(Boolean).join(" "));
    control.addEventListener("input", () => this.clear(), { once: true }); // fixing it takes the message away
    this.shown = [control, note];
    control.focus();
  }

  /** Take the error away (before a new attempt). */
  clear() {
    if (!this.shown.length) return;
    const [control, note] = this.shown;
    const rest = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== note.id);
    if (rest.length) control.setAttribute("aria-describedby", rest.join(" "));
    else control.removeAttribute("aria-describedby");
    control.removeAttribute("aria-invalid");
    note.remove();
    this.shown = [];
  }

  fieldOf(err) {
    if (err?.code && this.byCode[err.code]) return this.byCode[err.code];
    const named = FIELD_IN_MESSAGE.exec(err?.message || "");
    return named ? named[1].split(".")[0] : null;
  }
}

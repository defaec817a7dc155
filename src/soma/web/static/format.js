// Short, readable text for sizes, durations, timestamps and counts, and the JSON objects tool calls take.

const BYTE_UNITS = ["KiB", "MiB", "GiB"];

/** 1536 → "1.5 KiB"; binary units, like the settings' limits (20 MiB = 20 × 1024 × 1024 bytes). */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (Math.abs(bytes) < 1024) return `${bytes} ${bytes === 1 ? "byte" : "bytes"}`;
  let value = bytes;
  let unit = "";
  for (const next of BYTE_UNITS) {
    value /= 1024;
    unit = next;
    if (Math.abs(value) < 1024) break;
  }
  return `${value.toFixed(value < 10 ? 1 : 0).replace(/\.0$/, "")} ${unit}`;
}

/** 840 → "840 ms", 1530 → "1.5 s", 95000 → "1 min 35 s"; "" for anything that is not a number. */
export function formatDuration(ms) {
  if (!Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 59.5) return `${seconds.toFixed(seconds < 10 ? 1 : 0).replace(/\.0$/, "")} s`;
  const whole = Math.round(seconds);
  const rest = whole % 60;
  return `${Math.floor(whole / 60)} min${rest ? ` ${rest} s` : ""}`;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

/** An ISO timestamp in the reader's locale, e.g. "14 Mar 2025, 10:32"; "" for anything unparsable. */
export function formatDateTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : DATE_TIME.format(date);
}

/** The same timestamp in full, for a tooltip. */
export function formatFullDateTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : FULL.format(date);
}

/** (3, "chat") → "3 chats", (1, "memory", "memories") → "1 memory". */
export function formatCount(count, one, many = `${one}s`) {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

/** ["a", "b", "c"] → "a, b and c". */
export function formatList(items) {
  return items.length < 2 ? items.join("") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** A JSON object from text (a tool call's arguments, as the SLM wrote them); null when it is not one. */
export function parseObject(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}

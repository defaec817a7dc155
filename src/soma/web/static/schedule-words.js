// A task's schedule in words, for the Tasks page: "Every day at 09:00 (Europe/Paris)", "Every 2
// seconds", "Once, on 3 Jan 2027, 09:00". Cron expressions as the server reads them: five fields
// (minute hour day-of-month month day-of-week), or six with the seconds as the sixth, last field.
// Only the common shapes get words; any other expression is shown as it is, which is never wrong.

import { formatDateTime } from "./format.js";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAY_NAMES = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const UNITS = [
  [86400, "day"],
  [3600, "hour"],
  [60, "minute"],
  [1, "second"],
]; // seconds in each

/** The whole schedule in words. */
export function describeSchedule(schedule) {
  if (!schedule || typeof schedule !== "object") return "No schedule";
  if (Number.isInteger(schedule.every_seconds)) return `Every ${interval(schedule.every_seconds)}`;
  if (Array.isArray(schedule.at)) return dates(schedule.at);
  if (typeof schedule.cron === "string") {
    const words = cronWords(schedule.cron);
    return schedule.timezone ? `${words} (${schedule.timezone})` : words;
  }
  return "An unknown schedule";
}

/** 2 → "2 seconds", 300 → "5 minutes", 3600 → "hour", 5400 → "90 minutes". */
export function interval(seconds) {
  const [size, unit] = UNITS.find(([size]) => seconds % size === 0) || UNITS[UNITS.length - 1];
  const count = seconds / size;
  return count === 1 ? unit : `${count} ${unit}s`;
}

function dates(at) {
  const sorted = [...at].sort((a, b) => new Date(a) - new Date(b));
  if (sorted.length === 0) return "No dates";
  if (sorted.length === 1) return `Once, on ${formatDateTime(sorted[0])}`;
  return `On ${sorted.length} dates, ${formatDateTime(sorted[0])} to ${formatDateTime(sorted[sorted.length - 1])}`;
}

/** Words for the usual cron shapes; `Cron "<expression>"` for the rest. */
export function cronWords(expression) {
  const fields = expression.trim().split(/\s+/);
  const asIs = `Cron "${expression.trim()}"`;
  if (fields.length !== 5 && fields.length !== 6) return asIs;
  const [minute, hour, dom, month, dow, second = "0"] = fields;
  const everyDay = dom === "*" && month === "*" && dow === "*";
  if (second !== "0") {
    if (minute !== "*" || hour !== "*" || !everyDay) return asIs;
    if (second === "*") return "Every second";
    const step = /^\*\/(\d+)$/.exec(second);
    return step ? `Every ${interval(Number(step[1]))}` : asIs;
  }
  if (hour === "*" && everyDay) {
    if (minute === "*") return "Every minute";
    const step = /^\*\/(\d+)$/.exec(minute);
    if (step) return `Every ${interval(Number(step[1]) * 60)}`;
    if (/^\d+$/.test(minute)) return `Every hour at ${Number(minute)} ${Number(minute) === 1 ? "minute" : "minutes"} past`;
    return asIs;
  }
  const step = /^\*\/(\d+)$/.exec(hour);
  if (step && /^\d+$/.test(minute) && everyDay) return `Every ${interval(Number(step[1]) * 3600)} at :${pad(minute)}`;
  const times = clockTimes(hour, minute);
  if (!times) return asIs;
  if (everyDay) return `Every day at ${times}`;
  if (dom === "*" && month === "*") {
    const days = weekdays(dow);
    return days ? `Every ${days} at ${times}` : asIs;
  }
  if (/^\d+$/.test(dom) && month === "*" && dow === "*") return `Every month on day ${Number(dom)} at ${times}`;
  return asIs;
}

/** "9,17" and "0" → "09:00 and 17:00"; null unless both are plain numbers or lists of them. */
function clockTimes(hour, minute) {
  if (!/^\d+(,\d+)*$/.test(hour) || !/^\d+$/.test(minute)) return null;
  const times = hour.split(",").map((h) => `${pad(h)}:${pad(minute)}`);
  return times.length === 1 ? times[0] : `${times.slice(0, -1).join(", ")} and ${times[times.length - 1]}`;
}

/** "1-5" → "Monday to Friday", "1,3" → "Monday and Wednesday"; null for anything else. */
function weekdays(dow) {
  const day = (text) => {
    const n = /^\d$/.test(text) ? Number(text) % 7 : DAY_NAMES[text.toLowerCase()];
    return n === undefined ? null : DAYS[n];
  };
  const range = /^(\w+)-(\w+)$/.exec(dow);
  if (range) {
    const [from, to] = [day(range[1]), day(range[2])];
    return from && to ? `${from} to ${to}` : null;
  }
  const days = dow.split(",").map(day);
  if (days.some((d) => !d)) return null;
  return days.length === 1 ? days[0] : `${days.slice(0, -1).join(", ")} and ${days[days.length - 1]}`;
}

function pad(number) {
  return String(Number(number)).padStart(2, "0");
}

// Syntax highlighting for code blocks: a few common languages, tokenised by one regular
// expression each into comments, strings, numbers, keywords and the like. Tokens become
// <span class="tok-…"> around Text nodes, so highlighting can never turn code into markup.
// A language we do not know (HTML and XML included) is shown as plain text.

import { h } from "./dom.js";

const words = (list) => `\\b(?:${list.split(" ").join("|")})\\b`;

// Each rule: [token class, pattern source]; the first rule that matches at a position wins.
const PYTHON = [
  ["comment", "#[^\\n]*"],
  ["string", `[rRbBfFuU]{0,2}(?:"""[\\s\\S]*?(?:"""|$)|'''[\\s\\S]*?(?:'''|$)|"(?:\\\\.|[^"\\\\\\n])*"?|'(?:\\\\.|[^'\\\\\\n])*'?)`],
  ["meta", "@[\\w.]+"],
  ["number", "\\b(?:0[xob][\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d*)?(?:[eE][+-]?\\d+)?j?)\\b"],
  ["keyword", words("and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield match case")],
  ["literal", words("True False None self")],
  ["builtin", words("print len range dict list set tuple str int float bool open isinstance super enumerate zip map filter sorted")],
];

const JAVASCRIPT = [
  ["comment", "//[^\\n]*|/\\*[\\s\\S]*?(?:\\*/|$)"],
  ["string", "\"(?:\\\\.|[^\"\\\\\\n])*\"?|'(?:\\\\.|[^'\\\\\\n])*'?|`(?:\\\\.|[^`\\\\])*`?"],
  ["number", "\\b(?:0[xob][\\da-fA-F_]+|\\d[\\d_]*(?:\\.\\d*)?(?:[eE][+-]?\\d+)?n?)\\b"],
  ["keyword", words("async await break case catch class const continue debugger default delete do else export extends finally for from function if import in instanceof let new of return static super switch this throw try typeof var void while with yield interface type enum implements")],
  ["literal", words("true false null undefined NaN Infinity")],
];

const JSON_RULES = [
  ["property", "\"(?:\\\\.|[^\"\\\\\\n])*\"(?=\\s*:)"],
  ["string", "\"(?:\\\\.|[^\"\\\\\\n])*\"?"],
  ["number", "-?\\b\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?\\b"],
  ["literal", words("true false null")],
];

const SHELL = [
  ["comment", "(?:^|(?<=\\s))#[^\\n]*"],
  ["string", "\"(?:\\\\.|[^\"\\\\])*\"?|'[^']*'?"],
  ["variable", "\\$(?:\\{[^}\\n]*\\}?|\\w+|[@*#?$!0-9-])"],
  ["keyword", words("if then else elif fi for while until do done case esac in function return export local readonly unset source sudo")],
  ["builtin", words("echo cd ls cat grep sed awk curl pip python python3 git docker kubectl helm soma make npm apt apt-get mkdir rm cp mv chmod chown tar ssh")],
  ["number", "\\b\\d+\\b"],
];

const SQL = [
  ["comment", "--[^\\n]*|/\\*[\\s\\S]*?(?:\\*/|$)"],
  ["string", "'(?:''|[^'])*'?"],
  ["property", "\"(?:\"\"|[^\"])*\"?"],
  ["number", "\\b\\d+(?:\\.\\d+)?\\b"],
  [
    "keyword",
    words(
      "select from where and or not insert into values update set delete create table index view drop alter add column primary key foreign references join left right inner outer full on as group by order having limit offset union all distinct case when then else end is null in exists between like ilike returning with begin commit rollback grant revoke default unique constraint cascade asc desc count sum avg min max coalesce",
    ),
  ],
];

const LANGUAGES = new Map([
  ...["python", "py", "python3"].map((name) => [name, PYTHON]),
  ...["javascript", "js", "jsx", "mjs", "typescript", "ts", "tsx"].map((name) => [name, JAVASCRIPT]),
  ...["json", "jsonc", "json5"].map((name) => [name, JSON_RULES]),
  ...["bash", "sh", "shell", "zsh", "console", "shell-session"].map((name) => [name, SHELL]),
  ...["sql", "postgresql", "postgres", "psql", "sqlite"].map((name) => [name, SQL]),
]);

const COMPILED = new Map();

/** One regular expression per language: a named alternative per rule. */
function compiled(rules) {
  if (!COMPILED.has(rules)) {
    const flags = rules === SQL ? "gmi" : "gm";
    COMPILED.set(rules, new RegExp(rules.map(([, source], k) => `(?<t${k}>${source})`).join("|"), flags));
  }
  return COMPILED.get(rules);
}

/** The nodes showing `code` in `language`: Text nodes and <span class="tok-…"> around them. */
export function highlight(code, language) {
  const rules = LANGUAGES.get((language || "").toLowerCase());
  if (!rules) return [document.createTextNode(code)];
  const pattern = compiled(rules);
  const nodes = [];
  let last = 0;
  for (const match of code.matchAll(pattern)) {
    if (match[0] === "") continue;
    const k = Object.keys(match.groups).findIndex((name) => match.groups[name] !== undefined);
    if (match.index > last) nodes.push(document.createTextNode(code.slice(last, match.index)));
    nodes.push(h("span", { class: `tok-${rules[k][0]}` }, match[0]));
    last = match.index + match[0].length;
  }
  if (last < code.length) nodes.push(document.createTextNode(code.slice(last)));
  return nodes;
}

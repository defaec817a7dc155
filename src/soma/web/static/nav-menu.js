// The main navigation on narrow screens: a "Menu" button in the top bar opens it, with the account
// corner (who is logged in, Change password, Log out), as a panel under the bar. Choosing a page,
// Escape (focus back on the button) or a click elsewhere closes it. On wide screens the CSS hides
// the button and lays the links and the account out in the bar, and this does nothing visible.

/** Wire `button` to open and close the panel `nav` (aria-expanded on the button, class "open" on the panel). */
export function wireNavMenu(button, nav) {
  const toggle = (open) => {
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  const isOpen = () => nav.classList.contains("open");
  button.addEventListener("click", () => {
    toggle(!isOpen());
    if (isOpen()) nav.querySelector("a")?.focus();
  });
  nav.addEventListener("click", (event) => {
    if (event.target.closest("a")) toggle(false); // a page was chosen, the open one too
  });
  document.addEventListener("click", (event) => {
    if (isOpen() && !nav.contains(event.target) && !button.contains(event.target)) toggle(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !isOpen()) return;
    event.stopPropagation(); // Esc closes the menu; it does not also stop an answer
    toggle(false);
    button.focus();
  });
}

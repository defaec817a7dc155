// Hash routing: "#/chats", "#/chats/<id>", and later "#/settings", "#/memory", …
//
// A route is {id, pattern, params(match), create(outlet, ctx)} plus, to appear in the main
// nav, a `label` and an `href`. create() returns a page {update(params), destroy()}: the router
// mounts a page when its route is entered, calls update() on every URL change within it (so
// switching chats does not rebuild the page), and destroys it when another route is entered.

import { h } from "./dom.js";

export class Router {
  /**
   * @param {{routes: object[], fallback: string, outlet: HTMLElement, nav: HTMLElement}} options
   *   fallback: the hash unknown URLs are redirected to, e.g. "#/chats"
   */
  constructor({ routes, fallback, outlet, nav }) {
    this.routes = routes;
    this.fallback = fallback;
    this.outlet = outlet;
    this.nav = nav;
    this.current = null; // {route, page}
    this.links = new Map(); // route id → nav <a>
  }

  start() {
    this.renderNav();
    window.addEventListener("hashchange", () => this.resolve());
    this.resolve();
  }

  /** Go to a hash such as "#/chats/<id>" (adds a history entry). */
  navigate(hash) {
    if (location.hash === hash) this.resolve();
    else location.hash = hash;
  }

  resolve() {
    let path;
    try {
      path = decodeURI(location.hash.replace(/^#/, ""));
    } catch {
      path = null; // a malformed escape: treat as unknown
    }
    for (const route of this.routes) {
      const match = path === null ? null : route.pattern.exec(path);
      if (match) {
        this.enter(route, route.params ? route.params(match) : {});
        return;
      }
    }
    location.replace(this.fallback); // unknown URL: no history entry for it
  }

  enter(route, params) {
    if (!this.current || this.current.route !== route) {
      if (this.current) this.current.page.destroy();
      this.outlet.replaceChildren();
      this.outlet.dataset.page = route.id;
      const ctx = { navigate: (hash) => this.navigate(hash) };
      this.current = { route, page: route.create(this.outlet, ctx) };
      this.highlight(route);
    }
    this.current.page.update(params);
  }

  renderNav() {
    const items = this.routes
      .filter((route) => route.label)
      .map((route) => {
        const link = h("a", { href: route.href, dataset: { testid: `nav-${route.id}` } }, route.label);
        this.links.set(route.id, link);
        return h("li", {}, link);
      });
    this.nav.replaceChildren(...items);
  }

  highlight(route) {
    for (const [id, link] of this.links) {
      if (id === route.id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }
}

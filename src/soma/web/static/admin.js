// The Admin page (admins only; the nav leaves it out for members): the people who may log in,
// the API keys scripts use, and the audit log of both. Each part is its own module and card;
// after any change the audit log is read again, so the entry it made shows at once.

import { AuditSection } from "./admin-audit.js";
import { KeysSection } from "./admin-keys.js";
import { UsersSection } from "./admin-users.js";
import { pageFrame } from "./widgets.js";

export function createAdminPage(outlet) {
  return new AdminPage(outlet);
}

class AdminPage {
  constructor(outlet) {
    const { root, body } = pageFrame({
      id: "admin",
      title: "Admin",
      description: "Who may use Soma: people log in with a password, scripts and integrations use API keys. Every change here is written to the audit log.",
    });
    this.audit = new AuditSection();
    const changed = () => this.audit.refresh();
    this.users = new UsersSection({ onChange: changed });
    this.keys = new KeysSection({ onChange: changed });
    body.append(this.users.el, this.keys.el, this.audit.el);
    outlet.append(root);
  }

  // ---- page interface (router.js) ----

  update() {}

  destroy() {
    for (const section of [this.users, this.keys, this.audit]) section.destroy();
  }
}

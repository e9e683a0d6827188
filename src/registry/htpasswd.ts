import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';

/**
 * Users and bcrypt hashes from an htpasswd file (`user:$2y$…` lines, as
 * `htpasswd -B` writes). Other hash schemes are refused when the file is read,
 * so a weak entry can never let anyone in.
 */
export class Htpasswd {
  private readonly users = new Map<string, string>();
  // bcrypt is slow on purpose; clients send the same credentials with every request.
  private readonly verified = new Map<string, Buffer>();

  constructor(text: string, readonly source = 'htpasswd') {
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`${source}:${i + 1}: expected user:hash`);
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (!/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        throw new Error(`${source}:${i + 1}: the entry for ${user} is not a bcrypt hash; create it with htpasswd -B`);
      }
      this.users.set(user, hash);
    });
  }

  static load(path: string): Htpasswd {
    return new Htpasswd(readFileSync(path, 'utf8'), path);
  }

  get size(): number {
    return this.users.size;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash).digest();
    const cached = this.verified.get(user);
    if (cached && timingSafeEqual(cached, key)) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) {
      if (this.verified.size > 1024) this.verified.clear();
      this.verified.set(user, key);
    }
    return ok;
  }
}

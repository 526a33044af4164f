// The controller's URL as the CLI accepts it (from --url, HOSTWARDEN_URL or ctl.yaml): one rule for all three.

export function normalizeUrl(text: string, bad: (message: string) => never): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return bad(`"${text}" is not a URL (e.g. http://127.0.0.1:8640)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') bad(`"${text}" must start with http:// or https://`);
  if (u.search || u.hash) bad(`"${text}" must not have a query or fragment`);
  if (u.username || u.password) bad(`"${text}" must not hold credentials (the token goes in the token file)`);
  return u.href.replace(/\/+$/, '');
}
